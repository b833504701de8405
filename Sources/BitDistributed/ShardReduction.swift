import BitKernels

/// The exact reduction behind the sharded search, apart from MPI (so it is tested without it):
/// a match as a fixed 40-byte record carrying the global row, and the total order that picks the
/// best of two — higher score by exact integers (Jaccard a/o by cross-multiplication, 0/0 as 1/1,
/// as the C kernels compare), then the lower global row. Commutative and associative, so MPI may
/// combine the ranks' records in any tree.
package enum ShardReduction {
    /// One match: global row (−1 for none), a = shared, x = differing, the score kind, the Float
    /// score's bits. Five Int64 in this order (an MPI contiguous type of 5 × MPI_INT64_T).
    package struct Record: Equatable, Sendable {
        package var row: Int64
        package var shared: Int64
        package var differing: Int64
        package var kind: Int64
        package var scoreBits: Int64
    }

    /// The rows rank `rank` of `ranks` holds when `rowCount` rows are split into contiguous blocks
    /// (sizes differ by at most one; the first `rowCount % ranks` ranks get the extra row).
    package static func blockRange(rowCount: Int, rank: Int, ranks: Int) -> Range<Int> {
        precondition(ranks > 0 && rank >= 0 && rank < ranks, "rank \(rank) out of range 0..<\(ranks)")
        precondition(rowCount >= 0, "row count must be >= 0, got \(rowCount)")
        let base = rowCount / ranks, extra = rowCount % ranks
        let start = rank * base + min(rank, extra)
        return start..<(start + base + (rank < extra ? 1 : 0))
    }

    static func kind(_ score: Score) -> Int64 { Int64(Score.allCases.firstIndex(of: score)!) }

    package static func record(_ m: Match, globalRow: Int, score: Score) -> Record {
        Record(row: Int64(globalRow), shared: Int64(m.shared), differing: Int64(m.differing), kind: kind(score),
               scoreBits: Int64(m.score.bitPattern))
    }

    package static func noRecord(score: Score) -> Record {
        Record(row: -1, shared: 0, differing: 0, kind: kind(score), scoreBits: 0)
    }

    package static func match(_ r: Record) -> Match? {
        guard r.row >= 0 else { return nil }
        return Match(row: Int(r.row), score: Float(bitPattern: UInt32(truncatingIfNeeded: r.scoreBits)),
                     shared: Int(r.shared), differing: Int(r.differing))
    }

    /// Is c strictly better than b? A missing record loses to any present one.
    package static func isBetter(_ c: Record, than b: Record) -> Bool {
        if b.row < 0 { return c.row >= 0 }
        if c.row < 0 { return false }
        let ca = c.shared, cx = c.differing, ba = b.shared, bx = b.differing
        switch Score.allCases[Int(c.kind)] {
        case .shared:
            if ca != ba { return ca > ba }
        case .differing:
            if cx != bx { return cx < bx }
        case .sharedMinusDiffering:
            if ca - cx != ba - bx { return ca - cx > ba - bx }
        case .jaccard:
            // a/o with o = a + x = |q OR r|.
            let (cn, cd) = ca + cx == 0 ? (UInt64(1), UInt64(1)) : (UInt64(ca), UInt64(ca + cx))
            let (bn, bd) = ba + bx == 0 ? (UInt64(1), UInt64(1)) : (UInt64(ba), UInt64(ba + bx))
            let left = cn.multipliedFullWidth(by: bd), right = bn.multipliedFullWidth(by: cd)
            if left.high != right.high { return left.high > right.high }
            if left.low != right.low { return left.low > right.low }
        }
        return c.row < b.row
    }

    /// The better of two records (the MPI operation, record by record).
    package static func best(_ a: Record, _ b: Record) -> Record { isBetter(a, than: b) ? a : b }

    /// The `k` best of `candidates` (each rank's local top k), best first.
    package static func top(_ k: Int, of candidates: [Record]) -> [Record] {
        Array(candidates.filter { $0.row >= 0 }.sorted { isBetter($0, than: $1) }.prefix(k))
    }
}
