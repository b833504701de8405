import BitKernels
import BitNet

extension TrainableModel {
    /// The model as inference runs it, under Hugging Face names: the packed ternary (or ±1 binary)
    /// matrices the forward pass uses, float embedding, norms and untied head. `BitNetModel(weights:)`
    /// gives the same logits; `writeHuggingFace` / `writeGGUF` export it. A `.float` model has no
    /// ternary weights and throws.
    ///
    /// ```swift
    /// let model = try BitNetModel(weights: trainer.model.bitNetWeights(maxPositions: 64))
    /// ```
    public func bitNetWeights(maxPositions: Int) throws(TrainingError) -> BitNetWeights {
        guard configuration.precision != .float else {
            throw .invalid("a float model has no ternary weights to export; train with --precision ternary or binary")
        }
        var tensors: [String: BitNetTensor] = [:]
        for (i, l) in layout.enumerated() {
            if let m = packed[i] {
                tensors[l.name] = .ternary(m)
            } else {
                tensors[l.name] = .float(shape: l.shape, values: weights[i].array)
            }
        }
        return BitNetWeights(config: configuration.bitNetConfig(maxPositions: maxPositions), tensors: tensors)
    }
}
