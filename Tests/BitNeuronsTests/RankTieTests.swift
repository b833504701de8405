import BitKernels
import BitNeurons
import TestSupport
import Testing

@Suite struct RankTieTests {
    /// The definition, by sorting: brighter first, then the rule's key, then the lower index.
    func reference(_ p: [UInt8], columns: Int, k: Int, rule: RankTieRule) -> [Int] {
        let rows = p.count / columns
        let blur = neighbourhoodSums(p, columns: columns)
        func distance(_ i: Int) -> Int {
            let ink = p.indices.filter { p[$0] > 0 }
            return ink.map { abs($0 / columns - i / columns) + abs($0 % columns - i % columns) }.min() ?? rows + columns
        }
        let key = p.indices.map { rule == .blur ? blur[$0] : rule == .distance ? -distance($0) : 0 }
        var order = p.indices.sorted { a, b in
            (p[a], key[a], -a) > (p[b], key[b], -b)
        }
        order = Array(order.prefix(k))
        if rule == .ink {
            let cut = order.map { p[$0] }.min() ?? 0
            if cut == 0 { order = order.filter { p[$0] > 0 } }
        }
        return order.sorted()
    }

    @Test(arguments: RankTieRule.allCases)
    func rankBitsMatchTheDefinition(rule: RankTieRule) {
        var rng = SplitMix64(seed: 11)
        for trial in 0..<30 {
            let columns = [1, 5, 28][trial % 3], rows = [1, 4, 28][trial % 3]
            let inkShare = [0, 5, 20, 60, 100][trial % 5]
            let p = (0..<(rows * columns)).map { _ -> UInt8 in
                rng.next() % 100 < UInt64(inkShare) ? UInt8(truncatingIfNeeded: rng.next() % 4 * 64) : 0
            }
            for k in [0, 1, p.count / 3, p.count] {
                #expect(rule.rankBits(p[...], columns: columns, k: k) == reference(p, columns: columns, k: k, rule: rule),
                        "trial \(trial), k \(k)")
            }
        }
    }

    @Test func knownAnswers() {
        // 3 × 3, one ink pixel in the centre-right; k = 3.
        let p: [UInt8] = [0, 0, 0,
                          0, 0, 9,
                          0, 0, 0]
        #expect(RankTieRule.index.rankBits(p[...], columns: 3, k: 3) == [0, 1, 5])
        #expect(RankTieRule.ink.rankBits(p[...], columns: 3, k: 3) == [5])
        #expect(RankTieRule.distance.rankBits(p[...], columns: 3, k: 3) == [2, 4, 5])  // distance 1: 2, 4, 8
        #expect(RankTieRule.blur.rankBits(p[...], columns: 3, k: 3) == [1, 2, 5])      // every neighbour 9: lowest indices
        // The index rule equals the encode kernel's rank encoding.
        var enc = ImageEncoder.rank(k: 3, pixels: 9)
        #expect(enc.encode(p[...]).setBitIndices == [0, 1, 5])
    }

    /// The blur rule's encoder runs the `encode_rank_blur` kernels: every variant sets the bits of
    /// the Swift definition (`rankBits`), so the tie-rule study's results carry over unchanged.
    @Test(arguments: ISA.supported)
    func blurEncoderIsTheDefinition(isa: ISA) throws {
        let kernels = try Kernels.variant(isa)
        var rng = SplitMix64(seed: 12)
        for trial in 0..<40 {
            let columns = [1, 5, 28, 40][trial % 4], rows = [1, 4, 28, 3][trial % 4]
            let inkShare = [0, 5, 20, 60, 100][trial % 5]
            let p = (0..<(rows * columns)).map { _ -> UInt8 in
                rng.next() % 100 < UInt64(inkShare) ? UInt8(truncatingIfNeeded: rng.next() % 4 * 64) : 0
            }
            for k in [0, 1, p.count / 3, p.count] {
                var enc = ImageEncoder.rank(k: k, pixels: p.count, columns: columns, ties: .blur, using: kernels)
                #expect(enc.encode(p[...]).setBitIndices == RankTieRule.blur.rankBits(p[...], columns: columns, k: k),
                        "isa \(isa) trial \(trial) k \(k)")
            }
        }
    }
}
