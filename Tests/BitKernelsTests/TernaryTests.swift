import BitKernels
import Testing

/// Random ternary weights: each -1, 0 or +1.
func randomTernary(_ count: Int, rng: inout SplitMix64) -> [Int8] {
    (0..<count).map { _ in Int8(Int(rng.next() % 3) - 1) }
}

func randomInt8(_ count: Int, rng: inout SplitMix64) -> [Int8] {
    (0..<count).map { _ in Int8(truncatingIfNeeded: rng.next()) }
}

/// The products by definition, in Swift: out[t * rows + r] = Σ_k W[r,k] x_t[k].
func naiveProducts(_ w: [Int8], rows: Int, columns: Int, _ x: [Int8], tokens: Int) -> [Int32] {
    var out = [Int32](repeating: 0, count: rows * tokens)
    for t in 0..<tokens {
        for r in 0..<rows {
            var s: Int32 = 0
            for c in 0..<columns { s += Int32(w[r * columns + c]) * Int32(x[t * columns + c]) }
            out[t * rows + r] = s
        }
    }
    return out
}

/// Ternary GEMV/GEMM and activation quantization: every variant against the scalar reference
/// (and the reference against the definition), exactly.
@Suite struct TernaryKernelTests {
    /// Columns around the 256-weight block and its 16/32/64-byte slices; rows around the 4-row
    /// GEMV tile, the 8-row GEMM panel and AVX-512's 4 × 4 GEMM tile (whole row groups plus a
    /// partial one); tokens around the 4-token tile. 11 and 14 rows: AVX-512's two-row 8-token
    /// tile over a second panel, ending in a lone row (11) or in a pair of a partial group (14).
    // 4353: GEMM column chunks of 16 blocks + a partial one; 192, 344, 688: last blocks of 3, 2 and 3
    // planes (training's narrow rows, whose AVX-512 products skip the planes past the columns).
    static let columnCounts = [1, 2, 63, 64, 65, 127, 128, 129, 192, 255, 256, 257, 344, 511, 512, 513, 688, 700, 1000, 2560, 4353]
    static let rowCounts = [1, 2, 3, 4, 5, 7, 8, 9, 11, 14, 17]
    static let tokenCounts = [1, 2, 3, 4, 5, 7, 8, 9, 16, 33, 64]

    @Test(arguments: ISA.supported, columnCounts)
    func productsMatchDefinition(isa: ISA, columns: Int) throws {
        let kernels = try Kernels.variant(isa)
        var rng = SplitMix64(seed: UInt64(columns) &* 1_000_003)
        for rows in Self.rowCounts {
            for tokens in [1, 2, 5] + ([5, 8, 11, 14, 17].contains(rows) ? Self.tokenCounts : []) {
                let w = randomTernary(rows * columns, rng: &rng), x = randomInt8(tokens * columns, rng: &rng)
                let m = try TernaryMatrix(values: w, rows: rows, columns: columns)
                let q = QuantizedTokens(values: x, scales: [Float](repeating: 1, count: tokens), columns: columns)
                let got = m.integerProducts(q, threads: 1, using: kernels)
                #expect(got == naiveProducts(w, rows: rows, columns: columns, x, tokens: tokens),
                        "isa \(isa) \(rows) × \(columns), \(tokens) tokens")
            }
        }
    }

    /// Narrow rows (at most four blocks, training's) against many tokens: AVX-512 multiplies them
    /// slab by slab (32 rows unpacked to code dwords, tiles of 12 tokens), so rows around 16 and 32
    /// and token counts around 12 and 16, on columns that end in 1-4 planes of their last block.
    @Test(arguments: ISA.supported)
    func manyTokenNarrowProductsMatchDefinition(isa: ISA) throws {
        let kernels = try Kernels.variant(isa)
        var rng = SplitMix64(seed: 1234)
        // The AVX-512 slab GEMM's edges: 64-row slabs (a last one of 1-4 16-row vectors, rows
        // masked within), 6-token tiles (remainders 0-5), 1-4 blocks with 1-4 planes in the last.
        for (rows, columns, tokens) in [(16, 128, 16), (31, 129, 17), (32, 192, 24), (33, 256, 25), (47, 344, 36), (64, 688, 37),
                                        (70, 1000, 13 + 16), (18, 1024, 100), (96, 64, 60), (65, 64, 19), (80, 300, 20),
                                        (97, 128, 21), (113, 840, 22), (128, 192, 23), (129, 688, 16), (344, 128, 31),
                                        (688, 256, 18)] {
            let w = randomTernary(rows * columns, rng: &rng), x = randomInt8(tokens * columns, rng: &rng)
            let m = try TernaryMatrix(values: w, rows: rows, columns: columns)
            let q = QuantizedTokens(values: x, scales: [Float](repeating: 1, count: tokens), columns: columns)
            #expect(m.integerProducts(q, threads: 1, using: kernels) == naiveProducts(w, rows: rows, columns: columns, x, tokens: tokens),
                    "isa \(isa) \(rows) × \(columns), \(tokens) tokens")
            #expect(m.integerProducts(q, threads: 2, using: kernels) == naiveProducts(w, rows: rows, columns: columns, x, tokens: tokens),
                    "isa \(isa) \(rows) × \(columns), \(tokens) tokens, 2 threads")
        }
    }

    /// The int16 partial sums and the offset trick at their limits: all weights +1 or -1 against
    /// activations of -128 and 127, for a long row (6912 = BitNet's FFN width).
    @Test(arguments: ISA.supported)
    func extremeValuesAreExact(isa: ISA) throws {
        let kernels = try Kernels.variant(isa)
        for columns in [256, 6912, 6913] {
            for (wv, xv) in [(Int8(1), Int8(-128)), (-1, -128), (1, 127), (-1, 127), (0, -128)] {
                let w = [Int8](repeating: wv, count: 4 * columns), x = [Int8](repeating: xv, count: 9 * columns)
                let m = try TernaryMatrix(values: w, rows: 4, columns: columns)
                for tokens in [1, 9] {
                    let q = QuantizedTokens(values: Array(x.prefix(tokens * columns)), scales: [Float](repeating: 1, count: tokens), columns: columns)
                    let expected = Int32(wv) * Int32(xv) * Int32(columns)
                    #expect(m.integerProducts(q, using: kernels).allSatisfy { $0 == expected },
                            "isa \(isa) w \(wv) x \(xv) columns \(columns) tokens \(tokens)")
                }
            }
        }
    }

    /// Two threads split the rows; the products must not change (rows not a multiple of 4 too).
    @Test(arguments: ISA.supported)
    func threadedProductsMatch(isa: ISA) throws {
        let kernels = try Kernels.variant(isa)
        var rng = SplitMix64(seed: 99)
        let rows = 1003, columns = 777
        let m = try TernaryMatrix(values: randomTernary(rows * columns, rng: &rng), rows: rows, columns: columns)
        for tokens in [1, 6] {
            let q = QuantizedTokens(values: randomInt8(tokens * columns, rng: &rng), scales: [Float](repeating: 1, count: tokens), columns: columns)
            #expect(m.integerProducts(q, threads: 2, using: kernels) == m.integerProducts(q, threads: 1, using: .scalarReference))
        }
    }

    @Test(arguments: ISA.supported)
    func quantizedTokensMatchReference(isa: ISA) throws {
        let kernels = try Kernels.variant(isa)
        var rng = SplitMix64(seed: 7)
        for columns in Array(0...70) + [255, 256, 257, 1000, 2560, 6912] {
            let x = (0..<(3 * columns)).map { _ in Float(Int64(bitPattern: rng.next() % 2_000_001) - 1_000_000) / 1000 }
            let fast = QuantizedTokens(x, tokens: 3, columns: columns, using: kernels)
            let ref = QuantizedTokens(x, tokens: 3, columns: columns, using: .scalarReference)
            #expect(fast.values == ref.values && fast.scales == ref.scales, "isa \(isa) columns \(columns)")
            // The token sums (subtracted from every product) by the same scalar product of both.
            let ones = try TernaryMatrix(values: [Int8](repeating: 0, count: columns), rows: 1, columns: columns)
            #expect(ones.integerProducts(fast, using: .scalarReference) == ones.integerProducts(ref, using: .scalarReference),
                    "isa \(isa) columns \(columns): token sums")
        }
    }

    /// The definition: s = 127 / max|x|, q = round half to even (x · s). With max |x| = 127 the
    /// scale is 1 and x = k + 0.5 lands exactly on ties.
    @Test(arguments: ISA.supported)
    func quantizationRoundsHalfToEven(isa: ISA) throws {
        let kernels = try Kernels.variant(isa)
        let x: [Float] = [127, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.49, -126.5] + [Float](repeating: 0.5, count: 40)
        let q = QuantizedTokens(x, tokens: 1, columns: x.count, using: kernels)
        #expect(q.scales == [1])
        #expect(Array(q.values.prefix(9)) == [127, 0, 2, 2, 0, -2, -2, 3, -126])
        let zeros = QuantizedTokens([Float](repeating: 0, count: 33), tokens: 1, columns: 33, using: kernels)
        #expect(zeros.values.allSatisfy { $0 == 0 } && zeros.scales == [127 / 1e-5])
    }

    /// Float products at the slab GEMM's shapes and at wide rows from eight tokens on (AVX-512
    /// scales them as its slab tiles and its wide-row walk's last stores write them: 8- and 16-token
    /// panels, their leftover rows and tokens, a chunk boundary at 4353 columns, 137 × 33 for three
    /// 64-row blocks of 16-token groups; 7 tokens keep the pass) bit for bit the scalar reference's,
    /// one scale per matrix or per row, one and two threads.
    @Test(arguments: ISA.supported)
    func manyTokenFloatProductsMatchReference(isa: ISA) throws {
        let kernels = try Kernels.variant(isa)
        var rng = SplitMix64(seed: 77)
        for (rows, columns, tokens) in [(64, 128, 16), (97, 300, 23), (344, 128, 20), (40, 688, 37),
                                        (17, 2560, 16), (26, 4353, 24), (9, 1300, 8), (8, 2560, 7), (137, 1300, 33)] {
            let latent = (0..<(rows * columns)).map { _ in Float(Int64(bitPattern: rng.next() % 2001) - 1000) / 700 }
            let x = (0..<(tokens * columns)).map { _ in Float(Int64(bitPattern: rng.next() % 2001) - 1000) / 300 }
            for perRow in [false, true] {
                let m = TernaryMatrix.quantizing(latent, rows: rows, columns: columns, perRow: perRow)
                let q = QuantizedTokens(x, tokens: tokens, columns: columns, using: kernels)
                let expected = m.multiply(q, threads: 1, using: .scalarReference).map(\.bitPattern)
                for threads in [1, 2] {
                    #expect(m.multiply(q, threads: threads, using: kernels).map(\.bitPattern) == expected,
                            "isa \(isa) \(rows) × \(columns), \(tokens) tokens, perRow \(perRow), \(threads) threads")
                }
            }
        }
    }

    /// The AVX-512 slab tiles write a float output row's full 64-byte lines by streaming stores
    /// where the line is 64-byte aligned and by ordinary masked stores elsewhere: outputs starting
    /// 0, 1 and 16 floats past a 64-byte boundary, strided past the rows, all hold the scalar
    /// reference's bits (and the stride's gaps stay untouched).
    @Test(arguments: ISA.supported)
    func slabFloatProductsMatchReferenceAtEveryOutputAlignment(isa: ISA) throws {
        let kernels = try Kernels.variant(isa)
        var rng = SplitMix64(seed: 79)
        for (rows, columns, tokens) in [(64, 128, 16), (80, 256, 13), (344, 128, 20)] {
            let latent = (0..<(rows * columns)).map { _ in Float(Int64(bitPattern: rng.next() % 2001) - 1000) / 700 }
            let x = (0..<(tokens * columns)).map { _ in Float(Int64(bitPattern: rng.next() % 2001) - 1000) / 300 }
            let m = TernaryMatrix.quantizing(latent, rows: rows, columns: columns)
            let expected = m.multiply(QuantizedTokens(x, tokens: tokens, columns: columns), threads: 1, using: .scalarReference)
            let stride = QuantizedTokens.paddedStride(columns: columns), yStride = rows + 16
            var q = [Int8](repeating: 0, count: tokens * stride), scales = [Float](repeating: 0, count: tokens)
            var sums = [Int32](repeating: 0, count: tokens)
            QuantizedTokens.quantize(x, xStride: columns, columns: columns, tokens: tokens, into: &q, stride: stride, scales: &scales,
                                     sums: &sums, using: kernels)
            for offset in [0, 1, 16] {
                let count = offset + tokens * yStride
                let raw = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64)
                defer { raw.deallocate() }
                let y = raw.bindMemory(to: Float.self, capacity: count)
                y.initialize(repeating: -7, count: count)
                m.multiply(quantized: q, stride: stride, sums: sums, scales: scales, tokens: tokens, into: y + offset, yStride: yStride,
                           using: kernels)
                var same = true, gapsKept = true
                for t in 0..<tokens {
                    for r in 0..<rows where y[offset + t * yStride + r].bitPattern != expected[t * rows + r].bitPattern { same = false }
                    for r in rows..<yStride where offset + t * yStride + r < count && y[offset + t * yStride + r] != -7 { gapsKept = false }
                }
                #expect(same && gapsKept, "isa \(isa) \(rows) × \(columns), \(tokens) tokens, output \(offset) floats past 64 bytes")
            }
        }
    }

    /// Non-finite activations are refused (the vectorized check sees NaN and both infinities
    /// anywhere, and passes the largest finite values).
    @Test(arguments: ISA.supported)
    func finiteCheck(isa: ISA) throws {
        let kernels = try Kernels.variant(isa)
        for count in [1, 7, 8, 15, 16, 17, 63, 64, 65, 200] {
            for bad in [Float.nan, .infinity, -.infinity, -Float.nan, Float(bitPattern: 0x7F80_0001)] {
                for position in Set([0, count / 2, count - 1]) {
                    var x = [Float](repeating: 1, count: count)
                    x[position] = bad
                    #expect(!allFiniteValues(x, using: kernels), "isa \(isa) count \(count) \(bad) at \(position)")
                }
            }
            let finite: [Float] = [.greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude, 0, -0, 1]
            #expect(allFiniteValues((0..<count).map { finite[$0 % finite.count] }, using: kernels), "isa \(isa) count \(count)")
        }
        #expect(allFiniteValues([], using: kernels))
    }

    /// Float outputs against a plain float64 computation with dequantized weights and activations.
    @Test(arguments: ISA.supported)
    func floatOutputsMatchDequantized(isa: ISA) throws {
        let kernels = try Kernels.variant(isa)
        var rng = SplitMix64(seed: 5)
        let rows = 37, columns = 300, tokens = 3
        let latent = (0..<(rows * columns)).map { _ in Float(Int64(bitPattern: rng.next() % 2001) - 1000) / 700 }
        let x = (0..<(tokens * columns)).map { _ in Float(Int64(bitPattern: rng.next() % 2001) - 1000) / 300 }
        for perRow in [false, true] {
            let m = TernaryMatrix.quantizing(latent, rows: rows, columns: columns, perRow: perRow)
            let q = QuantizedTokens(x, tokens: tokens, columns: columns, using: kernels)
            let y = m.multiply(q, using: kernels)
            let w = m.values, xq = q.values
            for t in 0..<tokens {
                for r in 0..<rows {
                    var exact = 0.0, magnitude = 0.0
                    for c in 0..<columns {
                        let term = Double(w[r * columns + c]) * Double(m.rowScales[r]) * Double(xq[t * columns + c]) / Double(q.scales[t])
                        exact += term
                        magnitude += abs(term)
                    }
                    // float32 rounding of an exact integer sum, one multiply and one divide
                    #expect(abs(Double(y[t * rows + r]) - exact) <= 1e-6 * magnitude + 1e-30,
                            "isa \(isa) perRow \(perRow) token \(t) row \(r): \(y[t * rows + r]) vs \(exact)")
                }
            }
        }
    }

    /// A batch whose int32 products (885 KB for 32 tokens × 6,912 rows, BitNet's FFN width) once
    /// went through a heap scratch that aborted when the estimate was wrong: the float outputs are
    /// the integer products times rowScale / tokenScale, bit for bit, on every variant and team.
    @Test(arguments: ISA.supported)
    func floatOutputsOfALargeBatch(isa: ISA) throws {
        let kernels = try Kernels.variant(isa)
        var rng = SplitMix64(seed: 32)
        let rows = 6912, columns = 256, tokens = 32
        let scales = (0..<rows).map { _ in Float(rng.next() % 1000 + 1) / 997 }
        let m = try TernaryMatrix(values: randomTernary(rows * columns, rng: &rng), rows: rows, columns: columns, rowScales: scales)
        let x = (0..<(tokens * columns)).map { _ in Float(Int64(bitPattern: rng.next() % 2001) - 1000) / 300 }
        let q = QuantizedTokens(x, tokens: tokens, columns: columns, using: kernels)
        let products = m.integerProducts(q, threads: 1, using: .scalarReference)
        let expected = (0..<(tokens * rows)).map { i in Float(products[i]) * (scales[i % rows] / q.scales[i / rows]) }
        for threads in [1, 2] {
            #expect(m.multiply(q, threads: threads, using: kernels) == expected, "isa \(isa) threads \(threads)")
        }
    }

    /// The packed layout bitkernels/matrices.h documents, byte for byte: rows in groups of four, block by
    /// block; the code w + 1 of column c in bit pair (c % 256) / 64 of byte c % 64 of its block;
    /// padding columns hold code 1 (weight 0).
    @Test func packedLayoutIsAsDocumented() throws {
        let rows = 6, columns = 300  // two blocks per row, and a last group of two rows
        let blocks = TernaryMatrix.blockCount(columns: columns)
        #expect(blocks == 2 && TernaryMatrix.packedByteCount(rows: rows, columns: columns) == 8 * 2 * 64)
        #expect(TernaryMatrix.blockOffset(blockCount: blocks, row: 5, block: 1) == 832)  // group 1, block 1, row 1 of 4
        var rng = SplitMix64(seed: 77)
        let w = randomTernary(rows * columns, rng: &rng)
        let packed = try TernaryMatrix(values: w, rows: rows, columns: columns).packedLayout
        #expect(packed.count == 8 * 2 * 64)
        for r in 0..<rows {
            for c in 0..<(blocks * 256) {
                let byte = packed[TernaryMatrix.blockOffset(blockCount: blocks, row: r, block: c / 256) + c % 64]
                let code = Int(byte >> (2 * UInt8(c % 256 / 64))) & 3
                #expect(code == (c < columns ? Int(w[r * columns + c]) + 1 : 1), "row \(r) column \(c)")
            }
        }
    }

    /// The worked byte example of the header: w[0] = +1, w[64] = -1, w[128] = 0, w[192] = +1
    /// give byte 0 = 0x92; a block of zeros is 64 bytes of 0x55.
    @Test func packedLayoutWorkedExample() throws {
        var w = [Int8](repeating: 0, count: 2 * 256)
        w[0] = 1
        w[64] = -1
        w[192] = 1
        let packed = try TernaryMatrix(values: w, rows: 2, columns: 256).packedLayout
        #expect(packed.count == TernaryMatrix.packedByteCount(rows: 2, columns: 256))
        #expect(packed[0] == 0x92 && packed[1..<64].allSatisfy { $0 == 0x55 })
        #expect(packed[64..<128].allSatisfy { $0 == 0x55 })  // row 1: all zeros
    }

    @Test func absmeanTernarization() {
        // mean |W| = 1 → W / 1 rounded: 0.4 → 0, 0.6 → 1, -2 → -1, 1 → 1, 0.5 → 0 (half to even)
        let m = TernaryMatrix.quantizing([0.4, 0.6, -2, 1, 0.5, 1.5], rows: 2, columns: 3)
        #expect(m.values == [0, 1, -1, 1, 0, 1])
        #expect(m.rowScales == [1, 1])
        let perRow = TernaryMatrix.quantizing([2, -2, 0, 0.1, 0.1, 0.1], rows: 2, columns: 3, perRow: true)
        #expect(perRow.values == [1, -1, 0, 1, 1, 1])
        #expect(abs(perRow.rowScales[0] - 4.0 / 3) < 1e-6 && abs(perRow.rowScales[1] - 0.1) < 1e-6)
    }

    @Test func binaryProductsMatchDefinition() throws {
        var rng = SplitMix64(seed: 11)
        for width in [1, 63, 64, 65, 784, 1000, 2049] {
            let rows = BitMatrix(width: width, rows: (0..<23).map { _ in BitVector(width: width, randomBitsFrom: &rng) })
            let tokens = BitMatrix(width: width, rows: (0..<5).map { _ in BitVector(width: width, randomBitsFrom: &rng) })
            let sign: (BitVector, Int) -> Int = { $0[$1] ? 1 : -1 }
            let expected: [Int32] = (0..<tokens.rowCount).flatMap { t in
                (0..<rows.rowCount).map { r in
                    Int32((0..<width).reduce(0) { $0 + sign(rows[r], $1) * sign(tokens[t], $1) })
                }
            }
            for isa in ISA.supported {
                let k = try Kernels.variant(isa)
                #expect(rows.binaryProducts(with: tokens, using: k) == expected, "isa \(isa) width \(width)")
                #expect(rows.binaryProducts(with: tokens[2], using: k) == Array(expected[(2 * 23)..<(3 * 23)]))
            }
        }
    }
}

extension Kernels {
    static var scalarReference: Kernels { try! Kernels.variant(.scalar) }
}

extension BitVector {
    init(width: Int, randomBitsFrom rng: inout SplitMix64) {
        self.init(width: width)
        for i in 0..<width where rng.next() & 1 == 1 { self[i] = true }
    }
}

/// The single-token tiles' software prefetch (x86, on by default on Intel) at every distance the
/// setter accepts: results stay exact, and the setter rounds and caps as documented.
@Suite(.serialized) struct StreamPrefetchTests {
    @Test(arguments: ISA.supported)
    func productsAreExactAtEveryPrefetchDistance(isa: ISA) throws {
        let kernels = try Kernels.variant(isa)
        let saved = Kernels.streamPrefetchDistance
        defer { Kernels.streamPrefetchDistance = saved }
        var rng = SplitMix64(seed: 1616)
        for distance in [0, 256, 4096, 65536] {
            Kernels.streamPrefetchDistance = distance
            #expect(Kernels.streamPrefetchDistance == distance)
            for (rows, columns) in [(1, 1), (5, 300), (8, 2560), (17, 4353)] {
                let w = randomTernary(rows * columns, rng: &rng), x = randomInt8(columns, rng: &rng)
                let m = try TernaryMatrix(values: w, rows: rows, columns: columns)
                let q = QuantizedTokens(values: x, scales: [1], columns: columns)
                #expect(m.integerProducts(q, threads: 1, using: kernels)
                        == naiveProducts(w, rows: rows, columns: columns, x, tokens: 1),
                        "isa \(isa) \(rows) × \(columns), prefetch \(distance)")
            }
        }
    }

    @Test func prefetchSetterRoundsAndCaps() {
        let saved = Kernels.streamPrefetchDistance
        defer { Kernels.streamPrefetchDistance = saved }
        Kernels.streamPrefetchDistance = 5000
        #expect(Kernels.streamPrefetchDistance == 4864)
        Kernels.streamPrefetchDistance = 1 << 30
        #expect(Kernels.streamPrefetchDistance == 65536)
        Kernels.streamPrefetchDistance = -7
        #expect(Kernels.streamPrefetchDistance == 0)
        #expect([0, 4096].contains(Kernels.defaultStreamPrefetchDistance))
    }
}

/// The AVX-512 eight-token tile's two weight decodes (shifts and ANDs; GFNI where the CPU has it)
/// against the definition on the shapes of TernaryKernelTests, and the switch between them.
@Suite(.serialized) struct TernaryDecodeTests {
    static var hasGFNI: Bool { ISA.avx512.isSupported && CPUFeatures.current.has("gfni") }

    /// Every row count around the two-row tile and the 8-row panel, tokens around 8 and 16 (the
    /// 16-token panel, which decodes each row pair once for two groups of eight: 16, 17, 24, two of
    /// them at 32, one and an 8-token panel at 40), wide rows (> 4 blocks, the walker's eight-token
    /// tiles) and a chunk boundary (4353 columns).
    static let columnCounts = [1000, 1300, 2560, 4353]

    @Test(.enabled(if: ISA.avx512.isSupported), arguments: columnCounts)
    func shiftDecodeMatchesDefinition(columns: Int) throws { try decodeMatchesDefinition(gfni: false, columns: columns) }

    @Test(.enabled(if: hasGFNI, "the CPU has no GFNI"), arguments: columnCounts)
    func gfniDecodeMatchesDefinition(columns: Int) throws { try decodeMatchesDefinition(gfni: true, columns: columns) }

    func decodeMatchesDefinition(gfni: Bool, columns: Int) throws {
        let kernels = try Kernels.variant(.avx512)
        let saved = Kernels.ternaryGFNIDecode
        defer { Kernels.ternaryGFNIDecode = saved }
        Kernels.ternaryGFNIDecode = gfni
        #expect(Kernels.ternaryGFNIDecode == gfni)
        var rng = SplitMix64(seed: UInt64(columns) &* 31 &+ (gfni ? 1 : 0))
        for rows in [1, 2, 3, 4, 7, 8, 9, 11, 14, 17, 26] {
            for tokens in [8, 9, 15, 16, 17, 24, 32, 40] {
                let w = randomTernary(rows * columns, rng: &rng), x = randomInt8(tokens * columns, rng: &rng)
                let m = try TernaryMatrix(values: w, rows: rows, columns: columns)
                let q = QuantizedTokens(values: x, scales: [Float](repeating: 1, count: tokens), columns: columns)
                #expect(m.integerProducts(q, threads: 1, using: kernels)
                        == naiveProducts(w, rows: rows, columns: columns, x, tokens: tokens),
                        "gfni \(gfni) \(rows) × \(columns), \(tokens) tokens")
            }
        }
        // The extremes: every code 0 or 2 (weights ±1) against -128 and 127 over BitNet's FFN width
        // (chunks of 16 and 11 blocks): 6 rows (two-row tiles), 10 × 16 (a 16-token panel).
        for (wv, xv) in [(Int8(1), Int8(-128)), (-1, -128), (1, 127), (-1, 127)] {
            for (rows, tokens) in [(6, 8), (10, 16)] {
                let cols = 6912
                let m = try TernaryMatrix(values: [Int8](repeating: wv, count: rows * cols), rows: rows, columns: cols)
                let q = QuantizedTokens(values: [Int8](repeating: xv, count: tokens * cols),
                                        scales: [Float](repeating: 1, count: tokens), columns: cols)
                #expect(m.integerProducts(q, using: kernels).allSatisfy { $0 == Int32(wv) * Int32(xv) * Int32(cols) },
                        "gfni \(gfni) \(rows) × \(tokens) w \(wv) x \(xv)")
            }
        }
    }

    /// On by default exactly where the CPU has GFNI (and AVX-512); never on without it.
    @Test func switchFollowsTheCPU() {
        let saved = Kernels.ternaryGFNIDecode
        defer { Kernels.ternaryGFNIDecode = saved }
        #expect(saved == Self.hasGFNI)
        Kernels.ternaryGFNIDecode = true
        #expect(Kernels.ternaryGFNIDecode == Self.hasGFNI)
        Kernels.ternaryGFNIDecode = false
        #expect(!Kernels.ternaryGFNIDecode)
    }
}

@Suite struct VNNIPeakTests {
    /// The yardstick of the int8 products: positive where the CPU has the variant, nil for variants
    /// without VPDPBUSD; and a ymm peak cannot exceed the zmm one by more than noise.
    @Test func vpdpbusdPeakIsMeasuredOnlyWhereItExists() {
        #expect(Yardstick.vpdpbusdPeak(.avx2) == nil)
        #expect(Yardstick.vpdpbusdPeak(.scalar) == nil)
        let zmm = Yardstick.vpdpbusdPeak(.avx512, seconds: 0.02), ymm = Yardstick.vpdpbusdPeak(.avxVNNI, seconds: 0.02)
        #expect((zmm != nil) == ISA.supported.contains(.avx512))
        #expect((ymm != nil) == ISA.supported.contains(.avxVNNI))
        for p in [zmm, ymm].compactMap({ $0 }) { #expect(p > 1e9 && p < 1e13, "peak \(p) multiply-adds/s") }
    }
}
