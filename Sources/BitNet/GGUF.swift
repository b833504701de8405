import BitKernels
import Foundation

/// A GGUF file (llama.cpp's container, versions 2 and 3): metadata, tensor directory, aligned
/// tensor data. Memory-mapped; every offset and size is checked against the file.
final class GGUFFile {
    enum Value {
        case int(Int64), uint(UInt64), float(Double), bool(Bool), string(String), array([Value])
        var int: Int? {
            switch self {
            case .int(let v): Int(v)
            case .uint(let v): Int(v)
            default: nil
            }
        }
        var double: Double? {
            switch self {
            case .float(let v): v
            case .int(let v): Double(v)
            case .uint(let v): Double(v)
            default: nil
            }
        }
        var string: String? { if case .string(let s) = self { s } else { nil } }
    }

    struct Tensor { let name: String; let dims: [Int]; let type: UInt32; let range: Range<Int> }

    /// ggml type ids (I2_S is bitnet.cpp's fork).
    static let f32: UInt32 = 0, f16: UInt32 = 1, bf16: UInt32 = 30, tq1_0: UInt32 = 34, tq2_0: UInt32 = 35, i2_s: UInt32 = 36

    let file: MappedFile
    private(set) var metadata: [String: Value] = [:]
    private(set) var tensors: [String: Tensor] = [:]
    private var cursor = 0

    init(path: String) throws(BitNetError) {
        file = try MappedFile(path: path)
        guard file.bytes.count >= 24, file.load(UInt32.self, at: 0) == 0x4655_4747 else {
            throw .malformed(file: path, reason: "not a GGUF file (no GGUF magic)")
        }
        let version = file.load(UInt32.self, at: 4)
        guard version == 2 || version == 3 else { throw .unsupported("GGUF version \(version) (2 and 3 are read)") }
        cursor = 8
        let tensorCount = try u64(), kvCount = try u64()
        guard tensorCount < 1 << 20, kvCount < 1 << 20 else { throw fail("implausible counts: \(tensorCount) tensors, \(kvCount) keys") }
        for _ in 0..<kvCount {
            let key = try string()
            metadata[key] = try value(type: try u32())
        }
        var infos: [(String, [Int], UInt32, Int)] = []
        for _ in 0..<tensorCount {
            let name = try string()
            let n = Int(try u32())
            guard n >= 1 && n <= 4 else { throw fail("tensor '\(name)' has \(n) dimensions") }
            var dims: [Int] = []
            for _ in 0..<n {
                let d = try u64()
                guard d <= 1 << 40 else { throw fail("tensor '\(name)' has a dimension of \(d)") }
                dims.append(Int(d))
            }
            let type = try u32(), offset = try u64()
            guard offset <= UInt64(file.bytes.count) else { throw fail("tensor '\(name)' starts past the end of the file: truncated?") }
            infos.append((name, dims, type, Int(offset)))
        }
        let alignment = metadata["general.alignment"]?.int ?? 32
        guard alignment > 0, alignment <= 1 << 20, alignment & (alignment - 1) == 0 else {
            throw fail("general.alignment \(alignment) is not a power of two")
        }
        let dataStart = (cursor + alignment - 1) / alignment * alignment
        for (name, dims, type, offset) in infos {
            var count = 1
            for d in dims {
                let (product, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow, product <= file.bytes.count * 8 else { throw fail("tensor '\(name)' has \(dims) elements: more than the file holds") }
                count = product
            }
            guard let size = Self.byteSize(type: type, count: count, rowLength: dims[0]) else {
                tensors[name] = Tensor(name: name, dims: dims, type: type, range: 0..<0)  // unreadable type: an error only if used
                continue
            }
            let start = dataStart + offset
            guard size <= file.bytes.count, start <= file.bytes.count - size else {
                throw fail("tensor '\(name)' ends at byte \(start + size) but the file has \(file.bytes.count): truncated")
            }
            tensors[name] = Tensor(name: name, dims: dims, type: type, range: start..<(start + size))
        }
    }

    static func byteSize(type: UInt32, count: Int, rowLength: Int) -> Int? {
        switch type {
        case f32: count * 4
        case f16, bf16: count * 2
        case tq2_0: rowLength % 256 == 0 ? count / 256 * 66 : nil
        case tq1_0: rowLength % 256 == 0 ? count / 256 * 54 : nil
        case i2_s: count / 4 + 32
        default: nil
        }
    }

    static func typeName(_ t: UInt32) -> String {
        [0: "F32", 1: "F16", 30: "BF16", 34: "TQ1_0", 35: "TQ2_0", 36: "I2_S", 2: "Q4_0", 8: "Q8_0"][t] ?? "ggml type \(t)"
    }

    private func fail(_ reason: String) -> BitNetError { .malformed(file: file.path, reason: reason) }

    private func need(_ n: Int) throws(BitNetError) {
        guard n >= 0, n <= file.bytes.count - cursor else { throw fail("truncated header at byte \(cursor)") }
    }
    private func u32() throws(BitNetError) -> UInt32 { try need(4); defer { cursor += 4 }; return file.load(UInt32.self, at: cursor) }
    private func u64() throws(BitNetError) -> UInt64 { try need(8); defer { cursor += 8 }; return file.load(UInt64.self, at: cursor) }
    private func string() throws(BitNetError) -> String {
        let n = Int(clamping: try u64())
        try need(n)
        defer { cursor += n }
        return String(decoding: UnsafeRawBufferPointer(rebasing: file.bytes[cursor..<(cursor + n)]), as: UTF8.self)
    }

    private func value(type: UInt32) throws(BitNetError) -> Value {
        func scalar<T: FixedWidthInteger>(_: T.Type) throws(BitNetError) -> T {
            try need(MemoryLayout<T>.size)
            defer { cursor += MemoryLayout<T>.size }
            return file.load(T.self, at: cursor)
        }
        switch type {
        case 0: return .uint(UInt64(try scalar(UInt8.self)))
        case 1: return .int(Int64(try scalar(Int8.self)))
        case 2: return .uint(UInt64(try scalar(UInt16.self)))
        case 3: return .int(Int64(try scalar(Int16.self)))
        case 4: return .uint(UInt64(try scalar(UInt32.self)))
        case 5: return .int(Int64(try scalar(Int32.self)))
        case 6: return .float(Double(Float(bitPattern: try scalar(UInt32.self))))
        case 7: return .bool(try scalar(UInt8.self) != 0)
        case 8: return .string(try string())
        case 9:
            let elementType = try u32()
            let n = Int(clamping: try u64())
            guard n <= file.bytes.count else { throw fail("array of \(n) elements") }
            var out: [Value] = []
            out.reserveCapacity(n)
            for _ in 0..<n { out.append(try value(type: elementType)) }
            return .array(out)
        case 10: return .uint(try scalar(UInt64.self))
        case 11: return .int(Int64(bitPattern: try scalar(UInt64.self)))
        case 12: return .float(Double(bitPattern: try scalar(UInt64.self)))
        default: throw fail("unknown metadata value type \(type)")
        }
    }

    func tensor(_ name: String, dims: [Int]) throws(BitNetError) -> Tensor {
        guard let t = tensors[name] else { throw .missingTensor(name) }
        guard t.dims == dims else { throw .wrongShape(tensor: name, expected: dims, actual: t.dims) }
        guard !t.range.isEmpty || dims.reduce(1, *) == 0 else {
            throw .unsupported("tensor '\(name)' has type \(Self.typeName(t.type))")
        }
        return t
    }

    func bytes(_ t: Tensor) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: file.bytes[t.range]) }

    func floats(_ name: String, dims: [Int]) throws(BitNetError) -> [Float] {
        let t = try tensor(name, dims: dims)
        let dtype: DType
        switch t.type {
        case Self.f32: dtype = .f32
        case Self.f16: dtype = .f16
        case Self.bf16: dtype = .bf16
        default: throw .unsupported("tensor '\(name)' has type \(Self.typeName(t.type)), expected F32, F16 or BF16")
        }
        return try toFloats(bytes(t), dtype: dtype, name: name)
    }

    /// A float matrix kept in its stored precision (BF16 stays bf16).
    func rows(_ name: String, dims: [Int]) throws(BitNetError) -> FloatRows {
        let t = try tensor(name, dims: dims)
        if t.type == Self.bf16 {
            return .bf16(BFloat16Matrix(bits: halfWords(bytes(t)), rows: dims[1], columns: dims[0]))
        }
        return .float(try floats(name, dims: dims))
    }

    /// A ternary weight matrix stored as TQ2_0, TQ1_0, I2_S, or as floats holding scale × {-1, 0, 1}
    /// (llama.cpp's fallback when a row is not a multiple of 256).
    /// `multiplier` names llama.cpp's optional per-tensor `.scale` (F32 [1]) the product is
    /// multiplied by; when present, it multiplies every row scale.
    func ternary(_ name: String, rows: Int, columns: Int, multiplier: String) throws(BitNetError) -> TernaryMatrix {
        let m = try ternary(name, rows: rows, columns: columns)
        guard tensors[multiplier] != nil else { return m }
        let s = try floats(multiplier, dims: [1])[0]
        guard s.isFinite else { throw fail("tensor '\(multiplier)' is \(s)") }
        do { return try TernaryMatrix(values: m.values, rows: rows, columns: columns, rowScales: m.rowScales.map { $0 * s }) } catch {
            throw fail("'\(name)': \(error)")
        }
    }

    func ternary(_ name: String, rows: Int, columns: Int) throws(BitNetError) -> TernaryMatrix {
        let t = try tensor(name, dims: [columns, rows])
        do {
            switch t.type {
            case Self.tq2_0: return try TernaryMatrix(tq2_0: [UInt8](bytes(t)), rows: rows, columns: columns)
            case Self.tq1_0: return try TernaryMatrix(tq1_0: [UInt8](bytes(t)), rows: rows, columns: columns)
            case Self.i2_s: return try TernaryMatrix(i2_s: [UInt8](bytes(t)), rows: rows, columns: columns)
            default:
                let v = try floats(name, dims: [columns, rows])
                var scales = [Float](repeating: 0, count: rows)
                var values = [Int8](repeating: 0, count: v.count)
                for r in 0..<rows {
                    let row = v[(r * columns)..<((r + 1) * columns)]
                    let s = row.map(abs).max() ?? 0
                    scales[r] = s
                    for (c, x) in row.enumerated() {
                        guard x == 0 || x == s || x == -s else {
                            throw BitNetError.unsupported("tensor '\(name)' holds \(x) in row \(r): not scale × {-1, 0, 1}")
                        }
                        values[r * columns + c] = s == 0 ? 0 : Int8(x / s)
                    }
                }
                return try TernaryMatrix(values: values, rows: rows, columns: columns, rowScales: scales)
            }
        } catch let e as BitNetError { throw e } catch { throw .malformed(file: file.path, reason: "'\(name)': \(error)") }
    }
}

extension BitNetModel {
    static let ggufArchitectures = ["bitnet", "bitnet-b1.58", "bitnet-25"]

    static func loadGGUF(path: String, int8Head: Bool, kernels: Kernels) throws(BitNetError) -> BitNetModel {
        let g = try GGUFFile(path: path)
        let arch = g.metadata["general.architecture"]?.string ?? "?"
        guard ggufArchitectures.contains(arch) else {
            throw .unsupported("GGUF architecture '\(arch)'; this engine runs \(ggufArchitectures.joined(separator: ", "))")
        }
        func meta(_ key: String) throws(BitNetError) -> Int {
            guard let v = g.metadata["\(arch).\(key)"]?.int, v > 0 else {
                throw .malformed(file: path, reason: "metadata '\(arch).\(key)' is missing")
            }
            return v
        }
        let hidden = try meta("embedding_length"), heads = try meta("attention.head_count")
        guard let embedding = g.tensors["token_embd.weight"], embedding.dims.count == 2 else { throw .missingTensor("token_embd.weight") }
        let c = BitNetConfig(
            vocabularySize: g.metadata["\(arch).vocab_size"]?.int ?? embedding.dims[1],
            hiddenSize: hidden, intermediateSize: try meta("feed_forward_length"), layerCount: try meta("block_count"),
            headCount: heads, kvHeadCount: g.metadata["\(arch).attention.head_count_kv"]?.int ?? heads,
            ropeTheta: g.metadata["\(arch).rope.freq_base"]?.double ?? 10_000,
            rmsNormEpsilon: Float(g.metadata["\(arch).attention.layer_norm_rms_epsilon"]?.double ?? 1e-5),
            maxPositions: try meta("context_length"),
            tiedEmbeddings: g.tensors["output.weight"] == nil, scaleMultiplies: true)
        func norm(_ name: String, _ size: Int) throws(BitNetError) -> RMSNorm {
            RMSNorm(weight: try g.floats(name, dims: [size]), epsilon: c.rmsNormEpsilon)
        }
        func linear(_ name: String, rows: Int, columns: Int) throws(BitNetError) -> BitLinear {
            BitLinear(weights: try g.ternary(name, rows: rows, columns: columns, multiplier: name.dropLast(".weight".count) + ".scale"))
        }
        let names = DecoderLayer.ggufNames
        var layers: [DecoderLayer] = []
        for i in 0..<c.layerCount {
            layers.append(try DecoderLayer(c, name: { "blk.\(i).\(names[$0]!).weight" }, norm: norm,
                                           linear: { (n, rows, columns) throws(BitNetError) in try linear(n, rows: rows, columns: columns) }))
        }
        return BitNetModel(
            config: c, embedding: try g.rows("token_embd.weight", dims: [hidden, c.vocabularySize]),
            head: c.tiedEmbeddings ? nil : try g.rows("output.weight", dims: [hidden, c.vocabularySize]),
            layers: layers, finalNorm: try norm("output_norm.weight", hidden), int8Head: int8Head, kernels: kernels)
    }
}
