import BitKernels
import Foundation

/// Why a model could not be loaded or run.
public enum BitNetError: Error, Equatable, CustomStringConvertible {
    case missingFile(String)
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
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw .missingFile(path) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .missingFile(path) }
        let size = Int(st.st_size)
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
        let headerLength = Int(file.load(UInt64.self, at: 0))
        guard headerLength > 0, 8 + headerLength <= file.bytes.count else {
            throw fail("header length \(headerLength) exceeds the file (\(file.bytes.count) bytes): truncated?")
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
            guard offsets[0] >= 0, offsets[1] >= offsets[0], offsets[1] - offsets[0] == count * dtype.size else {
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
        return try toFloats(bytes(e), dtype: e.dtype, name: name)
    }

    /// A float matrix kept in its stored precision (BF16 stays bf16).
    func rows(_ name: String, shape: [Int]) throws(BitNetError) -> FloatRows {
        let e = try entry(name, shape: shape)
        if e.dtype == .bf16 {
            return .bf16(BFloat16Matrix(bits: halfWords(bytes(e)), rows: shape[0], columns: shape[1]))
        }
        return .float(try toFloats(bytes(e), dtype: e.dtype, name: name))
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

/// Little-endian F32/F16/BF16 bytes as floats.
func toFloats(_ raw: UnsafeRawBufferPointer, dtype: DType, name: String) throws(BitNetError) -> [Float] {
    let n = raw.count / dtype.size
    switch dtype {
    case .f32: return (0..<n).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
    case .f16: return halfWords(raw).map { Float(float16Bits: $0) }
    case .bf16: return halfWords(raw).map { Float(bfloat16Bits: $0) }
    default: throw .unsupported("tensor '\(name)' is \(dtype.rawValue), expected a float type")
    }
}
