import ArgumentParser
import BitKernels
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Monotonic seconds.
func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + 1e-9 * Double(ts.tv_nsec)
}

/// Keeps a result alive so the optimizer cannot drop the work that produced it.
@inline(never)
func blackHole<T>(_ value: T) {
    withUnsafePointer(to: value) { sink = UnsafeRawPointer($0).load(as: UInt8.self) }
}
nonisolated(unsafe) var sink: UInt8 = 0

/// The median, minimum and maximum seconds per call over repeated samples.
struct Sample: Codable {
    var median: Double
    var min: Double
    var max: Double
}

/// Times `body`: each sample runs it enough times to last at least `minSeconds` (so short
/// calls are not lost in timer resolution), and the median of `repeats` samples is reported,
/// since the machines this runs on are shared and noisy.
func measure(repeats: Int, minSeconds: Double, _ body: () -> Void) -> Sample {
    body()  // warm caches and page in the buffers
    var inner = 1
    while true {
        let t0 = now()
        for _ in 0..<inner { body() }
        let elapsed = now() - t0
        if elapsed >= minSeconds || inner >= 1 << 24 { break }
        inner = elapsed <= 0 ? inner * 16 : max(inner * 2, Int(Double(inner) * minSeconds / elapsed * 1.2))
    }
    var samples: [Double] = []
    for _ in 0..<max(repeats, 1) {
        let t0 = now()
        for _ in 0..<inner { body() }
        samples.append((now() - t0) / Double(inner))
    }
    samples.sort()
    return Sample(median: samples[samples.count / 2], min: samples.first!, max: samples.last!)
}

/// A 64-byte-aligned, randomly filled word buffer for benchmarks, freed on deinit.
final class BenchBuffer {
    let words: UnsafeMutablePointer<UInt64>
    let count: Int

    init(words count: Int, seed: UInt64, density: Double = 0.5) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 8, alignment: 64)
        words = raw.bindMemory(to: UInt64.self, capacity: max(count, 1))
        var bits = SplitMix64(seed: seed)
        for i in 0..<count { words[i] = bits.next() }
    }

    deinit { UnsafeMutableRawPointer(words).deallocate() }
}

func format(_ x: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", x) }

/// Writes `value` as sorted, indented JSON (NaN and infinities as strings), or fails with the reason.
func writeJSON<T: Encodable>(_ value: T, to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    do { try encoder.encode(value).write(to: URL(fileURLWithPath: path)) } catch {
        throw ValidationError("cannot write \(path): \(error.localizedDescription)")
    }
}

/// A progress line on terminals only (stderr), erased by `clearProgress` before a result prints.
func progress(_ message: String) {
    if isatty(2) != 0 { FileHandle.standardError.write("  \(message)...\r".data(using: .utf8)!) }
}

func clearProgress() {
    if isatty(2) != 0 { FileHandle.standardError.write("\u{1B}[2K\r".data(using: .utf8)!) }
}
