import BitKernels
import BitTraining
import Foundation
import TestSupport
import Testing

/// A few kilobytes of text with a small alphabet.
let sampleText = String(repeating: "the cat sat on the mat; the rat ate the cat's hat. ", count: 60)

func tinyTrainer(steps: Int = 20, precision: Precision = .ternary, width: Int = 16, seed: UInt64 = 3) throws -> Trainer {
    let data = try withTemporaryDirectory("bktrain-text") { dir in
        let path = dir + "/text.txt"
        try sampleText.write(toFile: path, atomically: true, encoding: .utf8)
        return try TextData(path: path, tokenizer: "chars", context: 8)
    }
    let config = try ModelConfiguration(vocabularySize: data.vocabularySize, width: width, layers: 2, heads: 2, kvHeads: 1, precision: precision)
    let settings = TrainingSettings(steps: steps, batch: 3, context: 8, schedule: Schedule(peak: 1e-2, minimum: 1e-3, warmup: 2, steps: steps),
                                    seed: seed, evalEvery: 5, evalBatches: 4)
    return try Trainer(configuration: config, data: data, settings: settings, threads: 1)
}

@Suite struct TrainerTests {
    /// `parameterCount` is the model's own count; the memory estimate grows with what it counts.
    @Test func parameterCountAndTrainingBytes() throws {
        for (tied, kv) in [(false, nil), (true, 2)] as [(Bool, Int?)] {
            let c = try ModelConfiguration(vocabularySize: 65, width: 32, layers: 2, heads: 4, kvHeads: kv, tiedHead: tied)
            let m = TrainableModel(configuration: c, seed: 1, threads: 1)
            #expect(c.parameterCount == m.parameters.reduce(0) { $0 + $1.values.count }, "tied \(tied) kv \(String(describing: kv))")
            let one = c.trainingBytes(batch: 12, context: 64, threads: 1)
            #expect(one > 21 * Double(c.parameterCount))
            #expect(c.trainingBytes(batch: 12, context: 64, threads: 4) > one && c.trainingBytes(batch: 24, context: 64, threads: 1) > one)
            #expect(c.trainingBytes(batch: 2, context: 64, threads: 8) == c.trainingBytes(batch: 2, context: 64, threads: 2))  // workers ≤ sequences
        }
    }

    @Test func charsAreSortedUniqueCharactersSplit90To10() throws {
        try withTemporaryDirectory("bktrain-chars") { dir in
            let path = dir + "/chars.txt"
            try "banana band".write(toFile: path, atomically: true, encoding: .utf8)
            let data = try TextData(path: path, tokenizer: "chars", validationFraction: 0.3, context: 2)
            #expect(data.pieces.map { String(decoding: $0, as: UTF8.self) } == [" ", "a", "b", "d", "n"])
            #expect(data.tokens == [2, 1, 4, 1, 4, 1, 0, 2, 1, 4, 3])
            #expect(data.trainCount == 7)
            let long = dir + "/long.txt"
            try sampleText.write(toFile: long, atomically: true, encoding: .utf8)
            #expect(try TextData(path: long, context: 8).trainCount == sampleText.unicodeScalars.count * 9 / 10)
            #expect(data.decode(data.tokens.map(Int.init)) == "banana band")
            let bytes = try TextData(path: path, tokenizer: "bytes", validationFraction: 0.5, context: 2)
            #expect(bytes.vocabularySize == 256 && bytes.tokens.first == 98)
        }
    }

    @Test func badDataIsACleanError() throws {
        try withTemporaryDirectory("bktrain-bad") { dir in
            let empty = dir + "/empty.txt", tiny = dir + "/tiny.txt"
            try "".write(toFile: empty, atomically: true, encoding: .utf8)
            try "abcabcabc".write(toFile: tiny, atomically: true, encoding: .utf8)
            #expect(throws: TrainingError.badFile(path: empty, reason: "the file is empty")) { try TextData(path: empty, context: 4) }
            #expect(throws: TrainingError.self) { try TextData(path: tiny, context: 64) }  // context longer than the data
            #expect(throws: TrainingError.badFile(path: "/nonexistent/x", reason: "no such file")) { try TextData(path: "/nonexistent/x", context: 4) }
            // A FIFO (nobody writing) or a directory is an error at once, not a hang.
            let fifo = dir + "/fifo"
            #expect(mkfifo(fifo, 0o600) == 0)
            #expect(throws: TrainingError.badFile(path: fifo, reason: "not a regular file (a FIFO)")) { try TextData(path: fifo, context: 4) }
            #expect(throws: TrainingError.badFile(path: dir, reason: "not a regular file (a directory)")) { try TextData(path: dir, context: 4) }
            let trainer = try tinyTrainer()
            #expect(throws: TrainingError.badFile(path: fifo, reason: "cannot read the checkpoint: not a regular file (a FIFO)")) {
                try trainer.loadCheckpoint(from: fifo)
            }
            #expect(throws: TrainingError.invalid("width 100 is not divisible by heads 3")) {
                try ModelConfiguration(vocabularySize: 10, width: 100, layers: 1, heads: 3)
            }
            #expect(throws: TrainingError.self) { try tinyTrainer(steps: 0) }
        }
    }

    @Test func lossFallsAndStatisticsAreReported() throws {
        let t = try tinyTrainer(steps: 30)
        var seen: [[MatrixStatistics]] = []
        t.observer = { _, s in seen.append(s) }
        let first = t.validationLoss()
        while t.step < 30 { t.trainStep() }
        let e = t.evaluate()
        #expect(e.validationLoss < first - 0.5, "validation loss \(first) → \(e.validationLoss)")
        #expect(seen.count == 30)
        let last = try #require(seen.last)
        #expect(last.count == 2 * 7)
        for s in last {
            #expect(abs(s.minusShare + s.zeroShare + s.plusShare - 1) < 1e-9)
            #expect(s.relativeQuantizationError > 0 && s.relativeQuantizationError < 1)
        }
        #expect(seen.dropFirst().contains { $0.contains { $0.flips > 0 } }, "no code ever flipped")
        #expect(t.evaluationLogJSON().count > 100)
        #expect(t.lossCurveSVG().contains("<polyline"))
    }

    /// A run stopped at step 10 and resumed from its checkpoint ends exactly where an uninterrupted run does.
    @Test(arguments: [Precision.ternary, .float])
    func resumedRunMatchesUninterrupted(precision: Precision) throws {
        let whole = try tinyTrainer(precision: precision)
        while whole.step < 20 { whole.trainStep() }
        let first = try tinyTrainer(precision: precision)
        while first.step < 10 { first.trainStep() }
        try withTemporaryDirectory("bktrain-ckpt") { dir in
            let path = dir + "/checkpoint.bkt"
            try first.saveCheckpoint(to: path)
            let resumed = try tinyTrainer(precision: precision)
            try resumed.loadCheckpoint(from: path)
            #expect(resumed.step == 10)
            var lastLoss: Float = 0
            while resumed.step < 20 { lastLoss = resumed.trainStep() }
            #expect(resumed.model.parameters == whole.model.parameters)
            #expect(resumed.validationLoss() == whole.validationLoss(), "last train loss \(lastLoss)")
        }
    }

    /// The checkpoint of a 20-step tiny run after one step, saved in a temporary directory.
    func withOneStepCheckpoint(_ body: (_ path: String) throws -> Void) throws {
        let a = try tinyTrainer(steps: 20)
        a.trainStep()
        try withTemporaryDirectory("bktrain-ckpt") { dir in
            let path = dir + "/checkpoint.bkt"
            try a.saveCheckpoint(to: path)
            try body(path)
        }
    }

    @Test func checkpointFromAnotherConfigurationOrCorruptIsRejected() throws {
        try withOneStepCheckpoint { path in
            let wider = try tinyTrainer(steps: 20, width: 32)
            #expect(throws: TrainingError.self) { try wider.loadCheckpoint(from: path) }
            let otherSeed = try tinyTrainer(steps: 20, seed: 4)
            #expect(throws: TrainingError.self) { try otherSeed.loadCheckpoint(from: path) }
            var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            bytes[bytes.count / 2] ^= 0x40
            try bytes.write(to: URL(fileURLWithPath: path))
            let same = try tinyTrainer(steps: 20)
            #expect(throws: TrainingError.badFile(path: path, reason: "checksum mismatch (truncated or corrupted)")) { try same.loadCheckpoint(from: path) }
        }
    }

    /// A file whose checksum is right but whose header lies (written by hand, or by a buggy tool):
    /// a clean error naming what is wrong, never a trap.
    @Test func checkpointWithValidChecksumButImpossibleHeaderIsRejected() throws {
        try withOneStepCheckpoint { path in
            let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            let length = Int(original[8..<16].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
            let header = try JSONSerialization.jsonObject(with: Data(original[16..<(16 + length)])) as! [String: Any]
            /// The file with `body` (magic, length, header, payload) and its FNV-1a 64 checksum.
            func write(_ body: [UInt8]) throws {
                var h: UInt64 = 0xcbf2_9ce4_8422_2325
                for b in body { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
                try Data(body + withUnsafeBytes(of: h.littleEndian, Array.init)).write(to: URL(fileURLWithPath: path))
            }
            func withHeader(_ change: (inout [String: Any]) -> Void) throws {
                var edited = header
                change(&edited)
                let json = [UInt8](try JSONSerialization.data(withJSONObject: edited))
                try write(Array(original[0..<8]) + withUnsafeBytes(of: UInt64(json.count).littleEndian, Array.init) + json
                          + original[(16 + length)..<(original.count - 8)])
            }
            func rejected(_ reason: String) -> Bool {
                do { try tinyTrainer(steps: 20).loadCheckpoint(from: path) } catch let e as TrainingError {
                    return e == .badFile(path: path, reason: reason)
                } catch { return false }
                return false
            }
            // The unchanged header passes through the rewriting: the checks below test the edits.
            try withHeader { _ in }
            let resumed = try tinyTrainer(steps: 20)
            try resumed.loadCheckpoint(from: path)
            #expect(resumed.step == 1)
            // A header length beyond Int's range (and beyond the file).
            var huge = original[0..<(original.count - 8)]
            huge.replaceSubrange(8..<16, with: [0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
            try write(Array(huge))
            #expect(rejected("header length 18446744073709551600 exceeds the file"))
            for step in [-1, 21, Int.max] {
                try withHeader { $0["step"] = step; $0["optimizerStep"] = step }
                #expect(rejected("step \(step) (optimizer step \(step)) is not a step of this 20-step run"))
            }
            try withHeader { $0["optimizerStep"] = 0 }
            #expect(rejected("step 1 (optimizer step 0) is not a step of this 20-step run"))
            try withHeader { $0["elapsed"] = -1.0 }
            #expect(rejected("elapsed time -1.0 s is not a duration"))
        }
    }
}
