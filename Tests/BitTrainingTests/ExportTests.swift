import BitNet
import BitTraining
import Foundation
import TestSupport
import Testing

@Suite struct InferenceAgreementTests {
    /// Training's forward and BitNetModel's forward, built from the same weights, give the same logits.
    @Test(arguments: [Precision.ternary, .binary])
    func trainingForwardMatchesBitNetModel(precision: Precision) throws {
        let model = try Reference.model(precision)
        let inference = try BitNetModel(weights: model.bitNetWeights(maxPositions: 64))
        let tokens = Reference.file.batch[1].dropLast().map(Int.init)
        let mine = model.logits(tokens)
        let theirs = try inference.forward(tokens, cache: inference.makeCache())
        let worst = zip(mine, theirs).map { abs($0 - $1) }.max()!
        #expect(mine.count == theirs.count)
        #expect(worst < 1e-4, "\(precision): logits differ by \(worst)")
        // The residual stream agrees layer by layer too.
        let a = model.hiddenStates(tokens), b = try inference.residualStream(tokens)
        #expect(a.count == b.count)
        for (i, (x, y)) in zip(a, b).enumerated() {
            #expect(zip(x, y).map { abs($0 - $1) }.max()! < 1e-4, "hidden state \(i)")
        }
    }

    @Test func aFloatModelDoesNotExport() throws {
        let model = try Reference.model(.float)
        #expect(throws: TrainingError.self) { try model.bitNetWeights(maxPositions: 8) }
    }

    /// Exported to the Hugging Face layout and GGUF, the trained model loads and gives the same logits.
    @Test func exportedFilesLoadWithTheSameLogits() throws {
        let model = try Reference.model(.ternary)
        let weights = try model.bitNetWeights(maxPositions: 64)
        try withTemporaryDirectory("bktrain-export") { dir in
            let tokenizer = Tokenizer(pieces: Array("abcdefghijk").map { Array(String($0).utf8) })
            try weights.writeHuggingFace(to: dir + "/hf", tokenizer: tokenizer)
            try weights.writeGGUF(to: dir + "/m.gguf", format: .i2_s, tokenizer: tokenizer)
            let tokens = Reference.file.batch[0].dropLast().map(Int.init)
            let mine = model.logits(tokens)
            for path in [dir + "/hf", dir + "/m.gguf"] {
                let loaded = try BitNetModel.load(path: path)
                let theirs = try loaded.forward(tokens, cache: loaded.makeCache())
                #expect(zip(mine, theirs).map { abs($0 - $1) }.max()! < 1e-3, "\(path)")
            }
        }
    }
}
