import BitKernels
import Testing

/// One-vs-many and many-vs-many scoring, every variant (scalar included) against a plain Swift
/// reference computed word by word, with and without kept row popcounts, at 1 and 2 threads.
@Suite struct ScoringTests {
    /// The reference score of one row, straight from the definitions.
    static func referenceScore(_ kind: Score, _ q: ArraySlice<UInt64>, _ r: ArraySlice<UInt64>) -> (score: Double, a: Int, x: Int) {
        var a = 0, x = 0, o = 0
        for (qw, rw) in zip(q, r) {
            a += (qw & rw).nonzeroBitCount
            x += (qw ^ rw).nonzeroBitCount
            o += (qw | rw).nonzeroBitCount
        }
        switch kind {
        case .shared: return (Double(a), a, x)
        case .differing: return (Double(x), a, x)
        case .sharedMinusDiffering: return (Double(a - x), a, x)
        case .jaccard: return (o == 0 ? 1 : Double(Float(a) / Float(o)), a, x)  // as C: one float division
        }
    }

    /// Rows in best-first order by the reference: higher score first (lower for differing),
    /// ties by lower index. Jaccard compares exactly via cross-multiplication.
    static func referenceOrder(_ kind: Score, query: [UInt64], rows: [UInt64], stride: Int, words: Int, count: Int) -> [Int] {
        let qs = query[0..<words]
        let facts = (0..<count).map { r -> (Int, Int, Int) in
            let row = rows[(r * stride)..<(r * stride + words)]
            let s = referenceScore(.shared, qs, row)
            let o = s.a + s.x
            return (s.a, s.x, o)
        }
        func better(_ i: Int, _ j: Int) -> Bool {
            let (ai, xi, oi) = facts[i], (aj, xj, oj) = facts[j]
            switch kind {
            case .shared: if ai != aj { return ai > aj }
            case .differing: if xi != xj { return xi < xj }
            case .sharedMinusDiffering: if ai - xi != aj - xj { return ai - xi > aj - xj }
            case .jaccard:
                let (ni, di) = oi == 0 ? (1, 1) : (ai, oi), (nj, dj) = oj == 0 ? (1, 1) : (aj, oj)
                if ni * dj != nj * di { return ni * dj > nj * di }
            }
            return i < j
        }
        return (0..<count).sorted(by: better)
    }

    @Test(arguments: ISA.supported, [0, 1, 7, 1000, 20_000])
    func winnersTopAndScoresMatchReference(isa: ISA, rowCount: Int) {
        let k = table(isa)
        var rng = SplitMix64(seed: UInt64(rowCount) &* 13 &+ 2)
        let widths = rowCount >= 20_000 ? [784] : [0, 1, 63, 64, 65, 200, 784, 1025]
        for width in widths {
            let words = (width + 63) / 64
            let stride = words + (width % 2)  // odd widths get a padded stride
            // Few distinct rows (values drawn from a small pool) so that ties really happen.
            let pool = (0..<5).map { _ in randomRows(width: width, rows: 1, stride: words, offset: 0, rng: &rng) }
            var rows = [UInt64](repeating: 0, count: rowCount * stride)
            for r in 0..<rowCount {
                let src = r % 3 == 0 ? pool[Int(rng.next() % 5)] : randomRows(width: width, rows: 1, stride: words, offset: 0, rng: &rng)
                for w in 0..<words { rows[r * stride + w] = src[w] }
            }
            let query = randomRows(width: width, rows: 1, stride: words, offset: 0, rng: &rng)
            var pops = [UInt32](repeating: 0, count: rowCount)
            reference.rowPopcounts(rows: rows, strideWords: stride, wordCount: words, rowCount: rowCount, into: &pops)
            for kind in Score.allCases {
                let order = Self.referenceOrder(kind, query: query, rows: rows, stride: stride, words: words, count: rowCount)
                for threads in [1, 2] {
                    for keepPopcounts in [true, false] {
                        rows.withUnsafeBufferPointer { rp in
                            pops.withUnsafeBufferPointer { pp in
                                let view = RowsView(words: rp.baseAddress, strideWords: stride, wordCount: words,
                                                    rowCount: rowCount, rowPopcounts: keepPopcounts ? pp.baseAddress : nil)
                                let label = "isa \(isa) width \(width) rows \(rowCount) \(kind) threads \(threads) pops \(keepPopcounts)"
                                let w = k.scoreWinner(kind, query: query, rows: view, threads: threads)
                                #expect(w?.row == order.first, "winner: \(label)")
                                if let best = order.first, let w {
                                    let ref = Self.referenceScore(kind, query[0..<words], rows[(best * stride)..<(best * stride + words)])
                                    #expect(Double(w.score) == Double(Float(ref.score)), "winner score: \(label)")
                                    #expect(Int(w.shared) == ref.a && Int(w.differing) == ref.x, "winner counts: \(label)")
                                }
                                let top = k.scoreTop(kind, query: query, rows: view, top: 5, threads: threads)
                                #expect(top.map(\.row) == Array(order.prefix(5)), "top-5: \(label)")
                                var scores = [Float](repeating: .nan, count: rowCount)
                                k.scoreRows(kind, query: query, rows: view, into: &scores, threads: threads)
                                for r in Swift.stride(from: 0, to: rowCount, by: max(1, rowCount / 97)) {
                                    let ref = Self.referenceScore(kind, query[0..<words], rows[(r * stride)..<(r * stride + words)])
                                    #expect(scores[r] == Float(ref.score), "score of row \(r): \(label)")
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @Test(arguments: ISA.supported)
    func batchWinnersMatchSingleQueries(isa: ISA) throws {
        let kernels = try Kernels.variant(isa)
        var rng = SplitMix64(seed: 99)
        for width in [1, 130, 784] {
            let words = (width + 63) / 64
            let rows = BitMatrix(width: width, rows: (0..<3000).map { _ in
                BitVector(width: width, words: randomRows(width: width, rows: 1, stride: words, offset: 0, rng: &rng)) })
            let queries = BitMatrix(width: width, rows: (0..<37).map { _ in
                BitVector(width: width, words: randomRows(width: width, rows: 1, stride: words, offset: 0, rng: &rng)) })
            for score in Score.allCases {
                for threads in [1, 2] {
                    let batch = rows.winners(for: queries, score: score, threads: threads, using: kernels)
                    let single = (0..<queries.rowCount).map { rows.winner(for: queries[$0], score: score, threads: 1, using: .default) }
                    #expect(batch == single, "isa \(isa) width \(width) \(score) threads \(threads)")
                }
            }
        }
        let empty = BitMatrix(width: 8)
        #expect(empty.winners(for: BitMatrix(width: 8, zeroRows: 2), score: .jaccard, using: kernels) == [nil, nil])
        #expect(empty.winner(for: BitVector(width: 8), score: .shared, using: kernels) == nil)
        #expect(empty.top(3, for: BitVector(width: 8), score: .shared, using: kernels).isEmpty)
    }

    @Test func knownAnswers() {
        // Query {0,1,2,3}; rows: {0,1} (a=2,x=2,o=4), {0..5} (a=4,x=2,o=6), {} (a=0,x=4,o=4), {0,1,2,3} (a=4,x=0).
        let q = BitVector(width: 10, setBits: [0, 1, 2, 3])
        let m = BitMatrix(width: 10, rows: [
            BitVector(width: 10, setBits: [0, 1]), BitVector(width: 10, setBits: 0...5),
            BitVector(width: 10), BitVector(width: 10, setBits: [0, 1, 2, 3]),
        ])
        #expect(m.scores(for: q, score: .shared) == [2, 4, 0, 4])
        #expect(m.scores(for: q, score: .differing) == [2, 2, 4, 0])
        #expect(m.scores(for: q, score: .sharedMinusDiffering) == [0, 2, -4, 4])
        #expect(m.scores(for: q, score: .jaccard) == [0.5, Float(4) / 6, 0, 1])
        #expect(m.winner(for: q, score: .shared)?.row == 1)  // tie 1 vs 3: lowest index
        #expect(m.winner(for: q, score: .differing)?.row == 3)
        #expect(m.top(4, for: q, score: .jaccard).map(\.row) == [3, 1, 0, 2])
        #expect(m.top(10, for: q, score: .differing).map(\.row) == [3, 0, 1, 2])
        // Two empty vectors have Jaccard 1.
        #expect(BitMatrix(width: 5, zeroRows: 1).scores(for: BitVector(width: 5), score: .jaccard) == [1])
    }
}
