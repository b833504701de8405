import BitKernels
import TestSupport
import Testing

/// Rank encoding with blurred ties (`encode_rank_blur`): every variant bit-identical to the scalar
/// reference, the reference equal to the definition by sorting, and hand-worked answers.
@Suite struct RankBlurTests {
    /// The definition: order pixels by (intensity, 3 × 3 neighbourhood sum, −index), take k.
    static func definition(_ p: [UInt8], columns: Int, k: Int) -> [Int] {
        let key = neighbourhoodSums(p, columns: columns)
        return p.indices.sorted { a, b in (p[a], key[a], -a) > (p[b], key[b], -b) }.prefix(k).sorted()
    }

    static func image(_ rows: Int, _ columns: Int, style: Int, _ rng: inout SplitMix64) -> [UInt8] {
        (0..<(rows * columns)).map { _ in
            switch style {
            case 0: UInt8(truncatingIfNeeded: rng.next())
            case 1: UInt8(rng.next() % 4) * 85                 // 4 levels: many ties, many equal sums
            case 2: rng.next() % 10 == 0 ? 200 : 0              // sparse: the cut-off is 0
            case 3: rng.next() % 3 == 0 ? 255 : 254             // saturated: sums up to 9 · 255
            default: 0                                          // empty: every key equal
            }
        }
    }

    func encode(_ kernels: Kernels, _ p: [UInt8], rows: Int, columns: Int, k: Int) -> [UInt64] {
        var out = [UInt64](repeating: ~0, count: (p.count + 63) / 64 + 1)
        var scratch = [UInt16](repeating: 0xBEEF, count: max(p.count, 1))
        kernels.encodeRankBlur(p, rows: rows, columns: columns, k: k, scratch: &scratch, into: &out)
        #expect(out.last == ~0, "no write past the last word")
        return Array(out.dropLast())
    }

    func indices(_ words: [UInt64]) -> [Int] {
        words.indices.flatMap { w in (0..<64).filter { words[w] >> $0 & 1 == 1 }.map { w * 64 + $0 } }
    }

    @Test(arguments: ISA.supported)
    func variantsMatchTheReference(isa: ISA) {
        let fast = table(isa)
        let seed: UInt64 = 31
        var rng = SplitMix64(seed: seed)
        for columns in [1, 2, 3, 5, 28, 31, 32, 33, 63, 64, 65, 100] {
            for rows in [1, 2, 3, 28] {
                for style in 0..<5 {
                    let p = Self.image(rows, columns, style: style, &rng)
                    let n = p.count
                    for k in Set([0, 1, 2, n / 7, n / 2, max(n - 1, 0), n]) where k <= n {
                        let a = encode(fast, p, rows: rows, columns: columns, k: k)
                        let b = encode(reference, p, rows: rows, columns: columns, k: k)
                        #expect(a == b, "isa \(isa) seed \(seed) \(rows)x\(columns) style \(style) k \(k)")
                        #expect(b.reduce(0) { $0 + $1.nonzeroBitCount } == k, "exactly k bits")
                    }
                }
            }
        }
    }

    @Test func referenceMatchesTheDefinition() {
        var rng = SplitMix64(seed: 7)
        for (rows, columns) in [(1, 1), (1, 9), (9, 1), (4, 5), (28, 28), (3, 70)] {
            for style in 0..<5 {
                let p = Self.image(rows, columns, style: style, &rng)
                for k in Set([0, 1, p.count / 3, p.count / 2, p.count]) {
                    #expect(indices(encode(reference, p, rows: rows, columns: columns, k: k))
                                == Self.definition(p, columns: columns, k: k),
                            "\(rows)x\(columns) style \(style) k \(k)")
                }
            }
        }
    }

    @Test(arguments: ISA.supported)
    func knownAnswers(isa: ISA) throws {
        let kernels = try Kernels.variant(isa)
        // 3 × 3, one ink pixel at the right of the middle row: its neighbours (sum 9) come before
        // the left column (sum 0), lowest index first among them.
        let p: [UInt8] = [0, 0, 0,
                          0, 0, 9,
                          0, 0, 0]
        #expect(indices(encode(kernels, p, rows: 3, columns: 3, k: 3)) == [1, 2, 5])
        #expect(indices(encode(kernels, p, rows: 3, columns: 3, k: 6)) == [1, 2, 4, 5, 7, 8])
        // The 3 × 3 sum decides over the index: 4 touches 8 and 2; 0 and 6 touch nothing.
        let q: [UInt8] = [0, 0, 5,
                          0, 0, 0,
                          0, 0, 7]
        #expect(indices(encode(kernels, q, rows: 3, columns: 3, k: 4)) == [2, 4, 5, 8])  // 5: 12, 4: 12, 1: 5
        var v = BitVector(width: 9)
        v.encode(pixels: [0, 0, 0, 0, 0, 0, 0, 0, 200], brightest: 2, blurringTiesOver: 3, using: kernels)
        #expect(v.setBitIndices == [4, 8])
    }
}
