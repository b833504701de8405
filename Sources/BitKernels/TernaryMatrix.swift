import CBitKernels

/// A BitNet b1.58 weight matrix: `rows × columns` weights in {-1, 0, +1}, one scale per row,
/// packed 2 bits per weight in the layout every kernel variant reads (blocks of 256 weights,
/// 64 bytes each, the last block of a row padded with zeros; rows interleaved in groups of four).
///
/// ```swift
/// let w = TernaryMatrix.quantizing(latent, rows: 2560, columns: 2560)   // absmean, per tensor
/// let y = w.apply(x, tokens: 1)                                          // BitLinear forward
/// ```
public struct TernaryMatrix: Sendable {
    /// Output rows (one per output feature).
    public let rows: Int
    /// Input columns (the length of one token's activations).
    public let columns: Int
    /// The scale of each row: output = scale · Σ w · x.
    public let rowScales: [Float]
    let storage: WordStorage  // bk_ternary_packed_bytes(rows, columns) bytes, never mutated after init

    var blockCount: Int { bk_ternary_block_count(columns) }
    var rowBytes: Int { blockCount * Int(BK_TERNARY_BLOCK_BYTES) }

    /// Bytes of packed weights (what one product reads).
    public var packedByteCount: Int { rows * rowBytes }

    /// Bits of storage per weight, padding included (2 when `columns` is a multiple of 256 and
    /// `rows` of 4).
    public var bitsPerWeight: Double {
        rows * columns == 0 ? 2 : Double(bk_ternary_packed_bytes(rows, columns) * 8) / Double(rows * columns)
    }

    /// Packs weights given row-major as -1, 0 or +1, with one scale for the whole matrix.
    /// Throws `invalidWeight` for any other value and `sizeMismatch` for a wrong count.
    public init(values: [Int8], rows: Int, columns: Int, scale: Float = 1) throws(TernaryFormatError) {
        try self.init(values: values, rows: rows, columns: columns,
                      rowScales: [Float](repeating: scale, count: max(rows, 0)))
    }

    /// Packs weights given row-major as -1, 0 or +1, with one scale per row.
    public init(values: [Int8], rows: Int, columns: Int, rowScales: [Float]) throws(TernaryFormatError) {
        precondition(rows >= 0 && columns >= 0, "negative shape \(rows) × \(columns)")
        guard values.count == rows * columns else {
            throw .sizeMismatch(what: "weights of a \(rows) × \(columns) matrix", expected: rows * columns, actual: values.count)
        }
        guard rowScales.count == rows else {
            throw .sizeMismatch(what: "row scales", expected: rows, actual: rowScales.count)
        }
        self.rows = rows
        self.columns = columns
        self.rowScales = rowScales
        storage = WordStorage(capacity: bk_ternary_packed_bytes(rows, columns) / 8)
        let bad = values.withUnsafeBufferPointer { v in
            bk_ternary_pack(v.baseAddress, rows, columns, UnsafeMutableRawPointer(storage.base).assumingMemoryBound(to: UInt8.self))
        }
        if bad >= 0 { throw .invalidWeight(index: Int(bad), value: Int(values[Int(bad)])) }
    }

    private init(rows: Int, columns: Int, rowScales: [Float], storage: WordStorage) {
        self.rows = rows
        self.columns = columns
        self.rowScales = rowScales
        self.storage = storage
    }

    /// The same matrices with their packed weights copied into one buffer on huge pages
    /// (`WordStorage(hugePagesCapacity:)`), one after the other, each 64-byte aligned: a model's
    /// matrices, read once per generated token in this order, then stream from memory mapped by a
    /// few hundred 2 MiB pages instead of 4 KiB pages scattered by the loading. Same values.
    package static func storedTogether(_ matrices: [TernaryMatrix]) -> [TernaryMatrix] {
        let words = matrices.map { ($0.storage.capacity + 7) / 8 * 8 }  // whole storage, padding slots included
        let arena = WordStorage(hugePagesCapacity: words.reduce(0, +))
        var offset = 0
        return zip(matrices, words).map { m, n in
            let slice = WordStorage(slice: arena, offset: offset, capacity: n)
            slice.base.update(from: m.storage.base, count: m.storage.capacity)
            offset += n
            return TernaryMatrix(rows: m.rows, columns: m.columns, rowScales: m.rowScales, storage: slice)
        }
    }

    /// Absmean ternarization of float weights (BitNet b1.58, as transformers' `weight_quant`):
    /// scale = mean |W| (per tensor, or per row when `perRow`), w = RoundClip(W / scale, -1, 1).
    public static func quantizing(_ weights: [Float], rows: Int, columns: Int, perRow: Bool = false) -> TernaryMatrix {
        precondition(weights.count == rows * columns,
                     "weights: expected \(rows) × \(columns) = \(rows * columns) values, got \(weights.count)")
        var values = [Int8](repeating: 0, count: weights.count)
        var scales = [Float](repeating: 0, count: perRow ? rows : 1)
        bk_ternarize_absmean(weights, rows, columns, perRow, &values, &scales)
        let rowScales = perRow ? scales : [Float](repeating: scales[0], count: rows)
        return try! TernaryMatrix(values: values, rows: rows, columns: columns, rowScales: rowScales)  // values are ternary by construction
    }

    /// The weights, row-major, as -1, 0 or +1.
    public var values: [Int8] {
        var out = [Int8](repeating: 0, count: rows * columns)
        _ = bk_ternary_unpack(packedBytes, rows, columns, &out)
        return out
    }

    var packedBytes: UnsafePointer<UInt8> { UnsafeRawPointer(storage.base).assumingMemoryBound(to: UInt8.self) }

    func withMatrix<R>(_ body: (UnsafePointer<bk_ternary_matrix>) throws -> R) rethrows -> R {
        try rowScales.withUnsafeBufferPointer { s in
            var m = bk_ternary_matrix(packed: packedBytes, rows: rows, cols: columns, block_count: blockCount,
                                      row_scales: s.baseAddress)
            return try body(&m)
        }
    }
}

// MARK: - Products

extension TernaryMatrix {
    /// The BitLinear output for tokens already quantized: `y[t * rows + r] = (Σ_k W[r,k] · q_t[k]) ·
    /// rowScales[r] / scale_t`, token-major.
    public func multiply(_ x: QuantizedTokens, threads: Int = 0, using kernels: Kernels = .default) -> [Float] {
        check(x)
        // Every product is written by the kernel: no zeroing pass before it (at training's shapes
        // that pass cost as much as a tenth of the product).
        return [Float](unsafeUninitializedCapacity: x.count * rows) { y, initialized in
            withMatrix { m in
                x.withTokens { q, stride, sums, scales in
                    bk_ternary_matmul_f32(kernels.table, m, q, stride, sums, scales, x.count, y.baseAddress, rows, Int32(threads))
                }
            }
            initialized = x.count * rows
        }
    }

    /// The exact integer products `Σ_k W[r,k] · q_t[k]`, token-major (`t * rows + r`).
    public func integerProducts(_ x: QuantizedTokens, threads: Int = 0, using kernels: Kernels = .default) -> [Int32] {
        check(x)
        var out = [Int32](repeating: 0, count: x.count * rows)
        withMatrix { m in
            x.withTokens { q, stride, sums, _ in
                bk_ternary_matmul_i32(kernels.table, m, q, stride, sums, x.count, &out, rows, Int32(threads))
            }
        }
        return out
    }

    /// BitLinear on float activations: quantizes each of `tokens` tokens (absmax int8) and multiplies.
    /// `x` holds `tokens × columns` values, token-major; the result `tokens × rows`.
    public func apply(_ x: [Float], tokens: Int, threads: Int = 0, using kernels: Kernels = .default) -> [Float] {
        multiply(QuantizedTokens(x, tokens: tokens, columns: columns, using: kernels), threads: threads, using: kernels)
    }

    /// The pointer form for training's hot loop (package API): `tokens` tokens already quantized by
    /// `QuantizedTokens.quantize` (int8 rows `stride` bytes apart, zero-padded, with their sums and
    /// scales), products written to `y[t * yStride + r]`. The caller guarantees the sizes.
    package func multiply(quantized q: UnsafePointer<Int8>, stride: Int, sums: UnsafePointer<Int32>, scales: UnsafePointer<Float>,
                          tokens: Int, into y: UnsafeMutablePointer<Float>, yStride: Int, threads: Int = 1,
                          using kernels: Kernels = .default) {
        precondition(stride >= QuantizedTokens.stride(columns: columns) && yStride >= rows, "multiply(quantized:): bad strides")
        withMatrix { m in bk_ternary_matmul_f32(kernels.table, m, q, stride, sums, scales, tokens, y, yStride, Int32(threads)) }
    }

    private func check(_ x: QuantizedTokens) {
        precondition(x.columns == columns,
                     "shape mismatch: tokens have \(x.columns) values, the matrix has \(columns) columns")
    }
}

/// Activations quantized per token to int8 (absmax: q = round(x · 127 / max|x|)), each token with
/// its scale, stored zero-padded to the matrix kernels' block size.
///
/// ```swift
/// let q = QuantizedTokens(x, tokens: 8, columns: 2560)
/// let y = w.multiply(q)     // 8 × w.rows outputs
/// ```
public struct QuantizedTokens: Sendable {
    /// Number of tokens.
    public let count: Int
    /// Columns of each token (the matrix's input width).
    public let columns: Int
    /// Per token: q ≈ x · scale.
    public let scales: [Float]
    let sums: [Int32]
    let storage: WordStorage  // count × stride bytes
    let stride: Int

    static func stride(columns: Int) -> Int { bk_ternary_block_count(columns) * Int(BK_TERNARY_BLOCK) }

    /// Quantizes `tokens × columns` floats (token-major). Values must be finite.
    public init(_ x: [Float], tokens: Int, columns: Int, using kernels: Kernels = .default) {
        precondition(tokens >= 0 && columns >= 0, "negative shape \(tokens) × \(columns)")
        precondition(x.count == tokens * columns,
                     "activations: expected \(tokens) × \(columns) = \(tokens * columns) values, got \(x.count)")
        count = tokens
        self.columns = columns
        stride = Self.stride(columns: columns)
        // Every byte (padding included) is written by the quantizer: no zero-fill first.
        storage = WordStorage(uninitializedCapacity: max(tokens * stride / 8, 1))
        var scales = [Float](repeating: 0, count: tokens), sums = [Int32](repeating: 0, count: tokens)
        let q = UnsafeMutableRawPointer(storage.base).assumingMemoryBound(to: Int8.self)
        // Checked and quantized ~16 KiB of values at a time, so that the quantizer reads them from
        // L1 rather than once more from memory (at training's shapes the check, a pass over 768
        // KiB, then cost as much as the quantization).
        let chunk = max(1, 4096 / max(columns, 1)), padded = stride, table = kernels.table
        x.withUnsafeBufferPointer { xs in
            scales.withUnsafeMutableBufferPointer { sc in
                sums.withUnsafeMutableBufferPointer { su in
                    for t in Swift.stride(from: 0, to: tokens, by: chunk) {
                        let n = min(chunk, tokens - t)
                        let values = xs.baseAddress.map { $0 + t * columns }
                        precondition(bk_floats_finite(table, values, n * columns),
                                     "activations must be finite (found NaN or infinity)")
                        bk_quantize_tokens(table, values, columns, columns, n, q + t * padded, padded,
                                           sc.baseAddress! + t, su.baseAddress! + t)
                    }
                }
            }
        }
        self.scales = scales
        self.sums = sums
    }

    /// Bytes between tokens in the kernels' padded int8 layout for `columns` values.
    package static func paddedStride(columns: Int) -> Int { stride(columns: columns) }

    /// The pointer form of the quantizer for training (package API): `tokens` rows of `columns`
    /// floats (`xStride` apart) into int8 rows `stride` bytes apart (zero-padded), with each token's
    /// scale and sum. Values must be finite; the caller guarantees the sizes.
    package static func quantize(_ x: UnsafePointer<Float>, xStride: Int, columns: Int, tokens: Int, into q: UnsafeMutablePointer<Int8>,
                                 stride: Int, scales: UnsafeMutablePointer<Float>, sums: UnsafeMutablePointer<Int32>,
                                 using kernels: Kernels = .default) {
        precondition(stride >= Self.stride(columns: columns) && xStride >= columns, "quantize: bad strides")
        bk_quantize_tokens(kernels.table, x, xStride, columns, tokens, q, stride, scales, sums)
    }

    /// Tokens already quantized: `values` holds `scales.count × columns` int8 values, token-major.
    public init(values: [Int8], scales: [Float], columns: Int) {
        precondition(columns >= 0, "negative column count \(columns)")
        precondition(values.count == scales.count * columns,
                     "values: expected \(scales.count) tokens × \(columns) = \(scales.count * columns), got \(values.count)")
        count = scales.count
        self.columns = columns
        self.scales = scales
        stride = Self.stride(columns: columns)
        storage = WordStorage(capacity: max(count * stride / 8, 1))
        let q = UnsafeMutableRawPointer(storage.base).assumingMemoryBound(to: Int8.self)
        var sums = [Int32](repeating: 0, count: count)
        for t in 0..<count {
            var s: Int32 = 0
            for c in 0..<columns {
                q[t * stride + c] = values[t * columns + c]
                s += Int32(values[t * columns + c])
            }
            sums[t] = s
        }
        self.sums = sums
    }

    /// The int8 values, token-major, without padding.
    public var values: [Int8] {
        let q = UnsafeRawPointer(storage.base).assumingMemoryBound(to: Int8.self)
        return (0..<count).flatMap { t in (0..<columns).map { q[t * stride + $0] } }
    }

    func withTokens<R>(_ body: (UnsafePointer<Int8>, Int, UnsafePointer<Int32>, UnsafePointer<Float>) throws -> R) rethrows -> R {
        try sums.withUnsafeBufferPointer { s in
            try scales.withUnsafeBufferPointer { sc in
                try body(UnsafeRawPointer(storage.base).assumingMemoryBound(to: Int8.self), stride,
                         s.baseAddress ?? UnsafePointer(bitPattern: 8)!, sc.baseAddress ?? UnsafePointer(bitPattern: 8)!)
            }
        }
    }
}

/// Whether every value is finite (not NaN nor infinite), in one branch-free vector pass
/// (`allSatisfy(\.isFinite)` stops at the first failure, so it stays a scalar loop: at training's
/// shapes it took half the time of the product it guarded).
package func allFiniteValues(_ x: [Float], using kernels: Kernels = .default) -> Bool {
    x.withUnsafeBufferPointer { bk_floats_finite(kernels.table, $0.baseAddress, $0.count) }
}
