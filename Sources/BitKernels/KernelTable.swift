import CBitKernels

// The kernel table behind a `Kernels` handle, entry by entry, for the package's own layers, its
// benchmark harness and its tests: this file and the other files of this module are the only
// Swift code that reaches the C library. Each `package` method calls one table entry with the
// arguments and meaning `bitkernels.h` documents; nothing is checked, so callers pass valid
// pointers and sizes. The public API (BitVector, BitMatrix, TernaryMatrix, ...) is the safe door.

extension Kernels {
    /// One entry of a kernel table and the variant whose code runs it.
    ///
    /// ```swift
    /// for e in Kernels.default.entries { print(e.name, e.isa) }   // popcount avx2, pair_counts avx2, ...
    /// ```
    public struct Entry: Sendable, Equatable, CustomStringConvertible {
        /// The entry's name in the C table (`popcount`, `ternary_matmul`, ...).
        public let name: String
        /// The variant whose code the entry points to. A table is chosen as a whole, so this is the
        /// table's own variant unless that variant reuses another one's code for the entry.
        public let isa: ISA

        public var description: String { "\(name) \(isa)" }
    }

    /// Every entry of this table, in table order, with the variant whose code runs it.
    ///
    /// ```swift
    /// let table = try Kernels.variant(.scalar)
    /// table.entries.count                     // 24
    /// table.entries.allSatisfy { $0.isa == .scalar }   // true
    /// ```
    public var entries: [Entry] {
        // Candidates in order of generality: the first table holding the same function pointer names
        // the code (a table that borrows another variant's function shows that variant).
        let tables = ISA.allCases.compactMap { isa in bk_kernels_for(isa.cValue).map { (isa, $0.pointee) } }
        let mine = table.pointee
        return Self.entryAccessors.map { name, entry in
            let pointer = entry(mine)
            let owner = tables.first { entry($0.1) == pointer }?.0 ?? isa
            return Entry(name: name, isa: owner)
        }
    }

    /// Each table entry's name and its function pointer as a raw address, in `bk_kernels` order.
    static let entryAccessors: [(String, @Sendable (bk_kernels) -> UnsafeRawPointer?)] = [
        ("popcount", { unsafeBitCast($0.popcount, to: UnsafeRawPointer?.self) }),
        ("pair_counts", { unsafeBitCast($0.pair_counts, to: UnsafeRawPointer?.self) }),
        ("and_counts", { unsafeBitCast($0.and_counts, to: UnsafeRawPointer?.self) }),
        ("row_popcounts", { unsafeBitCast($0.row_popcounts, to: UnsafeRawPointer?.self) }),
        ("masked_flip", { unsafeBitCast($0.masked_flip, to: UnsafeRawPointer?.self) }),
        ("random_bits", { unsafeBitCast($0.random_bits, to: UnsafeRawPointer?.self) }),
        ("quantize_token", { unsafeBitCast($0.quantize_token, to: UnsafeRawPointer?.self) }),
        ("ternary_matmul", { unsafeBitCast($0.ternary_matmul, to: UnsafeRawPointer?.self) }),
        ("bf16_dots", { unsafeBitCast($0.bf16_dots, to: UnsafeRawPointer?.self) }),
        ("bf16_dots_tokens", { unsafeBitCast($0.bf16_dots_tokens, to: UnsafeRawPointer?.self) }),
        ("i8_dots", { unsafeBitCast($0.i8_dots, to: UnsafeRawPointer?.self) }),
        ("encode_threshold", { unsafeBitCast($0.encode_threshold, to: UnsafeRawPointer?.self) }),
        ("encode_rank", { unsafeBitCast($0.encode_rank, to: UnsafeRawPointer?.self) }),
        ("encode_rank_blur", { unsafeBitCast($0.encode_rank_blur, to: UnsafeRawPointer?.self) }),
        ("rmsnorm", { unsafeBitCast($0.rmsnorm, to: UnsafeRawPointer?.self) }),
        ("rmsnorm_backward", { unsafeBitCast($0.rmsnorm_backward, to: UnsafeRawPointer?.self) }),
        ("rmsnorm_weight_sums", { unsafeBitCast($0.rmsnorm_weight_sums, to: UnsafeRawPointer?.self) }),
        ("sum_squares", { unsafeBitCast($0.sum_squares, to: UnsafeRawPointer?.self) }),
        ("adamw_update", { unsafeBitCast($0.adamw_update, to: UnsafeRawPointer?.self) }),
        ("requantize", { unsafeBitCast($0.requantize, to: UnsafeRawPointer?.self) }),
        ("softmax_row", { unsafeBitCast($0.softmax_row, to: UnsafeRawPointer?.self) }),
        ("relu2_times", { unsafeBitCast($0.relu2_times, to: UnsafeRawPointer?.self) }),
        ("relu2_backward", { unsafeBitCast($0.relu2_backward, to: UnsafeRawPointer?.self) }),
        ("dequantize_token", { unsafeBitCast($0.dequantize_token, to: UnsafeRawPointer?.self) }),
        ("rope_rotate", { unsafeBitCast($0.rope_rotate, to: UnsafeRawPointer?.self) }),
        ("attention_token", { unsafeBitCast($0.attention_token, to: UnsafeRawPointer?.self) }),
    ]

    /// How many function pointers the C table holds (its size after the `isa` field): a test checks
    /// that `entries` lists every one, so a kernel added in C cannot be missing here.
    package static var tableEntryCount: Int {
        (MemoryLayout<bk_kernels>.size - MemoryLayout<bk_kernels>.offset(of: \.popcount)!) / MemoryLayout<UnsafeRawPointer>.size
    }

    /// The choice `best()` makes for a given override (nil or empty: none), made afresh without
    /// reading the environment: for tests of the dispatcher.
    ///
    /// ```swift
    /// try Kernels.resolve(override: "SCALAR").isa   // .scalar
    /// ```
    package static func resolve(override name: String?) throws(BitKernelsError) -> Kernels {
        var error: UnsafePointer<CChar>?
        guard let table = bk_kernels_resolve(name, &error) else {
            throw .invalidOverride(error.map { String(cString: $0) } ?? "BITKERNELS_ISA=\(name ?? ""): no variant")
        }
        return Kernels(table: table)
    }
}

// MARK: - The entries

extension Kernels {
    /// RMSNorm of one token of `count` values into `y`; returns r = 1 / sqrt(mean(x²) + epsilon)
    /// (entry `rmsnorm`: Σ x² in double, the same bits on every variant).
    ///
    /// ```swift
    /// let r = Kernels.default.rmsNorm(x, weight: w, count: 128, epsilon: 1e-5, into: y)
    /// ```
    @inline(__always)
    package func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, count: Int, epsilon: Float,
                         into y: UnsafeMutablePointer<Float>) -> Float {
        table.pointee.rmsnorm(x, weight, count, epsilon, y)
    }

    /// The input gradient of `rmsNorm` for one token with upstream gradient `g` and its r: written
    /// to `dx`, or added to it when `accumulate` (entry `rmsnorm_backward`).
    @inline(__always)
    package func rmsNormBackward(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, upstream g: UnsafePointer<Float>,
                                 r: Float, count: Int, accumulate: Bool, into dx: UnsafeMutablePointer<Float>) {
        table.pointee.rmsnorm_backward(x, weight, g, r, count, accumulate, dx)
    }

    /// The weight gradient's sums: `acc[i]` += Σ_t g_t[i] · (x_t[i] · r[t]) in double, tokens in
    /// order, columns i < width; token t at `x + t * stride` and `g + t * stride` (entry
    /// `rmsnorm_weight_sums`).
    @inline(__always)
    package func rmsNormWeightSums(_ x: UnsafePointer<Float>, upstream g: UnsafePointer<Float>, stride: Int,
                                   r: UnsafePointer<Float>, tokens: Int, width: Int, into acc: UnsafeMutablePointer<Double>) {
        table.pointee.rmsnorm_weight_sums(x, g, stride, r, tokens, width, acc)
    }

    /// Σ x[i]² in double for i < count, summed as `rmsNorm` sums (entry `sum_squares`).
    ///
    /// ```swift
    /// let ss = Kernels.default.sumOfSquares(gradient, count: gradient.count)
    /// ```
    @inline(__always)
    package func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Double {
        table.pointee.sum_squares(x, count)
    }

    /// The constants of one AdamW step (`adamWUpdate`): the clipping factor, the decoupled decay
    /// 1 − lr·wd, β1, β2, lr / (1 − β1ᵗ), √(1 − β2ᵗ) and ε.
    package typealias AdamWStep = bk_adamw_step

    /// One AdamW update of `count` weights in place, with their gradients and moments (entry
    /// `adamw_update`; the formula in `bitkernels/kernels.h`).
    ///
    /// ```swift
    /// var k = Kernels.AdamWStep(factor: 1, decay: 1 - 1e-4, beta1: 0.9, beta2: 0.99, step_size: 1e-3, bias2_root: 0.1, epsilon: 1e-8)
    /// Kernels.default.adamWUpdate(weights: w, gradients: g, m: m, v: v, count: n, step: &k)
    /// ```
    @inline(__always)
    package func adamWUpdate(weights w: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
                             v: UnsafeMutablePointer<Float>, count: Int, step: UnsafePointer<AdamWStep>) {
        table.pointee.adamw_update(w, g, m, v, count, step)
    }

    /// Ternary (or, with `binary`, binary) codes of `count` latent weights, their dequantized
    /// values and scale (and the binary centre); returns how many codes differ from `previous`
    /// (entry `requantize`).
    @inline(__always)
    package func requantize(_ w: UnsafePointer<Float>, count: Int, binary: Bool, previous: UnsafePointer<Int8>?,
                            codes: UnsafeMutablePointer<Int8>, dequantized: UnsafeMutablePointer<Float>,
                            scale: inout Float, centre: inout Float) -> Int {
        table.pointee.requantize(w, count, binary, previous, codes, dequantized, &scale, &centre)
    }

    /// row[0...last] ← softmax(row[0...last]), the rest of the `count` values ← 0 (entry `softmax_row`).
    @inline(__always)
    package func softmaxRow(_ row: UnsafeMutablePointer<Float>, last: Int, count: Int) {
        table.pointee.softmax_row(row, last, count)
    }

    /// m = relu(g)² · u (entry `relu2_times`).
    @inline(__always)
    package func reluSquaredTimes(_ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>, into m: UnsafeMutablePointer<Float>, count: Int) {
        table.pointee.relu2_times(g, u, m, count)
    }

    /// The gradient of `reluSquaredTimes`: du = dm · relu(g)², dg = 2 · dm · u · relu(g) (entry `relu2_backward`).
    @inline(__always)
    package func reluSquaredBackward(_ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>, _ dm: UnsafePointer<Float>,
                                     dg: UnsafeMutablePointer<Float>, du: UnsafeMutablePointer<Float>, count: Int) {
        table.pointee.relu2_backward(g, u, dm, dg, du, count)
    }

    /// Half-split RoPE of one token in place: `heads` vectors of `dimension` values, the rotation by
    /// `cos`/`sin` of the token's position (dimension / 2 each), or back with `inverse` (entry `rope_rotate`).
    @inline(__always)
    package func ropeRotate(_ x: UnsafeMutablePointer<Float>, heads: Int, dimension d: Int, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>,
                            inverse: Bool) {
        table.pointee.rope_rotate(x, heads, d, cos, sin, inverse)
    }

    /// One query head of one token against `positions` keys and values `stride` floats apart:
    /// softmax((q · k_p) · scale) into `scores`, Σ_p scores[p] · v_p into `out` (entry `attention_token`).
    @inline(__always)
    package func attentionToken(_ q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                                positions: Int, stride: Int, dimension d: Int, scale: Float,
                                scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
        table.pointee.attention_token(q, keys, values, positions, stride, d, scale, scores, out)
    }

    /// Causal attention of one token over every head (`bk_attention_decode`): query head h reads kv
    /// head h / (heads / kvHeads) of `positions` cached keys and values (position p's kv head j at
    /// p · positionStride + j · headStride floats); `scores` holds heads × positions floats, `out`
    /// gets heads × d. Heads are shared among up to `threads` OpenMP threads when the work pays;
    /// the values do not depend on it.
    package func attentionDecode(_ q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                                 positions: Int, heads: Int, kvHeads: Int, dimension d: Int, positionStride: Int, headStride: Int,
                                 scale: Float, scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, threads: Int) {
        bk_attention_decode(table, q, keys, values, positions, heads, kvHeads, d, positionStride, headStride, scale, scores, out,
                            Int32(clamping: threads))
    }

    /// out[i] = q[i] / s for i < count (entry `dequantize_token`).
    @inline(__always)
    package func dequantizeToken(_ q: UnsafePointer<Int8>, count: Int, scale s: Float, into out: UnsafeMutablePointer<Float>) {
        table.pointee.dequantize_token(q, count, s, out)
    }

    /// Σ popcount(words[i]) for i < count (entry `popcount`).
    ///
    /// ```swift
    /// let n = Kernels.default.popcount(words, count: words.count)
    /// ```
    @inline(__always)
    package func popcount(_ words: UnsafePointer<UInt64>?, count: Int) -> UInt64 {
        table.pointee.popcount(words, count)
    }

    /// |a AND b|, |a XOR b|, |a OR b| over `count` words (entry `pair_counts`).
    @inline(__always)
    package func pairCounts(_ a: UnsafePointer<UInt64>?, _ b: UnsafePointer<UInt64>?, count: Int) -> PairCounts {
        let c = table.pointee.pair_counts(a, b, count)
        return PairCounts(shared: Int(c.and_count), differing: Int(c.xor_count), union: Int(c.or_count))
    }

    /// out[r] = |query AND row r| for rows at `rows + r * strideWords` (entry `and_counts`).
    @inline(__always)
    package func andCounts(query: UnsafePointer<UInt64>?, rows: UnsafePointer<UInt64>?, strideWords: Int, wordCount: Int,
                           rowCount: Int, into out: UnsafeMutablePointer<UInt32>?) {
        table.pointee.and_counts(query, rows, strideWords, wordCount, rowCount, out)
    }

    /// out[r] = popcount(row r) (entry `row_popcounts`).
    @inline(__always)
    package func rowPopcounts(rows: UnsafePointer<UInt64>?, strideWords: Int, wordCount: Int, rowCount: Int,
                              into out: UnsafeMutablePointer<UInt32>?) {
        table.pointee.row_popcounts(rows, strideWords, wordCount, rowCount, out)
    }

    /// cur[i] ^= (target[i] ^ cur[i]) & mask[i] for i < count (entry `masked_flip`).
    @inline(__always)
    package func maskedFlip(_ cur: UnsafeMutablePointer<UInt64>?, toward target: UnsafePointer<UInt64>?,
                            where mask: UnsafePointer<UInt64>?, count: Int) {
        table.pointee.masked_flip(cur, target, mask, count)
    }

    /// Fills `count` words with bits set with probability threshold / 65536, advancing the
    /// generator (entry `random_bits`; `BitMask.threshold(density:)` gives the threshold).
    ///
    /// ```swift
    /// var g = BitMask(seed: 1)
    /// kernels.randomBits(&g, into: buffer, count: 16, threshold: BitMask.threshold(density: 0.1))
    /// ```
    @inline(__always)
    package func randomBits(_ generator: inout BitMask, into out: UnsafeMutablePointer<UInt64>?, count: Int, threshold: UInt32) {
        table.pointee.random_bits(&generator.rng, out, count, threshold)
    }

    /// Absmax int8 quantization of one token of `count` floats into `q`; returns the scale and
    /// sets `sum` = Σ q (entry `quantize_token`).
    @inline(__always)
    package func quantizeToken(_ x: UnsafePointer<Float>?, count: Int, into q: UnsafeMutablePointer<Int8>?,
                               sum: inout Int32) -> Float {
        table.pointee.quantize_token(x, count, q, &sum)
    }

    /// Exact int32 products of packed ternary rows with int8 tokens (entry `ternary_matmul`;
    /// arguments as `bitkernels.h` documents them).
    @inline(__always)
    package func ternaryMatmul(packed: UnsafePointer<UInt8>?, blockCount: Int, rowCount: Int, x: UnsafePointer<Int8>?,
                               xStride: Int, xSums: UnsafePointer<Int32>?, tokenCount: Int,
                               into out: UnsafeMutablePointer<Int32>?, outStride: Int) {
        table.pointee.ternary_matmul(packed, blockCount, rowCount, x, xStride, xSums, tokenCount, out, outStride)
    }

    /// out[r] = Σ_i bf16 row r[i] · x[i], rows `stride` elements apart (entry `bf16_dots`).
    @inline(__always)
    package func bf16Dots(rows: UnsafePointer<UInt16>?, stride: Int, count n: Int, rowCount: Int,
                          x: UnsafePointer<Float>?, into out: UnsafeMutablePointer<Float>?) {
        table.pointee.bf16_dots(rows, stride, n, rowCount, x, out)
    }

    /// out[t * outStride + r] = the `bf16Dots` value of row r with token t (at x + t * xStride), for
    /// `tokenCount` tokens, each row read once (entry `bf16_dots_tokens`).
    @inline(__always)
    package func bf16DotsTokens(rows: UnsafePointer<UInt16>?, stride: Int, count n: Int, rowCount: Int,
                                x: UnsafePointer<Float>?, xStride: Int, tokenCount: Int,
                                into out: UnsafeMutablePointer<Float>?, outStride: Int) {
        table.pointee.bf16_dots_tokens(rows, stride, n, rowCount, x, xStride, tokenCount, out, outStride)
    }

    /// out[r] = Σ_i int8 row r[i] · x[i], rows `stride` elements apart (entry `i8_dots`).
    @inline(__always)
    package func i8Dots(rows: UnsafePointer<Int8>?, stride: Int, count n: Int, rowCount: Int,
                        x: UnsafePointer<Float>?, into out: UnsafeMutablePointer<Float>?) {
        table.pointee.i8_dots(rows, stride, n, rowCount, x, out)
    }

    /// `count` pixels to bits, bit i = pixel i > level, into ceil(count / 64) words (entry `encode_threshold`).
    @inline(__always)
    package func encodeThreshold(_ pixels: UnsafePointer<UInt8>?, count: Int, level: UInt8, into out: UnsafeMutablePointer<UInt64>?) {
        table.pointee.encode_threshold(pixels, count, level, out)
    }

    /// `count` pixels to exactly k bits, the k brightest (ties: lowest index) (entry `encode_rank`).
    @inline(__always)
    package func encodeRank(_ pixels: UnsafePointer<UInt8>?, count: Int, k: Int, into out: UnsafeMutablePointer<UInt64>?) {
        table.pointee.encode_rank(pixels, count, k, out)
    }

    /// A rows × columns image to exactly k bits, the k brightest, ties to the brightest 3 × 3
    /// neighbourhood, then the lowest index; `scratch` holds rows · columns values (entry `encode_rank_blur`).
    @inline(__always)
    package func encodeRankBlur(_ pixels: UnsafePointer<UInt8>?, rows: Int, columns: Int, k: Int,
                                scratch: UnsafeMutablePointer<UInt16>?, into out: UnsafeMutablePointer<UInt64>?) {
        table.pointee.encode_rank_blur(pixels, rows, columns, k, scratch, out)
    }
}

// MARK: - Scoring over rows in caller memory

/// Rows of bit-vectors in caller memory (the C `bk_rows`): `rowCount` rows of `wordCount` words,
/// row r at `words + r * strideWords`, with each row's popcount when `rowPopcounts` is not nil.
///
/// ```swift
/// let view = RowsView(words: p, strideWords: 13, wordCount: 13, rowCount: n, rowPopcounts: nil)
/// let best = kernels.scoreWinner(.jaccard, query: q, rows: view, threads: 1)
/// ```
package struct RowsView {
    package var words: UnsafePointer<UInt64>?
    package var strideWords: Int
    package var wordCount: Int
    package var rowCount: Int
    package var rowPopcounts: UnsafePointer<UInt32>?

    package init(words: UnsafePointer<UInt64>?, strideWords: Int, wordCount: Int, rowCount: Int,
                 rowPopcounts: UnsafePointer<UInt32>?) {
        self.words = words
        self.strideWords = strideWords
        self.wordCount = wordCount
        self.rowCount = rowCount
        self.rowPopcounts = rowPopcounts
    }

    var c: bk_rows {
        bk_rows(words: words, stride_words: strideWords, word_count: wordCount, row_count: rowCount, row_popcounts: rowPopcounts)
    }
}

extension Kernels {
    /// Every row's score into `scores[0 ..< rows.rowCount]` (`bk_score_rows`).
    package func scoreRows(_ score: Score, query: UnsafePointer<UInt64>?, rows: RowsView,
                           into scores: UnsafeMutablePointer<Float>?, threads: Int) {
        var view = rows.c
        bk_score_rows(table, score.cValue, query, &view, scores, Int32(threads))
    }

    /// The best row, or nil when there are no rows (`bk_score_winner`).
    package func scoreWinner(_ score: Score, query: UnsafePointer<UInt64>?, rows: RowsView, threads: Int) -> Match? {
        var view = rows.c
        return Match(bk_score_winner(table, score.cValue, query, &view, Int32(threads)))
    }

    /// The best min(top, rowCount) rows, best first (`bk_score_top`).
    package func scoreTop(_ score: Score, query: UnsafePointer<UInt64>?, rows: RowsView, top: Int, threads: Int) -> [Match] {
        var view = rows.c
        var out = [bk_match](repeating: bk_match(), count: top)
        let n = bk_score_top(table, score.cValue, query, &view, top, &out, Int32(threads))
        return out.prefix(n).compactMap(Match.init)
    }
}

// MARK: - Yardsticks

/// The loops benchmarks compare kernels against, measured in the same run: a summing read of a
/// buffer (the read bandwidth) and plain POPCNT-instruction loops.
///
/// ```swift
/// let sum = Yardstick.readSum(buffer, count: n, threads: 2)
/// ```
package enum Yardstick {
    /// Sums `count` words as fast as the CPU reads them, each of `threads` OpenMP threads a
    /// contiguous share (0 = the default team).
    package static func readSum(_ words: UnsafePointer<UInt64>?, count: Int, threads: Int) -> UInt64 {
        bk_read_sum_parallel(words, count, Int32(threads))
    }

    /// Byte multiply-adds per second of VPDPBUSD on this core: zmm for `.avx512`, ymm for
    /// `.avxVNNI` (independent chains in registers, the fastest sample over `seconds`); nil for
    /// other variants or a CPU without them (`bk_measure_vpdpbusd_peak`).
    package static func vpdpbusdPeak(_ isa: ISA, seconds: Double = 0.2) -> Double? {
        guard isa == .avx512 || isa == .avxVNNI else { return nil }
        let peak = bk_measure_vpdpbusd_peak(isa.cValue, seconds)
        return peak > 0 ? peak : nil
    }

    /// The scalar popcount loop compiled with the POPCNT instruction (x86 CPUs with POPCNT only).
    package static func popcountLoop(_ words: UnsafePointer<UInt64>?, count: Int) -> UInt64 {
        bk_popcount_popcnt_loop(words, count)
    }

    /// The scalar pair-counts loop compiled with the POPCNT instruction (x86 CPUs with POPCNT only).
    package static func pairCountsLoop(_ a: UnsafePointer<UInt64>?, _ b: UnsafePointer<UInt64>?, count: Int) -> PairCounts {
        let c = bk_pair_counts_popcnt_loop(a, b, count)
        return PairCounts(shared: Int(c.and_count), differing: Int(c.xor_count), union: Int(c.or_count))
    }
}

extension BitMask {
    /// A density in 0...1 as the generator's threshold: round(p · 65536).
    package static func threshold(density p: Double) -> UInt32 { bk_density_threshold(p) }
}

extension TernaryMatrix {
    /// Weights per packed block (256) and bytes per block (64).
    package static let blockWeights = Int(BK_TERNARY_BLOCK), blockBytes = Int(BK_TERNARY_BLOCK_BYTES)

    /// Blocks per packed row: ceil(columns / 256).
    package static func blockCount(columns: Int) -> Int { bk_ternary_block_count(columns) }

    /// Bytes of a packed rows × columns matrix (rows rounded up to a multiple of four).
    package static func packedByteCount(rows: Int, columns: Int) -> Int { bk_ternary_packed_bytes(rows, columns) }

    /// Where block `block` of row `row` starts in a packed matrix of `blockCount` blocks per row.
    package static func blockOffset(blockCount: Int, row: Int, block: Int) -> Int {
        bk_ternary_block_offset(blockCount, row, block)
    }

    /// The packed bytes exactly as the kernels read them (`packedByteCount(rows:columns:)` bytes).
    package var packedLayout: [UInt8] {
        Array(UnsafeBufferPointer(start: packedBytes, count: Self.packedByteCount(rows: rows, columns: columns)))
    }
}

extension Kernels {
    /// How far ahead, in bytes, the ternary kernels of the x86 variants prefetch their
    /// weight stream (`bk_stream_prefetch_distance`), and the AVX-512 scan of short bit rows (scoring,
    /// winner search) its row stream; 0 = no software prefetch. Chosen once per CPU
    /// (`defaultStreamPrefetchDistance`: 4 KiB on Intel, none elsewhere); setting it changes it for the
    /// process (rounded down to a multiple of 256, at most 64 KiB) — for the tuner and benchmarks.
    ///
    /// ```swift
    /// Kernels.streamPrefetchDistance = 0  // the hardware prefetchers alone
    /// ```
    package static var streamPrefetchDistance: Int {
        get { Int(bk_stream_prefetch_distance()) }
        set { bk_stream_prefetch_set_distance(newValue > 0 ? newValue : 0) }
    }

    /// This CPU's choice for `streamPrefetchDistance` (`bk_stream_prefetch_default_distance`).
    package static var defaultStreamPrefetchDistance: Int { Int(bk_stream_prefetch_default_distance()) }

    /// Whether the AVX-512 variant's eight-token GEMM tile decodes the weights with GFNI
    /// (`bk_ternary_gfni_decode`; one GF2P8AFFINEQB per bit plane instead of shifts and ANDs). On
    /// by default where the CPU has GFNI; setting `false` selects the shift decode for the process
    /// (tests run both, benchmarks compare them); `true` without GFNI leaves it off. The products
    /// are the same either way.
    ///
    /// ```swift
    /// Kernels.ternaryGFNIDecode = false  // the shift decode
    /// ```
    package static var ternaryGFNIDecode: Bool {
        get { bk_ternary_gfni_decode() }
        set { bk_ternary_set_gfni_decode(newValue) }
    }
}
