import Foundation
import TestSupport
import Testing

@testable import BitTraining

/// A small character corpus: enough for train and validation windows of 8.
func tinyCorpus() -> TextData {
    let text = Array("First Citizen:\nBefore we proceed any further, hear me speak.\nAll:\nSpeak, speak.\n")
    let alphabet = Array(Set(text)).sorted()
    let ids = (0..<6).flatMap { _ in text.map { Int32(alphabet.firstIndex(of: $0)!) } }
    return TextData(tokens: ids, pieces: alphabet.map { Array(String($0).utf8) }, trainCount: ids.count * 9 / 10)
}

func tinyGrid() -> WidthBitsGrid {
    var grid = WidthBitsGrid(learningRates: [.float: 3e-3, .ternary: 5e-3])
    grid.precisions = [.float, .ternary]
    grid.widths = [32]
    grid.seeds = [1]
    grid.layers = 1
    grid.context = 8
    grid.batch = 2
    grid.steps = 4
    grid.evalEvery = 2
    grid.evalBatches = 2
    grid.frustrationEvery = 1
    grid.hiddenPositions = 16
    return grid
}

@Suite(.serialized) struct WidthBitsTrainingTests {
    @Test func gridTrainsMeasuresAndCleansUp() throws {
        try withTemporaryDirectory("bittraining-train-grid") { directory in
            var lines = [String]()
            try tinyGrid().run(in: directory, data: tinyCorpus(), threads: 1, progress: { lines.append($0) })
            let record = try RunRecord.read(from: directory + "/ternary-w32-s1/record.json")
            #expect(record.steps == 4 && record.tokensSeen == 4 * 2 * 8 && record.layers == 1)
            #expect(record.validationLoss.map(\.step) == [2, 4])
            #expect(record.finalValidationLoss == record.validationLoss.last!.loss)
            // 5 samples (steps 0…4) × 7 matrices; flips counted at every step after the first sample.
            #expect(record.frustration.count == 5 * 7)
            #expect(record.frustration.filter { $0.step > 0 }.allSatisfy { $0.flipsCountedEveryStep == true && $0.flipRate != nil })
            #expect(record.frustration.filter { $0.step == 0 }.allSatisfy { $0.flipRate == nil })
            #expect(record.geometry.hiddenStates.count == 2 && record.hiddenStates?.positions == 16)
            #expect(try RunRecord.read(from: directory + "/float-w32-s1/record.json").frustration.isEmpty)
            #expect(!FileManager.default.fileExists(atPath: directory + "/ternary-w32-s1/checkpoints"))
            #expect(lines.contains { $0.contains("ternary-w32-s1: step 4/4") })
        }
    }

    @Test func aStoppedRunResumesToTheSameRecord() throws {
        let grid = tinyGrid()
        let spec = grid.runs.first { $0.precision == .ternary }!
        try withTemporaryDirectory("bittraining-resume-a") { a in
            try withTemporaryDirectory("bittraining-resume-b") { b in
                let whole = try grid.train(spec, data: tinyCorpus(), threads: 1, checkpoints: a, progress: { _ in })
                #expect(throws: CancellationError.self) {
                    try grid.train(spec, data: tinyCorpus(), threads: 1, checkpoints: b, stopAfter: 2, progress: { _ in })
                }
                var resumedLines = [String]()
                let resumed = try grid.train(spec, data: tinyCorpus(), threads: 1, checkpoints: b, progress: { resumedLines.append($0) })
                #expect(resumedLines.first == "  ternary-w32-s1: resumed at step 2")
                #expect(resumed.finalValidationLoss == whole.finalValidationLoss)
                #expect(resumed.validationLoss == whole.validationLoss)
                #expect(resumed.frustration == whole.frustration)
            }
            }
    }

    @Test func aByteVocabularyIsRefused() throws {
        let data = TextData(tokens: [0, 1, 2], pieces: [[0x66, 0x6f], [0x6f], [0x20]], trainCount: 2)
        #expect(throws: ExperimentError.self) { try WidthBitsGrid.characters(of: data) }
        #expect(try WidthBitsGrid.characters(of: tinyCorpus()).count == Set("First Citizen:\nBefore we proceed any further, hear me speak.\nAll:\nSpeak, speak.\n").count)
    }
}

@Suite(.serialized) struct SweepTests {
    @Test func sweepRunsResumesAndReports() throws {
        try withTemporaryDirectory("bittraining-sweep") { directory in
            let grid = tinyGrid()
            var lines = [String]()
            let points = try grid.sweepLearningRates([1e-3, 5e-3], width: 32, steps: 4, in: directory, data: tinyCorpus(), threads: 1, progress: { lines.append($0) })
            #expect(points.count == 4)
            #expect(points.map(\.name) == ["float-w32-s1-lr0.001", "float-w32-s1-lr0.005", "ternary-w32-s1-lr0.001", "ternary-w32-s1-lr0.005"])
            #expect(lines.filter { $0.hasPrefix("sweep ") }.count == 4)
            let best = SweepPoint.best(points)
            for p in [RunRecord.Precision.float, .ternary] {
                let mine = points.filter { $0.precision == p }
                #expect(best[p] == mine.min { $0.finalValidationLoss < $1.finalValidationLoss }!.learningRate)
            }
            // A second sweep trains nothing; the points are read back.
            lines = []
            #expect(try grid.sweepLearningRates([1e-3, 5e-3], width: 32, steps: 4, in: directory, data: tinyCorpus(), threads: 1, progress: { lines.append($0) }) == points)
            #expect(lines.isEmpty)
            #expect(!FileManager.default.fileExists(atPath: directory + "/sweep/float-w32-s1-lr0.001-checkpoints"))
            // The report shows the sweep beside a run.
            try grid.run(in: directory, data: tinyCorpus(), threads: 1, progress: { _ in })
            try writeWidthBitsReport(runsDirectory: directory, outputDirectory: directory + "/out")
            let report = String(decoding: FileManager.default.contents(atPath: directory + "/out/REPORT.md")!, as: UTF8.self)
            #expect(report.contains("## Learning-rate sweep"))
            #expect(report.contains("| 0.001 | "))
        }
    }

    @Test func bestIgnoresDivergedPoints() {
        let p = { (lr: Double, loss: Double) in SweepPoint(precision: .binary, width: 128, seed: 1, steps: 10, learningRate: lr, finalValidationLoss: loss) }
        #expect(SweepPoint.best([p(1e-3, 2.0), p(2e-3, 1.9), p(4e-3, .infinity)]) == [.binary: 2e-3])
        #expect(SweepPoint.best([p(4e-3, .infinity)]).isEmpty)
    }
}

@Suite struct InstrumentAgreesWithTrainerTests {
    @Test(arguments: [Precision.ternary, .binary])
    func frustrationMatchesTheTrainersStatistics(precision: Precision) throws {
        let configuration = try ModelConfiguration(vocabularySize: 20, width: 64, layers: 2, heads: 2, precision: precision)
        let model = TrainableModel(configuration: configuration, seed: 3)
        let theirs = model.quantizationStatistics()
        let mine = model.latentMatrices.map {
            FrustrationStats.measure($0.values, quantizer: precision == .ternary ? .ternary : .binary).stats
        }
        #expect(theirs.count == mine.count && mine.count == 2 * 7)
        #expect(theirs.map(\.matrix) == model.latentMatrices.map(\.matrix))
        for (t, m) in zip(theirs, mine) {
            #expect(abs(t.minusShare - m.shareNegative) < 1e-12 && abs(t.zeroShare - m.shareZero) < 1e-12 && abs(t.plusShare - m.sharePositive) < 1e-12)
            #expect(abs(t.nearThresholdShare - m.nearThresholdShare) < 1e-3, "\(t.matrix): \(t.nearThresholdShare) vs \(m.nearThresholdShare)")
            #expect(abs(t.relativeQuantizationError - m.relativeError) < 1e-5)
        }
    }
}
