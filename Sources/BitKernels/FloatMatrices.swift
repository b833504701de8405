import CBitKernels

extension Float {
    /// The float a bfloat16 bit pattern stands for (exact: bf16 is the top half of a float32).
    ///
    /// ```swift
    /// Float(bfloat16Bits: 0x3FC0)   // 1.5
    /// ```
    public init(bfloat16Bits bits: UInt16) { self = bk_bf16_to_f32(bits) }

    /// The float an IEEE half-precision bit pattern stands for (exact, subnormals, infinities and
    /// NaN included).
    ///
    /// ```swift
    /// Float(float16Bits: 0x3C00)   // 1.0
    /// ```
    public init(float16Bits bits: UInt16) { self = bk_f16_to_f32(bits) }
}

/// A float matrix stored as bfloat16 (as checkpoints store embeddings and LM heads), multiplied
/// by float vectors with the `bf16_dots` kernel: every variant gives the same bits.
///
/// ```swift
/// let head = BFloat16Matrix(bits: storedBits, rows: 32_000, columns: 2560)
/// let logits = head.products(hidden)        // 32,000 dot products
/// ```
public struct BFloat16Matrix: Sendable {
    /// The number of rows (outputs of `products`).
    public let rows: Int
    /// The number of columns (inputs of `products`).
    public let columns: Int
    // The bit patterns in 64-byte-aligned storage: a Swift array of this size starts 48 bytes into
    // its page, where every other 32-byte row load of the kernels splits a cache line — 7.5% slower
    // streaming a 656 MB LM head from DRAM on Emerald Rapids (bench/RESULTS.md, decode section).
    // On huge pages from 2 MiB on: an LM head is streamed from DRAM once per generated token.
    let storage: WordStorage

    /// A copy of the bf16 bit patterns, row-major (`rows × columns`).
    public var bits: [UInt16] { withBitPatterns { Array($0) } }

    /// A matrix over row-major bf16 bit patterns; `bits.count` must be `rows × columns`.
    ///
    /// ```swift
    /// let m = BFloat16Matrix(bits: [0x3F80, 0x4000], rows: 1, columns: 2)   // [[1, 2]]
    /// ```
    public init(bits: [UInt16], rows: Int, columns: Int) {
        precondition(rows >= 0 && columns >= 0, "negative shape \(rows) × \(columns)")
        precondition(bits.count == rows * columns, "bf16 values: expected \(rows) × \(columns) = \(rows * columns), got \(bits.count)")
        self.rows = rows
        self.columns = columns
        storage = WordStorage(hugePagesCapacity: (bits.count + 3) / 4)
        bits.withUnsafeBufferPointer { b in
            if let from = b.baseAddress { UnsafeMutableRawPointer(storage.base).copyMemory(from: from, byteCount: b.count * 2) }
        }
    }

    /// Calls `body` with the bit patterns in place (`rows × columns`, row-major).
    package func withBitPatterns<R>(_ body: (UnsafeBufferPointer<UInt16>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: pointer, count: rows * columns))
    }

    var pointer: UnsafePointer<UInt16> { UnsafeRawPointer(storage.base).assumingMemoryBound(to: UInt16.self) }

    /// The element at (`row`, `column`) as a float.
    ///
    /// ```swift
    /// m[0, 1]   // 2.0
    /// ```
    public subscript(row: Int, column: Int) -> Float {
        precondition(row >= 0 && row < rows && column >= 0 && column < columns,
                     "index (\(row), \(column)) out of range \(rows) × \(columns)")
        return Float(bfloat16Bits: pointer[row * columns + column])
    }

    /// `out[r]` = row r · x for every row; `x` holds `columns` floats.
    ///
    /// ```swift
    /// BFloat16Matrix(bits: [0x3F80, 0x4000], rows: 1, columns: 2).products([3, 4])   // [11]
    /// ```
    /// - Parameters:
    ///   - x: `columns` floats.
    ///   - threads: OpenMP threads sharing the rows (0 = OpenMP's default).
    ///   - kernels: The variant that runs (`.default`: the best for this CPU).
    public func products(_ x: [Float], threads: Int = 0, using kernels: Kernels = .default) -> [Float] {
        precondition(x.count == columns, "vector has \(x.count) values, the matrix \(columns) columns")
        return [Float](unsafeUninitializedCapacity: rows) { out, initialized in
            x.withUnsafeBufferPointer { products($0, into: out, threads: threads, using: kernels) }
            initialized = rows
        }
    }

    /// The same products, from and into caller memory (`x.count == columns`, `out.count == rows`):
    /// for a loop that must not allocate, such as an LM head run once per token.
    ///
    /// ```swift
    /// x.withUnsafeBufferPointer { xs in logits.withUnsafeMutableBufferPointer { head.products(xs, into: $0) } }
    /// ```
    package func products(_ x: UnsafeBufferPointer<Float>, into out: UnsafeMutableBufferPointer<Float>, threads: Int = 0,
                         using kernels: Kernels = .default) {
        products(rows: 0..<rows, x, into: out, threads: threads, using: kernels)
    }
}

/// A float matrix stored as int8 with one scale per row (value = scale · q), multiplied by float
/// vectors with the `i8_dots` kernel: half the bytes of bf16, every variant giving the same bits.
///
/// ```swift
/// let m = Int8Matrix(values: [127, -64], rowScales: [0.01], rows: 1, columns: 2)
/// let y = m.products([1, 1])     // [0.01 · (127 − 64)]
/// ```
public struct Int8Matrix: Sendable {
    /// The number of rows (outputs of `products`).
    public let rows: Int
    /// The number of columns (inputs of `products`).
    public let columns: Int
    /// The int8 values, row-major (`rows × columns`).
    public let values: [Int8]
    /// One scale per row: element (r, c) is `rowScales[r] · values[r * columns + c]`.
    public let rowScales: [Float]

    /// A matrix over row-major int8 values and one scale per row.
    ///
    /// ```swift
    /// let m = Int8Matrix(values: [1, 2, 3, 4], rowScales: [0.5, 2], rows: 2, columns: 2)
    /// ```
    public init(values: [Int8], rowScales: [Float], rows: Int, columns: Int) {
        precondition(rows >= 0 && columns >= 0, "negative shape \(rows) × \(columns)")
        precondition(values.count == rows * columns, "int8 values: expected \(rows) × \(columns) = \(rows * columns), got \(values.count)")
        precondition(rowScales.count == rows, "row scales: expected \(rows), got \(rowScales.count)")
        self.rows = rows
        self.columns = columns
        self.values = values
        self.rowScales = rowScales
    }

    /// The element at (`row`, `column`) as a float: `rowScales[row] · value`.
    ///
    /// ```swift
    /// m[1, 0]   // 6.0
    /// ```
    public subscript(row: Int, column: Int) -> Float {
        precondition(row >= 0 && row < rows && column >= 0 && column < columns,
                     "index (\(row), \(column)) out of range \(rows) × \(columns)")
        return Float(values[row * columns + column]) * rowScales[row]
    }

    /// `out[r]` = row r · x for every row; `x` holds `columns` floats.
    ///
    /// ```swift
    /// Int8Matrix(values: [1, 2], rowScales: [0.5], rows: 1, columns: 2).products([3, 4])   // [5.5]
    /// ```
    public func products(_ x: [Float], threads: Int = 0, using kernels: Kernels = .default) -> [Float] {
        precondition(x.count == columns, "vector has \(x.count) values, the matrix \(columns) columns")
        return [Float](unsafeUninitializedCapacity: rows) { out, initialized in
            x.withUnsafeBufferPointer { products($0, into: out, threads: threads, using: kernels) }
            initialized = rows
        }
    }

    /// The same products, from and into caller memory (`x.count == columns`, `out.count == rows`).
    ///
    /// ```swift
    /// x.withUnsafeBufferPointer { xs in y.withUnsafeMutableBufferPointer { m.products(xs, into: $0) } }
    /// ```
    package func products(_ x: UnsafeBufferPointer<Float>, into out: UnsafeMutableBufferPointer<Float>, threads: Int = 0,
                         using kernels: Kernels = .default) {
        products(rows: 0..<rows, x, into: out, threads: threads, using: kernels)
    }
}

extension BFloat16Matrix {
    /// `out[i]` = row `rows.lowerBound + i` · x for the rows in `rows` only (`x.count == columns`,
    /// `out.count == rows.count`), each row the same bits as `products` gives it: for a caller that
    /// walks a large matrix block by block (a batched LM head). C kernel: `bk_bf16_matvec`.
    package func products(rows range: Range<Int>, _ x: UnsafeBufferPointer<Float>, into out: UnsafeMutableBufferPointer<Float>,
                          threads: Int = 0, using kernels: Kernels = .default) {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) out of 0..<\(rows)")
        precondition(x.count == columns && out.count == range.count,
                     "products of rows \(range) of a \(rows) × \(columns) matrix need \(columns) inputs and \(range.count) outputs, got \(x.count) and \(out.count)")
        bk_bf16_matvec(kernels.table, pointer + range.lowerBound * columns, columns, columns, range.count,
                       x.baseAddress, out.baseAddress, Int32(threads))
    }
}

extension BFloat16Matrix {
    /// `out[t * rows + r]` = row r · x_t for `tokens` vectors (`x` token-major, `tokens × columns`;
    /// `out`: `tokens × rows`), each value the same bits as `products` gives for that vector alone,
    /// but every row is read from memory once for all the tokens (a batched LM head). C kernel:
    /// `bk_bf16_matmul`.
    package func products(tokens: Int, _ x: UnsafeBufferPointer<Float>, into out: UnsafeMutableBufferPointer<Float>,
                          threads: Int = 0, using kernels: Kernels = .default) {
        precondition(tokens >= 0 && x.count == tokens * columns && out.count == tokens * rows,
                     "products of a \(rows) × \(columns) matrix with \(tokens) tokens need \(tokens * columns) inputs and \(tokens * rows) outputs, got \(x.count) and \(out.count)")
        guard tokens > 0 else { return }
        bk_bf16_matmul(kernels.table, pointer, columns, columns, rows, x.baseAddress, columns, tokens,
                       out.baseAddress, rows, Int32(threads))
    }
}

extension Int8Matrix {
    /// `out[i]` = row `rows.lowerBound + i` · x for the rows in `rows` only, each row the same bits
    /// as `products` gives it (see `BFloat16Matrix.products(rows:_:into:threads:using:)`). C kernel:
    /// `bk_i8_matvec`.
    package func products(rows range: Range<Int>, _ x: UnsafeBufferPointer<Float>, into out: UnsafeMutableBufferPointer<Float>,
                          threads: Int = 0, using kernels: Kernels = .default) {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) out of 0..<\(rows)")
        precondition(x.count == columns && out.count == range.count,
                     "products of rows \(range) of a \(rows) × \(columns) matrix need \(columns) inputs and \(range.count) outputs, got \(x.count) and \(out.count)")
        values.withUnsafeBufferPointer { w in
            rowScales.withUnsafeBufferPointer { s in
                bk_i8_matvec(kernels.table, w.baseAddress.map { $0 + range.lowerBound * columns }, columns, columns, range.count,
                             s.baseAddress.map { $0 + range.lowerBound }, x.baseAddress, out.baseAddress, Int32(threads))
            }
        }
    }
}
