import BitKernels
import CZlib
import Foundation

/// Why a saved population could not be read.
public enum PopulationFileError: Error, Equatable, CustomStringConvertible {
    case unreadable(String)
    case notAPopulation(String)
    case unsupportedVersion(UInt32)
    case truncated(expected: Int, actual: Int)
    case checksumMismatch(stored: UInt32, computed: UInt32)
    case corrupt(String)

    public var description: String {
        switch self {
        case .unreadable(let m): m
        case .notAPopulation(let f): "\(f) is not a saved bit-neuron population (no BKNEURON magic)"
        case .unsupportedVersion(let v): "population file version \(v) is not supported (this build reads version 1)"
        case let .truncated(expected, actual): "population file is truncated: \(expected) bytes expected, \(actual) present"
        case let .checksumMismatch(stored, computed): "population file is corrupt: CRC-32 \(String(stored, radix: 16)) stored, \(String(computed, radix: 16)) computed"
        case .corrupt(let m): "population file is corrupt: \(m)"
        }
    }
}

/// The population file format, version 1 (all integers little-endian):
///
///     offset  size            field
///     0       8               magic "BKNEURON"
///     8       4               version = 1
///     12      4               width (bits per neuron)
///     16      4               neuron count N
///     20      8               steps learned
///     28      4               J = length of the configuration JSON
///     32      J               configuration (JSON of BitPopulation.Configuration)
///     32+J    8·N             wins per neuron (uint64)
///     …       8·W·N           neuron patterns, W = ceil(width / 64) words each, bit i in word i/64
///     end−4   4               CRC-32 (zlib) of every byte before it
///
/// A file is loaded whole or not at all: a bad magic, version, length or checksum is an error.
extension BitPopulation {
    /// The population in the file format above (what `save(to:)` writes).
    ///
    /// ```swift
    /// let copy = try BitPopulation(serialized: population.serialized())
    /// ```
    public func serialized() -> [UInt8] {
        var out: [UInt8] = Array("BKNEURON".utf8)
        func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys  // the same population gives the same bytes
        let json = (try? encoder.encode(configuration)) ?? Data()
        u32(1); u32(width); u32(neurons.rowCount); u64(UInt64(steps)); u32(json.count)
        out.append(contentsOf: json)
        for w in wins { u64(UInt64(w)) }
        for r in 0..<neurons.rowCount { for word in neurons[r].words { u64(word) } }
        let crc = out.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
        u32(Int(crc))
        return out
    }

    /// Writes the population atomically (see `writeAtomically`): a crash leaves the old file or the new one.
    public func save(to path: String) throws(PopulationFileError) {
        do { try writeAtomically(serialized(), to: path) } catch { throw .unreadable("cannot write \(error)") }
    }

    /// Reads a saved population (regular files only: a FIFO or device is an error, never a hang).
    public init(contentsOf path: String, using kernels: Kernels = .default) throws(PopulationFileError) {
        let bytes: [UInt8]
        do { bytes = try readRegularFile(path, limit: 1 << 40) } catch { throw .unreadable("cannot read \(error)") }
        try self.init(serialized: bytes, name: path, using: kernels)
    }

    /// Limits on what a file may declare: far above real populations (MNIST: 784 bits, up to
    /// thousands of neurons), far below what overflows a counter or exhausts memory on `learn`.
    static let fileLimits = (width: 1 << 24, counter: 1 << 62, capacity: 1 << 32)

    /// A population from the bytes of its file format; `name` names the data in errors.
    public init(serialized b: [UInt8], name: String = "data", using kernels: Kernels = .default) throws(PopulationFileError) {
        guard b.count >= 36, Array(b[0..<8]) == Array("BKNEURON".utf8) else { throw .notAPopulation(name) }
        func u32(_ o: Int) -> Int { Int(UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24) }
        func u64(_ o: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[o + $1]) << (8 * UInt64($1)) } }
        let version = u32(8)
        guard version == 1 else { throw .unsupportedVersion(UInt32(version)) }
        let width = u32(12), count = u32(16), storedSteps = u64(20), jsonLength = u32(28)
        let limits = Self.fileLimits
        guard width >= 1, width <= limits.width else { throw .corrupt("width \(width) bits is outside 1...\(limits.width)") }
        let words = (width + 63) / 64  // the sizes below stay far inside Int: width < 2^25, count < 2^32
        let expected = 32 + jsonLength + 8 * count + 8 * words * count + 4
        guard b.count == expected else { throw .truncated(expected: expected, actual: b.count) }
        let stored = UInt32(u32(expected - 4))
        let computed = b.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt(expected - 4))) }
        guard stored == computed else { throw .checksumMismatch(stored: stored, computed: computed) }
        guard let configuration = try? JSONDecoder().decode(Configuration.self, from: Data(b[32..<(32 + jsonLength)])) else {
            throw .corrupt("the configuration is not valid JSON")
        }
        try Self.check(configuration, count: count, storedSteps: storedSteps)
        let steps = Int(storedSteps)
        var o = 32 + jsonLength
        var wins: [Int] = []
        for i in 0..<count {
            let w = u64(o)
            guard w <= UInt64(limits.counter) else { throw .corrupt("neuron \(i) has \(w) wins (at most 2^62)") }
            wins.append(Int(w))
            o += 8
        }
        var matrix = BitMatrix(width: width, reservingRows: count)
        let mask: UInt64 = width % 64 == 0 ? ~0 : (1 << UInt64(width % 64)) - 1
        for _ in 0..<count {
            var row: [UInt64] = []
            for _ in 0..<words { row.append(u64(o)); o += 8 }
            guard row.last.map({ $0 & ~mask == 0 }) ?? true else { throw .corrupt("bits set past the width") }
            matrix.append(BitVector(width: width, words: row))
        }
        self.init(width: width, configuration: configuration, neurons: matrix, wins: wins, steps: steps, using: kernels)
    }

    /// The fields `learn`, `winner` and mask generation rely on: rates in 0...1, counters that
    /// cannot overflow, at least one neuron, a bounded capacity.
    static func check(_ c: Configuration, count: Int, storedSteps: UInt64) throws(PopulationFileError) {
        let limits = fileLimits
        guard storedSteps <= UInt64(limits.counter) else { throw .corrupt("\(storedSteps) steps learned (at most 2^62)") }
        guard count >= 1 else { throw .corrupt("it holds no neurons") }
        for (name, rate) in [("learningRate", c.learningRate), ("settledRate", c.settledRate)] {
            guard rate.isFinite, rate >= 0, rate <= 1 else { throw .corrupt("\(name) \(rate) is outside 0...1") }
        }
        if let g = c.growBelow { guard g.isFinite else { throw .corrupt("growBelow \(g) is not finite") } }
        if let s = c.settleAfter { guard s >= 0 else { throw .corrupt("settleAfter \(s) is negative") } }
        guard c.neurons >= 0, c.neurons <= limits.capacity else { throw .corrupt("neurons \(c.neurons) is outside 0...\(limits.capacity)") }
        guard c.capacity >= 0, c.capacity <= limits.capacity else { throw .corrupt("capacity \(c.capacity) is outside 0...\(limits.capacity)") }
    }
}
