import BitKernels
import Foundation

/// Why a model could not be loaded or run.
public enum BitNetError: Error, Equatable, CustomStringConvertible {
    case missingFile(String)
    /// The path exists but cannot be read as a file: a directory, FIFO or device, no permission.
    case unreadable(file: String, reason: String)
    case malformed(file: String, reason: String)
    case unsupported(String)
    case missingTensor(String)
    case wrongShape(tensor: String, expected: [Int], actual: [Int])
    case contextFull(limit: Int)
    case badToken(id: Int, vocabulary: Int)
    /// A tensor given in memory (`BitNetWeights`) that a model cannot use: a NaN, the wrong kind.
    case invalidTensor(name: String, reason: String)
    /// A configuration no model can have (a zero size, heads that do not divide the width).
    case invalidConfig(String)
    /// An output file or directory could not be written.
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case .missingFile(let path): "no such file: \(path)"
        case let .unreadable(file, reason): "\(file): \(reason)"
        case let .malformed(file, reason): "\(file) is malformed: \(reason)"
        case .unsupported(let what): "unsupported: \(what)"
        case .missingTensor(let name): "the checkpoint has no tensor '\(name)'"
        case let .wrongShape(name, expected, actual): "tensor '\(name)' has shape \(actual), expected \(expected)"
        case .contextFull(let limit): "the context is full: the model takes at most \(limit) positions"
        case let .badToken(id, vocabulary): "token id \(id) is outside the vocabulary (0..<\(vocabulary))"
        case let .invalidTensor(name, reason): "tensor '\(name)' \(reason)"
        case .invalidConfig(let reason): "invalid configuration: \(reason)"
        case let .cannotWrite(path, reason): "cannot write \(path): \(reason)"
        }
    }
}

/// A read-only memory-mapped file.
final class MappedFile: @unchecked Sendable {
    let path: String
    let bytes: UnsafeRawBufferPointer

    init(path: String) throws(BitNetError) {
        self.path = path
        let (fd, size) = try openInput(path)
        defer { close(fd) }
        guard size > 0, let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw .malformed(file: path, reason: "empty or unreadable")
        }
        bytes = UnsafeRawBufferPointer(start: p, count: size)
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count) }

    func load<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

/// Opens an input file (regular files only: a FIFO or device is an error, never a hang).
func openInput(_ path: String) throws(BitNetError) -> (descriptor: Int32, size: Int) {
    do { return try openRegularFile(path) } catch { throw BitNetError(error) }
}

/// The whole content of a regular input file of at most `limit` bytes.
func readInput(_ path: String, limit: Int) throws(BitNetError) -> [UInt8] {
    do { return try readRegularFile(path, limit: limit) } catch { throw BitNetError(error) }
}

extension BitNetError {
    init(_ e: FileReadError) {
        self = e.kind == .missing ? .missingFile(e.path) : .unreadable(file: e.path, reason: e.reason)
    }
}

/// A tensor's element type as checkpoints store it.
enum DType: String {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", u8 = "U8", i8 = "I8"
    var size: Int { switch self { case .f32: 4; case .f16, .bf16: 2; case .u8, .i8: 1 } }
}

/// The safetensors format: an 8-byte little-endian header length, a JSON header naming each
/// tensor's dtype, shape and byte range, then the raw little-endian data. Memory-mapped; tensors
/// are views until converted.
final class SafeTensorsFile {
    struct Entry { let dtype: DType; let shape: [Int]; let range: Range<Int> }
    let file: MappedFile
    let entries: [String: Entry]

    init(path: String) throws(BitNetError) {
        file = try MappedFile(path: path)
        let fail = { (reason: String) in BitNetError.malformed(file: path, reason: reason) }
        guard file.bytes.count >= 8 else { throw fail("shorter than its 8-byte header length") }
        let declared = file.load(UInt64.self, at: 0)
        guard declared > 0, declared <= UInt64(file.bytes.count - 8), let headerLength = Int(exactly: declared) else {
            throw fail("header length \(declared) exceeds the file (\(file.bytes.count) bytes): truncated?")
        }
        let header = Data(bytes: file.bytes.baseAddress! + 8, count: headerLength)
        guard let json = try? JSONSerialization.jsonObject(with: header) as? [String: Any] else {
            throw fail("the header is not a JSON object")
        }
        let dataStart = 8 + headerLength
        var entries: [String: Entry] = [:]
        for (name, value) in json where name != "__metadata__" {
            guard let info = value as? [String: Any], let dt = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2
            else { throw fail("tensor '\(name)' has no dtype, shape or data_offsets") }
            guard let dtype = DType(rawValue: dt) else { throw BitNetError.unsupported("tensor '\(name)' has dtype \(dt)") }
            var count = 1
            for d in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: d)
                guard d >= 0, !overflow, product <= file.bytes.count else { throw fail("tensor '\(name)' has shape \(shape): more than the file holds") }
                count = product
            }
            guard offsets[0] >= 0, offsets[1] >= offsets[0] else {
                throw fail("tensor '\(name)' has data_offsets \(offsets): negative or reversed")
            }
            guard offsets[1] - offsets[0] == count * dtype.size else {
                throw fail("tensor '\(name)' \(shape) \(dt) spans \(offsets[1] - offsets[0]) bytes, expected \(count * dtype.size)")
            }
            guard offsets[1] <= file.bytes.count - dataStart else {
                throw fail("tensor '\(name)' ends at byte \(dataStart + offsets[1]) but the file has \(file.bytes.count): truncated")
            }
            entries[name] = Entry(dtype: dtype, shape: shape, range: (dataStart + offsets[0])..<(dataStart + offsets[1]))
        }
        self.entries = entries
    }

    func entry(_ name: String, shape: [Int]? = nil) throws(BitNetError) -> Entry {
        guard let e = entries[name] else { throw .missingTensor(name) }
        if let shape, e.shape != shape { throw .wrongShape(tensor: name, expected: shape, actual: e.shape) }
        return e
    }

    func bytes(_ e: Entry) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: file.bytes[e.range]) }

    /// A float tensor (F32, F16 or BF16) as [Float].
    func floats(_ name: String, shape: [Int]) throws(BitNetError) -> [Float] {
        let e = try entry(name, shape: shape)
        return try toFloats(bytes(e), dtype: e.dtype, name: name, file: file.path)
    }

    /// A float matrix kept in its stored precision (BF16 stays bf16).
    func rows(_ name: String, shape: [Int]) throws(BitNetError) -> FloatRows {
        let e = try entry(name, shape: shape)
        if e.dtype == .bf16 {
            return .bf16(BFloat16Matrix(bits: try finiteBF16(halfWords(bytes(e)), name: name, file: file.path), rows: shape[0], columns: shape[1]))
        }
        return .float(try toFloats(bytes(e), dtype: e.dtype, name: name, file: file.path))
    }

    /// The raw bytes of a U8 tensor.
    func uint8(_ name: String, shape: [Int]) throws(BitNetError) -> [UInt8] {
        let e = try entry(name, shape: shape)
        guard e.dtype == .u8 || e.dtype == .i8 else { throw .unsupported("tensor '\(name)' is \(e.dtype.rawValue), expected packed U8") }
        return [UInt8](bytes(e))
    }
}

/// Little-endian 16-bit words (bf16 tensors are kept as stored).
func halfWords(_ raw: UnsafeRawBufferPointer) -> [UInt16] {
    (0..<(raw.count / 2)).map { UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)) }
}

/// Little-endian F32/F16/BF16 bytes as floats; a NaN or infinity is an error naming the tensor
/// and the element (the model's arithmetic assumes finite weights).
func toFloats(_ raw: UnsafeRawBufferPointer, dtype: DType, name: String, file: String) throws(BitNetError) -> [Float] {
    let n = raw.count / dtype.size
    let values: [Float]
    switch dtype {
    case .f32: values = (0..<n).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
    case .f16: values = halfWords(raw).map { Float(float16Bits: $0) }
    case .bf16: values = halfWords(raw).map { Float(bfloat16Bits: $0) }
    default: throw .unsupported("tensor '\(name)' is \(dtype.rawValue), expected a float type")
    }
    if let i = values.firstIndex(where: { !$0.isFinite }) {
        throw .malformed(file: file, reason: "tensor '\(name)': element \(i) is \(values[i]) (weights must be finite)")
    }
    return values
}

/// bf16 words checked for NaN and infinity (exponent all ones) without converting them.
func finiteBF16(_ words: [UInt16], name: String, file: String) throws(BitNetError) -> [UInt16] {
    if let i = words.firstIndex(where: { $0 & 0x7f80 == 0x7f80 }) {
        throw .malformed(file: file, reason: "tensor '\(name)': element \(i) is \(Float(bfloat16Bits: words[i])) (weights must be finite)")
    }
    return words
}
