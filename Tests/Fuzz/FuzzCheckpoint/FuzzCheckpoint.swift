// libFuzzer target: a training checkpoint (`bitkernels train --resume`). Inputs whose first byte is
// odd get the right magic and FNV-1a checksum before loading, so mutations reach the header's
// checks behind the checksum; a checkpoint that loads then trains one step (the step, optimizer
// step and generator state it restored are exercised).
import BitTraining
import Foundation
import FuzzSupport

/// One tiny run, built once: 2 layers, width 16, character data.
nonisolated(unsafe) let trainer: Trainer = {  // libFuzzer calls from one thread
    let text = String(repeating: "the cat sat on the mat; the rat ate the cat's hat. ", count: 40)
    let path = fuzzScratch + "/text.txt"
    do {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let data = try TextData(path: path, tokenizer: "chars", context: 8)
        let config = try ModelConfiguration(vocabularySize: data.vocabularySize, width: 16, layers: 2, heads: 2, kvHeads: 1,
                                            precision: .ternary)
        let settings = TrainingSettings(steps: 20, batch: 2, context: 8,
                                        schedule: Schedule(peak: 1e-2, minimum: 1e-3, warmup: 2, steps: 20), seed: 3)
        return try Trainer(configuration: config, data: data, settings: settings, threads: 1)
    } catch { fatalError("the fuzz target's own run: \(error)") }
}()

@_cdecl("LLVMFuzzerInitialize")
public func fuzzCheckpointInitialize(_ argc: UnsafeMutablePointer<Int32>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> Int32 {
    // scripts/fuzz.sh asks for seeds: this run's checkpoints after 0, 1 and 3 steps.
    if let dir = ProcessInfo.processInfo.environment["BK_FUZZ_WRITE_SEEDS"] {
        for i in 0..<3 {
            try? trainer.saveCheckpoint(to: "\(dir)/seed\(i).bkt")
            for _ in 0..<(i + 1) { trainer.trainStep() }
        }
        exit(0)
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpoint(_ data: UnsafeRawPointer?, _ count: Int) -> Int32 {
    var bytes = count > 0 ? [UInt8](UnsafeRawBufferPointer(start: data, count: count)) : []
    if bytes.count >= 24, bytes[0] & 1 == 1 {
        bytes.replaceSubrange(0..<8, with: Array("BKTRAIN1".utf8))
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes.dropLast(8) { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        withUnsafeBytes(of: h.littleEndian) { bytes.replaceSubrange((bytes.count - 8)..., with: $0) }
    }
    let path = bytes.withUnsafeBytes { fuzzFile("checkpoint.bkt", $0.baseAddress, $0.count) }
    if (try? trainer.loadCheckpoint(from: path)) != nil, trainer.step < 20 {
        trainer.trainStep()
    }
    return 0
}

@_cdecl("FuzzCheckpoint_main")
public func fuzzCheckpointMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 { runFuzzer(fuzzCheckpoint) }
