import BitDistributed
import BitKernels
import Testing

/// The sharded search's reduction without MPI: R simulated ranks each search their block of a
/// matrix with the single-process kernels, their records are combined with the operation the MPI
/// all-reduce applies (in every order a reduction tree may use), and the result must equal the
/// whole matrix's. The same code runs under mpirun in scripts/mpi_check.sh.
@Suite struct ShardReductionTests {
    /// Rows from a few distinct patterns, so exact score ties are common.
    static func matrix(width: Int, rows: Int, distinct: Int, seed: UInt64) -> BitMatrix {
        var g = BitMask(seed: seed)
        let pool = (0..<distinct).map { _ in g.next(width: width, density: 0.3) }
        return BitMatrix(width: width, rows: (0..<rows).map { pool[($0 * 7 + 3) % distinct] })
    }

    @Test func blocksCoverTheRowsInOrderWithSizesWithinOne() {
        for rows in [0, 1, 2, 5, 10, 101] {
            for ranks in 1...5 {
                let ranges = (0..<ranks).map { ShardReduction.blockRange(rowCount: rows, rank: $0, ranks: ranks) }
                #expect(ranges.first!.lowerBound == 0 && ranges.last!.upperBound == rows)
                #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
                #expect(ranges.map(\.count).max()! - ranges.map(\.count).min()! <= 1)
            }
        }
        #expect(ShardReduction.blockRange(rowCount: 10, rank: 2, ranks: 3) == 7..<10)
    }

    @Test(arguments: Score.allCases, [1, 2, 3, 4])
    func simulatedRanksEqualOneProcess(score: Score, ranks: Int) {
        for (width, rows, distinct) in [(64, 9, 2), (3, 13, 3), (130, 40, 40), (1, 5, 2), (200, 0, 1)] {
            let full = Self.matrix(width: width, rows: rows, distinct: max(distinct, 1), seed: UInt64(width * 31 + rows))
            let shards = (0..<ranks).map { r -> (BitMatrix, Range<Int>) in
                let range = ShardReduction.blockRange(rowCount: rows, rank: r, ranks: ranks)
                return (BitMatrix(width: width, rows: range.map { full[$0] }), range)
            }
            var queries = Self.matrix(width: width, rows: 5, distinct: 5, seed: 99)
            queries.append(BitVector(width: width))
            for q in 0..<queries.rowCount {
                let query = queries[q]
                let locals = shards.map { shard, range in
                    shard.winner(for: query, score: score).map { ShardReduction.record($0, globalRow: range.lowerBound + $0.row, score: score) }
                        ?? ShardReduction.noRecord(score: score)
                }
                // Left to right and right to left: the operation must be commutative and associative.
                let forward = locals.dropFirst().reduce(locals[0]) { ShardReduction.best($0, $1) }
                let backward = locals.dropLast().reversed().reduce(locals.last!) { ShardReduction.best($1, $0) }
                let want = full.winner(for: query, score: score)
                #expect(ShardReduction.match(forward) == want, "width \(width) rows \(rows) ranks \(ranks) query \(q)")
                #expect(ShardReduction.match(backward) == want)
                for k in [1, 3, rows + 1] {
                    let want = full.top(k, for: query, score: score)
                    let candidates = shards.flatMap { shard, range in
                        shard.top(k, for: query, score: score).map { ShardReduction.record($0, globalRow: range.lowerBound + $0.row, score: score) }
                    }
                    #expect(ShardReduction.top(min(k, rows), of: candidates).map(ShardReduction.match) == want.map { $0 })
                }
            }
        }
    }

    @Test func jaccardComparesExactFractionsAndEmptyCountsAsOne() {
        // 1/3 against 2/6: equal, so the lower row wins; 2/5 beats 1/3; 0/0 (both empty) is 1/1.
        let third = ShardReduction.record(Match(row: 0, score: 0, shared: 1, differing: 2), globalRow: 8, score: .jaccard)
        let twoSixths = ShardReduction.record(Match(row: 0, score: 0, shared: 2, differing: 4), globalRow: 3, score: .jaccard)
        let twoFifths = ShardReduction.record(Match(row: 0, score: 0, shared: 2, differing: 3), globalRow: 9, score: .jaccard)
        let empty = ShardReduction.record(Match(row: 0, score: 1, shared: 0, differing: 0), globalRow: 20, score: .jaccard)
        #expect(ShardReduction.match(ShardReduction.best(third, twoSixths))?.row == 3)
        #expect(ShardReduction.match(ShardReduction.best(twoSixths, twoFifths))?.row == 9)
        #expect(ShardReduction.match(ShardReduction.best(twoFifths, empty))?.row == 20)
        #expect(ShardReduction.match(ShardReduction.best(ShardReduction.noRecord(score: .jaccard), third))?.row == 8)
    }
}
