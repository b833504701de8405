import BitKernels
import Testing

/// bf16 and int8 row products: every variant bit-identical to the scalar reference (they follow
/// one summation order), and the reference within float error of a float64 dot product.
@Suite struct FloatDotTests {
    static let lengths = Array(0...40) + [63, 64, 65, 255, 256, 257, 2560, 2563]

    @Test(arguments: ISA.supported)
    func bf16AndInt8DotsMatchReference(isa: ISA) {
        let k = table(isa)
        var rng = SplitMix64(seed: 17)
        for n in Self.lengths {
            for rows in [1, 3, 4, 5, 9] {
                let stride = n + Int(rng.next() % 3)
                // bf16 of random floats in [-2, 2); int8 anything
                let bf: [UInt16] = (0..<(rows * stride)).map { _ in
                    let v = Float(Double(rng.next() % 4000) / 1000 - 2)
                    return UInt16(v.bitPattern >> 16)
                }
                let w8 = (0..<(rows * stride)).map { _ in Int8(truncatingIfNeeded: rng.next()) }
                let x = (0..<n).map { _ in Float(Double(rng.next() % 2000) / 1000 - 1) }
                var fast = [Float](repeating: .nan, count: rows), ref = fast
                k.bf16Dots(rows: bf, stride: stride, count: n, rowCount: rows, x: x, into: &fast)
                reference.bf16Dots(rows: bf, stride: stride, count: n, rowCount: rows, x: x, into: &ref)
                #expect(fast.map(\.bitPattern) == ref.map(\.bitPattern), "bf16 isa \(isa) n \(n) rows \(rows)")
                for r in 0..<rows {
                    let exact = (0..<n).reduce(0.0) { $0 + Double(Float(bfloat16Bits: bf[r * stride + $1])) * Double(x[$1]) }
                    #expect(abs(Double(ref[r]) - exact) <= 1e-5 * Double(max(n, 1)), "bf16 reference n \(n)")
                }
                k.i8Dots(rows: w8, stride: stride, count: n, rowCount: rows, x: x, into: &fast)
                reference.i8Dots(rows: w8, stride: stride, count: n, rowCount: rows, x: x, into: &ref)
                #expect(fast.map(\.bitPattern) == ref.map(\.bitPattern), "int8 isa \(isa) n \(n) rows \(rows)")
            }
        }
    }
}

/// The multi-token bf16 kernel: every variant, for every token count (the 4-token register blocks,
/// their remainders, more tokens than a block), row count (4-row groups and the tail), length and
/// stride, gives each token exactly what the scalar single-token reference gives it.
@Suite struct BFloat16TokensTests {
    @Test(arguments: ISA.supported)
    func tokensMatchSingleTokenReference(isa: ISA) {
        let k = table(isa)
        var rng = SplitMix64(seed: 41)
        for n in [0, 1, 15, 16, 17, 33, 64, 255, 2563] {
            for rows in [1, 3, 4, 5, 9, 70] {
                for tokens in [1, 2, 3, 4, 5, 7, 8, 9] {
                    let stride = n + Int(rng.next() % 3), xStride = n + Int(rng.next() % 5), outStride = rows + Int(rng.next() % 3)
                    let bf: [UInt16] = (0..<(rows * stride)).map { _ in UInt16(Float(Double(rng.next() % 4000) / 1000 - 2).bitPattern >> 16) }
                    let x = (0..<(tokens * xStride)).map { _ in Float(Double(rng.next() % 2000) / 1000 - 1) }
                    var fast = [Float](repeating: .nan, count: tokens * outStride)
                    k.bf16DotsTokens(rows: bf, stride: stride, count: n, rowCount: rows, x: x, xStride: xStride, tokenCount: tokens,
                                     into: &fast, outStride: outStride)
                    for t in 0..<tokens {
                        var ref = [Float](repeating: 0, count: rows)
                        Array(x[(t * xStride)..<(t * xStride + n)]).withUnsafeBufferPointer { xt in
                            reference.bf16Dots(rows: bf, stride: stride, count: n, rowCount: rows, x: xt.baseAddress, into: &ref)
                        }
                        #expect(fast[(t * outStride)..<(t * outStride + rows)].map(\.bitPattern) == ref.map(\.bitPattern),
                                "isa \(isa) n \(n) rows \(rows) tokens \(tokens) token \(t)")
                        let past = fast[(t * outStride + rows)..<((t + 1) * outStride)]
                        #expect(past.allSatisfy { $0.isNaN }, "wrote past row_count")
                    }
                }
            }
        }
    }

    /// The matrix API: `products(tokens:)` equals `products` per token, bit for bit, with one and two
    /// threads (rows split among them), also large enough for a team; no tokens writes nothing.
    @Test(arguments: ISA.supported)
    func matrixTokensEqualPerTokenProducts(isa: ISA) throws {
        let kernels = try Kernels.variant(isa)
        var rng = SplitMix64(seed: 43)
        for (rows, columns) in [(1, 1), (7, 37), (301, 2563)] {
            let bf = BFloat16Matrix(bits: (0..<(rows * columns)).map { _ in UInt16(Float(Double(rng.next() % 4000) / 1000 - 2).bitPattern >> 16) },
                                    rows: rows, columns: columns)
            for tokens in [0, 1, 4, 6] {
                let x = (0..<(tokens * columns)).map { _ in Float(Double(rng.next() % 2000) / 1000 - 1) }
                let expected = (0..<tokens).flatMap { t in bf.products(Array(x[(t * columns)..<((t + 1) * columns)]), threads: 1, using: kernels) }
                for threads in [1, 2] {
                    var out = [Float](repeating: .nan, count: tokens * rows)
                    x.withUnsafeBufferPointer { xs in
                        out.withUnsafeMutableBufferPointer { bf.products(tokens: tokens, xs, into: $0, threads: threads, using: kernels) }
                    }
                    #expect(out.map(\.bitPattern) == expected.map(\.bitPattern), "\(rows) × \(columns), \(tokens) tokens, \(threads) threads")
                }
            }
        }
    }
}

/// The public float matrices over those kernels, and the half-precision conversions.
@Suite struct FloatMatrixTests {
    @Test func conversionsKnownAnswers() {
        #expect(Float(bfloat16Bits: 0x3FC0) == 1.5 && Float(bfloat16Bits: 0xC000) == -2)
        #expect(Float(float16Bits: 0x3C00) == 1 && Float(float16Bits: 0xC100) == -2.5)
        #expect(Float(float16Bits: 0x0001) == 0x1p-24, "the smallest subnormal half")
        #expect(Float(float16Bits: 0x7C00) == .infinity && Float(float16Bits: 0x7E00).isNaN)
    }

    /// A bf16 and an int8 matrix of one shape (values in −2...2, row scales in 0.001...0.1) and
    /// an input vector in −1...1, drawn from `rng`.
    static func randomMatrices(rows: Int, columns: Int, _ rng: inout SplitMix64) -> (BFloat16Matrix, Int8Matrix, [Float]) {
        let bits: [UInt16] = (0..<(rows * columns)).map { _ in UInt16(Float(Double(rng.next() % 4000) / 1000 - 2).bitPattern >> 16) }
        let values = (0..<(rows * columns)).map { _ in Int8(truncatingIfNeeded: rng.next()) }
        let scales = (0..<rows).map { _ in Float(rng.next() % 100 + 1) / 1000 }
        let x = (0..<columns).map { _ in Float(Double(rng.next() % 2000) / 1000 - 1) }
        return (BFloat16Matrix(bits: bits, rows: rows, columns: columns),
                Int8Matrix(values: values, rowScales: scales, rows: rows, columns: columns), x)
    }

    @Test(arguments: ISA.supported)
    func productsMatchTheDefinitionAndTheKernels(isa: ISA) throws {
        let kernels = try Kernels.variant(isa)
        var rng = SplitMix64(seed: 3)
        for (rows, columns) in [(1, 1), (5, 37), (9, 2563)] {
            let (bf, q, x) = Self.randomMatrices(rows: rows, columns: columns, &rng)
            let bits = bf.bits, values = q.values, scales = q.rowScales
            let yb = bf.products(x, threads: 1, using: kernels), yq = q.products(x, threads: 2, using: kernels)
            // The kernels' own summation order, then the scale: bit for bit.
            var dots = [Float](repeating: 0, count: rows)
            kernels.bf16Dots(rows: bits, stride: columns, count: columns, rowCount: rows, x: x, into: &dots)
            #expect(yb.map(\.bitPattern) == dots.map(\.bitPattern))
            kernels.i8Dots(rows: values, stride: columns, count: columns, rowCount: rows, x: x, into: &dots)
            #expect(yq.map(\.bitPattern) == zip(dots, scales).map { ($0 * $1).bitPattern })
            for r in 0..<rows {
                let exactB = (0..<columns).reduce(0.0) { $0 + Double(bf[r, $1]) * Double(x[$1]) }
                let exactQ = (0..<columns).reduce(0.0) { $0 + Double(q[r, $1]) * Double(x[$1]) }
                #expect(abs(Double(yb[r]) - exactB) <= 1e-5 * Double(columns), "bf16 row \(r) of \(rows) × \(columns)")
                #expect(abs(Double(yq[r]) - exactQ) <= 1e-5 * Double(columns), "int8 row \(r) of \(rows) × \(columns)")
            }
            var into = [Float](repeating: .nan, count: rows)
            x.withUnsafeBufferPointer { xs in into.withUnsafeMutableBufferPointer { bf.products(xs, into: $0, using: kernels) } }
            #expect(into.map(\.bitPattern) == yb.map(\.bitPattern))
        }
        #expect(BFloat16Matrix(bits: [0x3F80, 0x4000], rows: 1, columns: 2).products([3, 4], using: kernels) == [11])
        #expect(Int8Matrix(values: [1, 2], rowScales: [0.5], rows: 1, columns: 2).products([3, 4], using: kernels) == [5.5])
    }

    /// Products of a row range (the batched LM head's blocks) equal those rows of the whole
    /// product, bit for bit, at the edges, in the middle and empty; with one and two threads.
    @Test(arguments: ISA.supported)
    func rowRangeProductsEqualWholeProductRows(isa: ISA) throws {
        let kernels = try Kernels.variant(isa)
        var rng = SplitMix64(seed: 29)
        let rows = 300, columns = 67
        let (bf, q, x) = Self.randomMatrices(rows: rows, columns: columns, &rng)
        let wholeB = bf.products(x, threads: 1, using: kernels), wholeQ = q.products(x, threads: 1, using: kernels)
        for range in [0..<rows, 0..<1, 0..<64, 64..<128, 299..<300, 17..<250, 5..<5] {
            for threads in [1, 2] {
                var b = [Float](repeating: .nan, count: range.count), i8 = b
                x.withUnsafeBufferPointer { xs in
                    b.withUnsafeMutableBufferPointer { bf.products(rows: range, xs, into: $0, threads: threads, using: kernels) }
                    i8.withUnsafeMutableBufferPointer { q.products(rows: range, xs, into: $0, threads: threads, using: kernels) }
                }
                #expect(b.map(\.bitPattern) == wholeB[range].map(\.bitPattern), "bf16 rows \(range), \(threads) threads")
                #expect(i8.map(\.bitPattern) == wholeQ[range].map(\.bitPattern), "int8 rows \(range), \(threads) threads")
            }
        }
        // Known answer: row 1 of [[1, 2], [3, 4]] · [1, 1] = 7.
        let ones: [Float] = [1, 1]
        var one: [Float] = [0]
        ones.withUnsafeBufferPointer { xs in
            one.withUnsafeMutableBufferPointer {
                BFloat16Matrix(bits: [0x3F80, 0x4000, 0x4040, 0x4080], rows: 2, columns: 2).products(rows: 1..<2, xs, into: $0, using: kernels)
            }
        }
        #expect(one == [7])
    }
}
