import BitKernels
import BitNet
import BitNeurons
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Why a benchmark could not run: a file it cannot read or write, a model that does not load.
///
/// ```swift
/// throw BenchError("cannot read rows.bin")
/// ```
package struct BenchError: Error, CustomStringConvertible {
    package let description: String
    /// The BSD sysexits status a command exits with: 65 bad data, 66 missing input, 74 I/O.
    package let code: Int32
    package init(_ description: String, code: Int32 = ExitStatus.data) { self.description = description; self.code = code }
    /// `error`'s one line, with the status `ExitStatus.of(error)` gives it.
    package init(_ error: any Error) { self.init("\(error)", code: ExitStatus.of(error)) }
}

/// BSD sysexits statuses (`man sysexits`), and the one each library error means.
package enum ExitStatus {
    package static let usage: Int32 = 64, data: Int32 = 65, noInput: Int32 = 66, software: Int32 = 70, io: Int32 = 74

    /// 66 for a file that is missing or cannot be opened, 74 for a file that cannot be written,
    /// 65 for everything a reader rejects (malformed, truncated, inconsistent).
    package static func of(_ error: any Error) -> Int32 {
        switch error {
        case let e as BenchError: return e.code
        case is FileWriteError: return io
        case let e as BitNetError:
            switch e {
            case .missingFile, .unreadable: return noInput
            case .cannotWrite: return io
            default: return data
            }
        case let e as DatasetError:
            switch e {
            case .missingFile, .unreadable: return noInput
            default: return data
            }
        case let e as AudioError:
            if case .unreadable = e { return noInput }
            return data
        default: return data
        }
    }
}

/// Monotonic seconds.
package func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + 1e-9 * Double(ts.tv_nsec)
}

/// Keeps a result alive so the optimizer cannot drop the work that produced it.
@inline(never)
package func blackHole<T>(_ value: T) {
    withUnsafePointer(to: value) { sink = UnsafeRawPointer($0).load(as: UInt8.self) }
}
nonisolated(unsafe) var sink: UInt8 = 0

/// The median, minimum and maximum seconds per call over repeated samples.
package struct Sample: Codable, Sendable {
    package var median: Double
    package var min: Double
    package var max: Double

    package init(median: Double, min: Double, max: Double) {
        self.median = median
        self.min = min
        self.max = max
    }
}

/// Times `body`: each sample runs it enough times to last at least `minSeconds` (so short
/// calls are not lost in timer resolution), and the median of `repeats` samples is reported,
/// since the machines this runs on are shared and noisy.
package func measure(repeats: Int, minSeconds: Double, _ body: () -> Void) -> Sample {
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
package final class BenchBuffer {
    package let words: UnsafeMutablePointer<UInt64>
    package let count: Int
    private let storage: WordStorage

    /// `hugePages`: on transparent huge pages as a model's weights are (`WordStorage(hugePagesCapacity:)`),
    /// so that the summing loop a model is compared with reads from the same kind of pages.
    package init(words count: Int, seed: UInt64, density: Double = 0.5, hugePages: Bool = false) {
        self.count = count
        storage = hugePages ? WordStorage(hugePagesCapacity: max(count, 1)) : WordStorage(uninitializedCapacity: max(count, 1))
        words = storage.base
        var bits = SplitMix64(seed: seed)
        for i in 0..<count { words[i] = bits.next() }
    }

    /// The read bandwidth over this buffer in GB/s: the summing loop with `threads` threads, the
    /// median of `repeats` samples.
    package func readBandwidth(threads: Int, repeats: Int, minSeconds: Double) -> Double {
        let s = measure(repeats: repeats, minSeconds: minSeconds) {
            blackHole(Yardstick.readSum(words, count: count, threads: threads))
        }
        return Double(count * 8) / s.median / 1e9
    }
}

package func format(_ x: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", x) }

extension String {
    /// Right-aligned in `n` columns.
    package func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}

/// `value` as sorted, indented JSON (one line with `pretty` false) with the build stamp
/// (`"version"`, `"commit"`) among its top-level keys; NaN and infinities as strings. One
/// trailing newline.
package func jsonBytes<T: JSONDocument>(_ value: T, stamp: BuildStamp = .current, pretty: Bool = true) throws(BenchError) -> [UInt8] {
    do { return [UInt8](try jsonEncoder(pretty: pretty).encode(Stamped(value, stamp: stamp))) + [0x0A] } catch {
        throw BenchError("cannot encode JSON: \(error)", code: ExitStatus.software)
    }
}

/// `values` as one sorted, indented JSON array, each object stamped as `jsonBytes` stamps one.
package func jsonArrayBytes<T: JSONDocument>(_ values: [T], stamp: BuildStamp = .current) throws(BenchError) -> [UInt8] {
    do { return [UInt8](try jsonEncoder(pretty: true).encode(values.map { Stamped($0, stamp: stamp) })) + [0x0A] } catch {
        throw BenchError("cannot encode JSON: \(error)", code: ExitStatus.software)
    }
}

func jsonEncoder(pretty: Bool) -> JSONEncoder {
    let encoder = JSONEncoder()
    encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return encoder
}

/// Writes `value` as `jsonBytes` does, atomically, or fails with the reason naming `path`.
package func writeJSON<T: JSONDocument>(_ value: T, to path: String) throws(BenchError) {
    let bytes: [UInt8]
    do { bytes = try jsonBytes(value) } catch { throw BenchError("\(path): \(error.description)", code: error.code) }
    do { try writeAtomically(bytes, to: path) } catch { throw BenchError(error.description, code: ExitStatus.io) }
}

/// A progress line on terminals only (stderr), erased by `clearProgress` before a result prints.
package func progress(_ message: String) {
    if isatty(2) != 0 { FileHandle.standardError.write("  \(message)...\r".data(using: .utf8)!) }
}

package func clearProgress() {
    if isatty(2) != 0 { FileHandle.standardError.write("\u{1B}[2K\r".data(using: .utf8)!) }
}

/// A line on stderr (notes that are not results).
package func note(_ message: String) {
    FileHandle.standardError.write((message + "\n").data(using: .utf8)!)
}
