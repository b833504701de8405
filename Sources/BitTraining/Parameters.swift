import BitKernels
import Foundation

/// One trainable tensor: its Hugging Face name, shape and latent (full-precision) values.
///
/// ```swift
/// let p = model.parameters[0]   // model.embed_tokens.weight, [vocabulary, width]
/// ```
public struct Parameter: Sendable, Equatable {
    /// What the tensor is; decides weight decay and quantization.
    public enum Kind: String, Sendable, Codable { case embedding, norm, linear, head }
    /// The Hugging Face name (`model.layers.0.self_attn.q_proj.weight`).
    public var name: String
    /// The tensor's shape, outermost first.
    public var shape: [Int]
    /// What the tensor is.
    public var kind: Kind
    /// The latent values, row-major.
    public var values: [Float]

    /// BitLinear weights are quantized in the forward pass (unless the precision is `.float`).
    public var isLinear: Bool { kind == .linear }
    /// AdamW's decoupled decay applies to matrices (BitLinear and an untied head), not to norms or
    /// the embedding.
    public var decays: Bool { kind == .linear || kind == .head }
}

/// Where each layer's tensors sit in `parameters`: the embedding, 11 per layer, the final norm and
/// (untied) the head.
enum Slot: Int, CaseIterable {
    case inputNorm, q, k, v, attentionSubNorm, o, postAttentionNorm, gate, up, ffnSubNorm, down

    var huggingFaceSuffix: String {
        switch self {
        case .inputNorm: "input_layernorm.weight"
        case .q: "self_attn.q_proj.weight"
        case .k: "self_attn.k_proj.weight"
        case .v: "self_attn.v_proj.weight"
        case .attentionSubNorm: "self_attn.attn_sub_norm.weight"
        case .o: "self_attn.o_proj.weight"
        case .postAttentionNorm: "post_attention_layernorm.weight"
        case .gate: "mlp.gate_proj.weight"
        case .up: "mlp.up_proj.weight"
        case .ffnSubNorm: "mlp.ffn_sub_norm.weight"
        case .down: "mlp.down_proj.weight"
        }
    }

    /// The matrix type name used in statistics (q, k, v, o, gate, up, down); nil for norms.
    var matrixName: String? {
        switch self {
        case .q: "q"
        case .k: "k"
        case .v: "v"
        case .o: "o"
        case .gate: "gate"
        case .up: "up"
        case .down: "down"
        default: nil
        }
    }
}

extension ModelConfiguration {
    func index(layer: Int, _ slot: Slot) -> Int { 1 + layer * Slot.allCases.count + slot.rawValue }
    var finalNormIndex: Int { 1 + layers * Slot.allCases.count }
    /// The head's index (the embedding's, 0, when tied).
    var headIndex: Int { tiedHead ? 0 : finalNormIndex + 1 }

    /// Names, shapes and kinds of every parameter, in order.
    func parameterLayout() -> [(name: String, shape: [Int], kind: Parameter.Kind)] {
        let h = width, f = mlpHidden, qw = heads * headDimension, kw = kvHeads * headDimension
        var out: [(String, [Int], Parameter.Kind)] = [("model.embed_tokens.weight", [vocabularySize, h], .embedding)]
        for l in 0..<layers {
            for s in Slot.allCases {
                let shape: [Int]
                switch s {
                case .inputNorm, .attentionSubNorm, .postAttentionNorm: shape = [h]
                case .ffnSubNorm: shape = [f]
                case .q: shape = [qw, h]
                case .k, .v: shape = [kw, h]
                case .o: shape = [h, qw]
                case .gate, .up: shape = [f, h]
                case .down: shape = [h, f]
                }
                out.append(("model.layers.\(l)." + s.huggingFaceSuffix, shape, s.matrixName == nil ? .norm : .linear))
            }
        }
        out.append(("model.norm.weight", [h], .norm))
        if !tiedHead { out.append(("lm_head.weight", [vocabularySize, h], .head)) }
        return out
    }
}

/// Normal samples from SplitMix64 (Box–Muller on two 53-bit uniforms).
struct NormalSampler {
    var generator: SplitMix64
    var spare: Double?

    mutating func next() -> Double {
        if let s = spare { spare = nil; return s }
        let u1 = Double(generator.next() >> 11 | 1) / Double(1 << 53), u2 = Double(generator.next() >> 11) / Double(1 << 53)
        let r = (-2 * Foundation.log(u1)).squareRoot(), a = 2 * Double.pi * u2
        spare = r * Foundation.sin(a)
        return r * Foundation.cos(a)
    }
}
