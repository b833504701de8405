import CBitKernels

/// Why ternary weights could not be read or packed.
public enum TernaryFormatError: Error, Equatable, CustomStringConvertible {
    /// A buffer has the wrong number of elements or bytes.
    case sizeMismatch(what: String, expected: Int, actual: Int)
    /// A weight that is not -1, 0 or +1 (flat row-major index).
    case invalidWeight(index: Int, value: Int)
    /// A packed code no writer produces (2-bit code 3, or a TQ1_0 byte that is no base-3 value):
    /// the data is corrupt or not in the format claimed.
    case corruptCode(format: String, weightIndex: Int)
    /// The shape cannot be stored in the format (e.g. TQ2_0 rows must be multiples of 256).
    case unsupportedShape(String)
    /// A row's blocks carry different scales; BitKernels keeps one scale per row.
    case mixedScales(row: Int, first: Float, other: Float)

    public var description: String {
        switch self {
        case let .sizeMismatch(what, expected, actual):
            return "\(what): expected \(expected), got \(actual)"
        case let .invalidWeight(index, value):
            return "weight \(index) is \(value); ternary weights must be -1, 0 or +1"
        case let .corruptCode(format, index):
            return "\(format) data is corrupt: invalid code at weight \(index)"
        case let .unsupportedShape(message):
            return message
        case let .mixedScales(row, first, other):
            return "row \(row) has blocks with different scales (\(first) and \(other)); one scale per row is supported"
        }
    }
}

/// Conversions from and to the layouts ternary models ship in. See `bitkernels.h` for the exact
/// byte layouts; TQ2_0 and TQ1_0 match llama.cpp (`gguf.quants`) byte for byte.
extension TernaryMatrix {
    /// llama.cpp `TQ2_0`: blocks of 256 weights, 66 bytes (2.06 bits per weight).
    public init(tq2_0 bytes: [UInt8], rows: Int, columns: Int) throws(TernaryFormatError) {
        try self.init(blockFormat: "TQ2_0", bytes: bytes, rows: rows, columns: columns,
                      blockBytes: Int(BK_TQ2_0_BLOCK_BYTES), decode: bk_tq2_0_decode)
    }

    /// llama.cpp `TQ1_0`: blocks of 256 weights, 54 bytes, base-3 packed (1.69 bits per weight).
    public init(tq1_0 bytes: [UInt8], rows: Int, columns: Int) throws(TernaryFormatError) {
        try self.init(blockFormat: "TQ1_0", bytes: bytes, rows: rows, columns: columns,
                      blockBytes: Int(BK_TQ1_0_BLOCK_BYTES), decode: bk_tq1_0_decode)
    }

    /// The `TQ2_0` bytes of this matrix (as `gguf.quants.quantize(W · scale, TQ2_0)` writes them).
    public func tq2_0() throws(TernaryFormatError) -> [UInt8] {
        try blockFormatBytes("TQ2_0", blockBytes: Int(BK_TQ2_0_BLOCK_BYTES), encode: bk_tq2_0_encode)
    }

    /// The `TQ1_0` bytes of this matrix.
    public func tq1_0() throws(TernaryFormatError) -> [UInt8] {
        try blockFormatBytes("TQ1_0", blockBytes: Int(BK_TQ1_0_BLOCK_BYTES), encode: bk_tq1_0_encode)
    }

    /// bitnet.cpp `I2_S` (x86 layout): 2-bit codes in groups of 128, then one float32 scale.
    public init(i2_s bytes: [UInt8], rows: Int, columns: Int) throws(TernaryFormatError) {
        guard (rows * columns) % 128 == 0 else {
            throw .unsupportedShape("I2_S stores whole groups of 128 weights; \(rows) × \(columns) is not a multiple")
        }
        let expected = bk_i2_s_size(rows, columns)
        guard bytes.count == expected else { throw .sizeMismatch(what: "I2_S bytes", expected: expected, actual: bytes.count) }
        var values = [Int8](repeating: 0, count: rows * columns)
        var scale: Float = 0
        let bad = bk_i2_s_decode(bytes, rows, columns, &values, &scale)
        if bad >= 0 { throw .corruptCode(format: "I2_S", weightIndex: Int(bad)) }
        try self.init(values: values, rows: rows, columns: columns, scale: scale)
    }

    /// The `I2_S` bytes; the matrix must have a single scale.
    public func i2_s() throws(TernaryFormatError) -> [UInt8] {
        guard (rows * columns) % 128 == 0 else {
            throw .unsupportedShape("I2_S stores whole groups of 128 weights; \(rows) × \(columns) is not a multiple")
        }
        let scale = try singleScale()
        var out = [UInt8](repeating: 0, count: bk_i2_s_size(rows, columns))
        bk_i2_s_encode(values, scale, rows, columns, &out)
        return out
    }

    /// The Hugging Face BitNet checkpoint layout: `weight` uint8 `[rows / 4, columns]` packing four
    /// output rows per byte, and the per-tensor `weight_scale`.
    public init(huggingFacePacked bytes: [UInt8], rows: Int, columns: Int, scale: Float) throws(TernaryFormatError) {
        guard rows % 4 == 0 else { throw .unsupportedShape("the Hugging Face layout packs 4 rows per byte; \(rows) rows is not a multiple of 4") }
        guard bytes.count == rows / 4 * columns else {
            throw .sizeMismatch(what: "packed weight bytes [\(rows / 4), \(columns)]", expected: rows / 4 * columns, actual: bytes.count)
        }
        var values = [Int8](repeating: 0, count: rows * columns)
        let bad = bk_hf_bitnet_decode(bytes, rows, columns, &values)
        if bad >= 0 { throw .corruptCode(format: "BitNet checkpoint", weightIndex: Int(bad)) }
        try self.init(values: values, rows: rows, columns: columns, scale: scale)
    }

    /// The Hugging Face layout bytes `[rows / 4, columns]` (the scale is `rowScales[0]`).
    public func huggingFacePacked() throws(TernaryFormatError) -> [UInt8] {
        guard rows % 4 == 0 else { throw .unsupportedShape("the Hugging Face layout packs 4 rows per byte; \(rows) rows is not a multiple of 4") }
        _ = try singleScale()
        var out = [UInt8](repeating: 0, count: rows / 4 * columns)
        bk_hf_bitnet_encode(values, rows, columns, &out)
        return out
    }

    private func singleScale() throws(TernaryFormatError) -> Float {
        guard let first = rowScales.first else { return 1 }
        if let r = rowScales.firstIndex(where: { $0 != first }) {
            throw .mixedScales(row: r, first: first, other: rowScales[r])
        }
        return first
    }

    private typealias BlockDecode = (UnsafePointer<UInt8>?, Int, Int, UnsafeMutablePointer<Int8>?, UnsafeMutablePointer<Float>?) -> Int64
    private typealias BlockEncode = (UnsafePointer<Int8>?, UnsafePointer<Float>?, Int, Int, UnsafeMutablePointer<UInt8>?) -> Void

    private init(blockFormat name: String, bytes: [UInt8], rows: Int, columns: Int, blockBytes: Int,
                 decode: BlockDecode) throws(TernaryFormatError) {
        guard columns % 256 == 0 else {
            throw .unsupportedShape("\(name) rows are whole blocks of 256 weights; \(columns) columns is not a multiple of 256")
        }
        let blocks = columns / 256
        guard bytes.count == rows * blocks * blockBytes else {
            throw .sizeMismatch(what: "\(name) bytes of a \(rows) × \(columns) tensor", expected: rows * blocks * blockBytes, actual: bytes.count)
        }
        var values = [Int8](repeating: 0, count: rows * columns)
        var blockScales = [Float](repeating: 0, count: rows * blocks)
        let bad = decode(bytes, rows, columns, &values, &blockScales)
        if bad >= 0 { throw .corruptCode(format: name, weightIndex: Int(bad)) }
        // llama.cpp writes each block's max |value|: the row scale, or 0 for an all-zero block.
        var scales = [Float](repeating: 0, count: rows)
        for r in 0..<rows {
            for s in blockScales[(r * blocks)..<((r + 1) * blocks)] where s != 0 {
                if scales[r] == 0 { scales[r] = s } else if s != scales[r] {
                    throw .mixedScales(row: r, first: scales[r], other: s)
                }
            }
        }
        try self.init(values: values, rows: rows, columns: columns, rowScales: scales)
    }

    private func blockFormatBytes(_ name: String, blockBytes: Int, encode: BlockEncode) throws(TernaryFormatError) -> [UInt8] {
        guard columns % 256 == 0 else {
            throw .unsupportedShape("\(name) rows are whole blocks of 256 weights; \(columns) columns is not a multiple of 256")
        }
        var out = [UInt8](repeating: 0, count: rows * columns / 256 * blockBytes)
        encode(values, rowScales, rows, columns, &out)
        return out
    }
}
