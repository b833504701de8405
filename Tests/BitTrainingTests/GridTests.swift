import Foundation
import TestSupport
import Testing

@testable import BitKernels
@testable import BitTraining

/// A stand-in for a trained model: a random embedding table, and a residual stream that is the
/// embedding of each token passed through fixed random mixings, one per block.
struct FakeModel: InstrumentedModel {
    var instrumentedWidth: Int
    var layers: Int
    var embeddingTable: [Float]
    var mixings: [Matrix]
    var latentMatrices: [(layer: Int, matrix: String, values: [Float])]

    init(width: Int, layers: Int, vocabulary: Int, seed: UInt64) {
        instrumentedWidth = width
        self.layers = layers
        embeddingTable = gaussianMatrix(rows: vocabulary, cols: width, seed: seed).values.map(Float.init)
        mixings = (0..<layers).map { gaussianMatrix(rows: width, cols: width, seed: seed * 100 + UInt64($0)) }
        latentMatrices = (0..<layers).flatMap { l in
            ["q", "k", "v", "o", "gate", "up", "down"].map { m in
                (l, m, gaussianMatrix(rows: 4, cols: width, seed: seed &* 31 &+ UInt64(l * 7 + m.count)).values.map(Float.init))
            }
        }
    }

    func residualStream(_ tokens: [Int]) -> [[Float]] {
        var x = Matrix(rows: tokens.count, cols: instrumentedWidth, values: tokens.flatMap { t in
            embeddingTable[(t * instrumentedWidth)..<((t + 1) * instrumentedWidth)].map(Double.init)
        })
        var out = [x.values.map(Float.init)]
        for m in mixings {
            x = multiply(x, m)
            let scale = 1 / Double(instrumentedWidth).squareRoot()
            x.values = x.values.map { tanh($0 * scale) }
            out.append(x.values.map(Float.init))
        }
        return out
    }
}

@Suite struct GridTests {
    @Test func validationSampleIsFixedAndSpread() {
        let tokens = Array(0..<1000)
        let s = ValidationSample(validationTokens: tokens, context: 64, positions: 256)
        #expect(s.starts == [0, 312, 624, 936])
        #expect(s.positions == 256)
        #expect(s.windows[3].last == 999)
        #expect(ValidationSample(validationTokens: tokens, context: 64, positions: 64).starts == [0])
    }

    @Test func gridRunsResumesAndReports() throws {
        try withTemporaryDirectory("bittraining-grid") { directory in
            var grid = WidthBitsGrid(learningRates: [.float: 1e-3, .ternary: 2e-3])
            grid.precisions = [.float, .ternary]
            grid.widths = [32, 64]
            grid.seeds = [1, 2]
            grid.layers = 2
            grid.context = 8
            grid.steps = 10
            grid.hiddenPositions = 32
            #expect(grid.runs.map(\.name).prefix(3) == ["float-w32-s1", "ternary-w32-s1", "float-w32-s2"])
            #expect(grid.runs.map(\.heads) == [1, 1, 1, 1, 2, 2, 2, 2])
            var fewer = grid
            fewer.wideSeeds = [1]
            fewer.wideFrom = 64
            #expect(fewer.runs.map(\.name) == ["float-w32-s1", "ternary-w32-s1", "float-w32-s2", "ternary-w32-s2", "float-w64-s1", "ternary-w64-s1"])
            let validation = (0..<400).map { ($0 * 7) % shakespeareVocabulary.count }
            var trained = [String]()
            var lines = [String]()
            let train = { (run: WidthBitsRun, checkpoints: String) -> TrainedRun<FakeModel> in
                trained.append(run.name)
                let model = FakeModel(width: run.width, layers: 2, vocabulary: shakespeareVocabulary.count, seed: run.seed)
                var recorder = FrustrationRecorder(precision: run.precision)
                recorder.sample(step: 0, model: model)
                recorder.sample(step: 10, model: model)
                let loss = syntheticLoss(run.precision, run.width, run.seed)
                return TrainedRun(
                    model: model, steps: 10, threads: 1, tokensSeen: 10 * 12 * 8, wallSeconds: 1, trainLoss: [.init(step: 10, loss: loss)],
                    validationLoss: [.init(step: 10, loss: loss)], finalValidationLoss: loss, frustration: recorder.samples)
            }
            try grid.run(in: directory, vocabulary: shakespeareVocabulary, validationTokens: validation, progress: { lines.append($0) }, train: train)
            #expect(trained.count == 8)
            #expect(lines.first == "width-bits: 8 runs, 0 done, 8 to run")
            #expect(grid.pending(in: directory).isEmpty)
            let record = try RunRecord.read(from: directory + "/ternary-w64-s2/record.json")
            #expect(record.heads == 2 && record.hiddenStates?.positions == 32 && record.frustration.count == 2 * 2 * 7)
            #expect(record.frustration.filter { $0.step == 10 }.allSatisfy { $0.flipRate == 0 })
            // Resume: nothing to do; then one record removed → only that run again.
            trained = []
            try grid.run(in: directory, vocabulary: shakespeareVocabulary, validationTokens: validation, progress: { _ in }, train: train)
            #expect(trained.isEmpty)
            try FileManager.default.removeItem(atPath: directory + "/float-w64-s1/record.json")
            try grid.run(in: directory, vocabulary: shakespeareVocabulary, validationTokens: validation, progress: { _ in }, train: train)
            #expect(trained == ["float-w64-s1"])
            // The same directory with another learning rate: refused, naming the run, nothing trained.
            var retuned = grid
            retuned.learningRates[.ternary] = 4e-3
            #expect(try retuned.conflictingRecords(in: directory).first == "ternary-w32-s1: lr 0.002 (grid: 0.004)")
            trained = []
            #expect(throws: ExperimentError.self) {
                try retuned.run(in: directory, vocabulary: shakespeareVocabulary, validationTokens: validation, progress: { _ in }, train: train)
            }
            #expect(trained.isEmpty)
            #expect(try grid.conflictingRecords(in: directory).isEmpty)
            // Same seed, same fake model for float and ternary: CKA between them is exactly 1.
            let out = directory + "/report"
            try writeWidthBitsReport(runsDirectory: directory, outputDirectory: out)
            let report = String(decoding: FileManager.default.contents(atPath: out + "/REPORT.md")!, as: UTF8.self)
            #expect(report.contains("| float | 1.000 ± 0.000 (n=2) | 1.000 ± 0.000 (n=2) |") == false)  // diagonal is seed vs seed
            #expect(report.contains("| ternary | 1.000 ± 0.000 (n=2) |"))
        }
    }
}
