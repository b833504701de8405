import Foundation
import TestSupport
import Testing

@testable import BitKernels
@testable import BitTraining

let shakespeareVocabulary = Array("\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")

/// The loss a synthetic run reports: falls with width, low-bit above float, a little seed noise.
func syntheticLoss(_ p: RunRecord.Precision, _ width: Int, _ seed: UInt64) -> Double {
    let octaves = log2(Double(width) / 32)
    let offset: Double = p == .float ? 0 : (p == .ternary ? 0.08 + 0.02 * octaves : 0.15)
    return 2.0 - 0.1 * octaves + offset + 0.013 * Double(seed)
}

/// A run record with real instrument output on random states, its hidden states written beside it.
func writeSyntheticRun(into runs: String, precision p: RunRecord.Precision, width: Int, seed: UInt64, layers: Int = 2, positions: Int = 24) throws {
    let name = RunRecord.runName(precision: p, width: width, seed: seed)
    let directory = runs + "/" + name
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    // States: a shared base per (width, seed) plus precision-specific noise, so CKA is < 1 and varies.
    let precisionIndex = UInt64(RunRecord.Precision.allCases.firstIndex(of: p)!)
    var states = [Matrix]()
    for b in 0...layers {
        let base = gaussianMatrix(rows: positions, cols: width, seed: UInt64(width) * 100 + seed * 10 + UInt64(b))
        let noise = gaussianMatrix(rows: positions, cols: width, seed: 7_000 + precisionIndex * 1000 + UInt64(width) + seed * 10 + UInt64(b))
        let scale = 0.3 + 0.4 * Double(precisionIndex)
        states.append(Matrix(rows: positions, cols: width, values: zip(base.values, noise.values).map { $0 + scale * $1 }))
    }
    try writeHiddenStates(states, to: directory + "/hidden.f32")
    let embedding = gaussianMatrix(rows: shakespeareVocabulary.count, cols: width, seed: 500 + seed + precisionIndex * 31 + UInt64(width))
    var frustration = [FrustrationSample]()
    if p != .float {
        var tracker = FrustrationTracker(quantizer: p == .ternary ? .ternary : .binary)
        for step in [0, 50, 100] {
            for layer in 0..<layers {
                for m in ["q", "k", "v", "o", "gate", "up", "down"] {
                    let w = gaussianMatrix(rows: 8, cols: 8, seed: UInt64(step / 50 * 13 + layer * 7 + m.count) + seed).values.map(Float.init)
                    frustration.append(tracker.sample(step: step, layer: layer, matrix: m, latent: w))
                }
            }
        }
    }
    let loss = syntheticLoss(p, width, seed)
    let record = RunRecord(
        precision: p, width: width, heads: max(1, width / 32), layers: layers, context: 64, batch: 12, steps: 100,
        learningRate: p == .float ? 1e-3 : 2e-3, seed: seed, threads: 2, tokensSeen: 100 * 12 * 64, wallSeconds: 12.5,
        trainLoss: [.init(step: 0, loss: 4.2), .init(step: 100, loss: loss - 0.05)],
        validationLoss: [.init(step: 0, loss: 4.2), .init(step: 100, loss: loss)], finalValidationLoss: loss,
        geometry: RunRecord.Geometry(embedding: embedding, hiddenStates: states),
        characters: RunRecord.CharacterStructure(vocabulary: shakespeareVocabulary, embedding: embedding),
        frustration: frustration,
        hiddenStates: .init(path: "hidden.f32", positions: positions, width: width, blocks: layers + 1, sampleOffset: 0))
    try record.write(toDirectory: directory)
}

/// Synthetic runs of float and ternary at widths 32 and 64, seeds 1 and 2, written into `runs`.
func writeSyntheticGrid(into runs: String) throws {
    for p in [RunRecord.Precision.float, .ternary] {
        for w in [32, 64] {
            for s: UInt64 in [1, 2] { try writeSyntheticRun(into: runs, precision: p, width: w, seed: s) }
        }
    }
}

@Suite struct RunRecordTests {
    @Test func recordRoundTripsAndHiddenStatesToo() throws {
        try withTemporaryDirectory("bittraining-record") { runs in
            try writeSyntheticRun(into: runs, precision: .ternary, width: 32, seed: 3)
            let path = runs + "/ternary-w32-s3/record.json"
            let record = try RunRecord.read(from: path)
            #expect(record.runName == "ternary-w32-s3")
            #expect(record.geometry.hiddenStates.count == 3)
            #expect(record.frustration.count == 3 * 2 * 7)
            #expect(record.frustration.filter { $0.flipRate == nil }.count == 14)
            #expect(record.characters.classSets.map(\.name) == ["kinds", "vowels/consonants", "case"])
            #expect(record.characters.casePairs.count == 52)
            // Same bytes when written again; decoding gives an equal record.
            let again = try RunRecord.read(from: path)
            #expect(again == record)
            #expect(again.encoded() == FileManager.default.contents(atPath: path)!)
            let states = try readHiddenStates(record.hiddenStates!, relativeTo: runs + "/ternary-w32-s3")
            #expect(states.count == 3 && states[0].rows == 24 && states[0].cols == 32)
            // float32 storage: the geometry recomputed from the file agrees to float precision.
            #expect(abs(GeometryStats(states[2]).effectiveRank - record.geometry.hiddenStates[2].effectiveRank) < 1e-4)
        }
    }

    @Test func badRecordsAreOneLineErrors() throws {
        try withTemporaryDirectory("bittraining-bad") { runs in
            let path = runs + "/record.json"
            try writeFileAtomically(Data("{\"schema\": 1}".utf8), to: path)
            #expect(throws: ExperimentError.self) { try RunRecord.read(from: path) }
            do throws(ExperimentError) { _ = try RunRecord.read(from: path) } catch {
                #expect(!error.description.contains("\n"))
                #expect(error.description.hasPrefix(path + ": not a run record: missing "))
            }
            #expect(throws: ExperimentError.missing(path: runs + "/none.json")) {
                try RunRecord.read(from: runs + "/none.json")
            }
            // Hidden states of the wrong size.
            try writeFileAtomically(Data([0, 0, 0]), to: runs + "/h.f32")
            #expect(throws: ExperimentError.self) {
                try readHiddenStates(.init(path: "h.f32", positions: 1, width: 1, blocks: 1, sampleOffset: 0), relativeTo: runs)
            }
            #expect(throws: ExperimentError.missing(path: runs + "/nowhere")) {
                try writeWidthBitsReport(runsDirectory: runs + "/nowhere", outputDirectory: runs + "/out")
            }
            // An empty runs directory has nothing to report.
            #expect(throws: ExperimentError.self) { try writeWidthBitsReport(runsDirectory: runs, outputDirectory: runs + "/out") }
        }
    }
}

@Suite struct ReportTests {
    @Test func reportIsWrittenDeterministicAndRight() throws {
        try withTemporaryDirectory("bittraining-report") { dir in
            let runs = dir + "/runs", outA = dir + "/reportA", outB = dir + "/reportB"
            try writeSyntheticGrid(into: runs)
            let written = try writeWidthBitsReport(runsDirectory: runs, outputDirectory: outA)
            try writeWidthBitsReport(runsDirectory: runs, outputDirectory: outB)
            // To look at the synthetic report: WIDTH_BITS_SAMPLE_REPORT=/tmp/dir swift test --filter reportIsWritten
            if let keep = ProcessInfo.processInfo.environment["WIDTH_BITS_SAMPLE_REPORT"] {
                try writeWidthBitsReport(runsDirectory: runs, outputDirectory: keep)
            }
            let names = written.map { ($0 as NSString).lastPathComponent }
            for expected in ["REPORT.md", "loss-vs-width.svg", "gap-vs-width.svg", "erank-vs-width.svg", "isotropy-vs-width.svg",
                             "cka-matrices.svg", "cka-seeds-vs-width.svg", "flip-rate-ternary.svg", "near-threshold-ternary.svg", "zero-share-ternary.svg", "val-loss-float.svg", "val-loss-ternary.svg"] {
                #expect(names.contains(expected), "missing \(expected)")
            }
            for name in names {
                let a = FileManager.default.contents(atPath: outA + "/" + name)!
                let b = FileManager.default.contents(atPath: outB + "/" + name)!
                #expect(a == b, "\(name) differs between two runs of the generator")
                if name.hasSuffix(".svg") { #expect(String(decoding: a, as: UTF8.self).hasPrefix("<svg ")) }
            }
            let report = String(decoding: FileManager.default.contents(atPath: outA + "/REPORT.md")!, as: UTF8.self)
            // The loss table: width 32, float = mean ± sd over seeds 1 and 2.
            let f = MeanSD([syntheticLoss(.float, 32, 1), syntheticLoss(.float, 32, 2)])
            let t = MeanSD([syntheticLoss(.ternary, 32, 1), syntheticLoss(.ternary, 32, 2)])
            #expect(f.formatted(3) == "2.019 ± 0.009 (n=2)")  // 2.0195 in binary is just below
            #expect(report.contains("| 32 | \(f.formatted(3)) | \(t.formatted(3)) |"))
            // The gap, paired by seed: ternary − float at width 64 is 0.08 + 0.02 for both seeds.
            #expect(report.contains("| 64 | 0.100 ± 0.000 (n=2) |"))
            #expect(report.contains("grows from 0.080 ± 0.000 (n=2) at width 32 to 0.100 ± 0.000 (n=2) at width 64"))
            for section in ["## 1. Validation loss vs width", "## 4. Similarity of solutions: linear CKA", "## 5. Frustration during training",
                            "## Findings", "## What the data cannot tell"] {
                #expect(report.contains(section), "missing \(section)")
            }
            #expect(report.range(of: "\\bnan\\b", options: .regularExpression) == nil)
            #expect(!report.contains("## Notes"))
        }
    }

    @Test func ckaCellsMatchTheInstrument() throws {
        try withTemporaryDirectory("bittraining-cka") { dir in
            let runs = dir + "/runs", out = dir + "/reportCKA"
            try writeSyntheticGrid(into: runs)
            try writeWidthBitsReport(runsDirectory: runs, outputDirectory: out)
            let report = String(decoding: FileManager.default.contents(atPath: out + "/REPORT.md")!, as: UTF8.self)
            // float vs ternary at width 32, last block, seeds 1 and 2.
            var values = [Double]()
            for s in ["s1", "s2"] {
                let a = try RunRecord.read(from: runs + "/float-w32-\(s)/record.json")
                let b = try RunRecord.read(from: runs + "/ternary-w32-\(s)/record.json")
                let ha = try readHiddenStates(a.hiddenStates!, relativeTo: runs + "/float-w32-\(s)")
                let hb = try readHiddenStates(b.hiddenStates!, relativeTo: runs + "/ternary-w32-\(s)")
                values.append(linearCKA(ha.last!, hb.last!))
            }
            let expected = MeanSD(values).formatted(3)
            #expect(report.contains("| float | 1.000 ± 0.000 (n=1) | \(expected) |") == false)  // seeds differ: float-float is not 1
            #expect(report.contains("| ternary | \(expected) | "), "CKA cell \(expected) not found")
        }
    }
}

@Suite struct ChartTests {
    @Test func niceTicksAndFormatting() {
        #expect(niceTicks(0, 1) == [0, 0.2, 0.4, 0.6000000000000001, 0.8, 1] || niceTicks(0, 1).count == 6)
        #expect(niceTicks(1.83, 2.27).first! >= 1.83 && niceTicks(1.83, 2.27).last! <= 2.27)
        #expect(fmt(-0.0001, 3) == "0.000")
        #expect(fmt(-0.01, 3) == "-0.010")
        #expect(MeanSD([1, 2, 3]).formatted(2) == "2.00 ± 1.00 (n=3)")
        #expect(MeanSD([5]).formatted(1) == "5.0 (n=1)")
        #expect(MeanSD([0.00107]).formattedG() == "0.00107 (n=1)")
        #expect(MeanSD([0.002, 0.0022]).formattedG() == "0.0021 ± 0.000141 (n=2)")
        #expect(MeanSD([]).formatted(1) == "—")
    }
}

@Suite struct ReportEdgeTests {
    @Test func oneRunAloneStillReports() throws {
        try withTemporaryDirectory("bittraining-single") { runs in
            try writeSyntheticRun(into: runs, precision: .binary, width: 64, seed: 5)
            try writeWidthBitsReport(runsDirectory: runs, outputDirectory: runs + "/out")
            let report = String(decoding: FileManager.default.contents(atPath: runs + "/out/REPORT.md")!, as: UTF8.self)
            #expect(report.contains("Not measurable: the runs need float and at least one low-bit precision."))
            #expect(report.contains("| 64 | 2.115 (n=1) |"))  // 2 − 0.1 + 0.15 + 0.013 · 5
            #expect(report.contains("No seed-vs-seed CKA could be computed"))
        }
    }

    @Test func missingHiddenStatesBecomeANote() throws {
        try withTemporaryDirectory("bittraining-nohidden") { runs in
            for p in [RunRecord.Precision.float, .ternary] { try writeSyntheticRun(into: runs, precision: p, width: 32, seed: 1) }
            try FileManager.default.removeItem(atPath: runs + "/ternary-w32-s1/hidden.f32")
            try writeWidthBitsReport(runsDirectory: runs, outputDirectory: runs + "/out")
            let report = String(decoding: FileManager.default.contents(atPath: runs + "/out/REPORT.md")!, as: UTF8.self)
            #expect(report.contains("## Notes\n\n- Hidden states of ternary-w32-s1 left out: \(runs)/ternary-w32-s1/hidden.f32: "))
        }
    }

    @Test func aDuplicateRunIsAnError() throws {
        try withTemporaryDirectory("bittraining-dup") { runs in
            try writeSyntheticRun(into: runs, precision: .float, width: 32, seed: 1)
            try FileManager.default.copyItem(atPath: runs + "/float-w32-s1", toPath: runs + "/copy")
            #expect(throws: ExperimentError.badData(path: runs + "/float-w32-s1/record.json", reason: "run float-w32-s1 already recorded in \(runs)/copy/record.json")) {
                try writeWidthBitsReport(runsDirectory: runs, outputDirectory: runs + "/out")
            }
        }
    }
}
