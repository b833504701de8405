#if MPI
import BitKernels
import CMPI

/// A `BitMatrix` split by rows across the ranks of a communicator: each rank holds and scores its
/// shard with the single-process kernels, and a reduction over (score, −row) pairs picks the
/// global answer. `winner`, `top(k)` and batched `winners` return exactly what one process
/// holding every row returns: scores are compared as exact integers (Jaccard a/o by
/// cross-multiplication, as the C kernels do) and ties go to the lowest global row.
///
/// Every method is collective: all ranks call it, in the same order, with the same arguments.
///
/// ```swift
/// let world = Communicator.world
/// let all = BitMatrix(width: 1024, rows: rows)                // the same on every rank
/// let sharded = ShardedBitMatrix(distributing: all, communicator: world)
/// let best = sharded.winner(for: query, score: .jaccard)      // == all.winner(for: query, score: .jaccard)
/// ```
public struct ShardedBitMatrix: Sendable {
    public let communicator: Communicator
    /// The width of every row, in bits.
    public let width: Int
    /// This rank's rows.
    public private(set) var shard: BitMatrix
    /// The global index of each row of `shard`, ascending.
    public private(set) var globalRows: [Int]
    /// The number of rows over all ranks.
    public private(set) var rowCount: Int
    /// How many rows each rank holds.
    public private(set) var rowsPerRank: [Int]

    /// The rows rank `rank` of `ranks` holds when `rowCount` rows are split into contiguous blocks
    /// (sizes differ by at most one; the first `rowCount % ranks` ranks get the extra row).
    ///
    /// ```swift
    /// ShardedBitMatrix.blockRange(rowCount: 10, rank: 2, ranks: 3)   // 7..<10
    /// ```
    public static func blockRange(rowCount: Int, rank: Int, ranks: Int) -> Range<Int> {
        precondition(ranks > 0 && rank >= 0 && rank < ranks, "rank \(rank) out of range 0..<\(ranks)")
        let base = rowCount / ranks, extra = rowCount % ranks
        let start = rank * base + min(rank, extra)
        return start..<(start + base + (rank < extra ? 1 : 0))
    }

    /// Keeps this rank's block of `matrix`, which every rank holds whole (not collective).
    public init(distributing matrix: BitMatrix, communicator: Communicator) {
        let range = Self.blockRange(rowCount: matrix.rowCount, rank: communicator.rank, ranks: communicator.size)
        var shard = BitMatrix(width: matrix.width, reservingRows: range.count)
        for r in range { shard.append(matrix[r]) }
        self.communicator = communicator
        width = matrix.width
        self.shard = shard
        globalRows = Array(range)
        rowCount = matrix.rowCount
        rowsPerRank = (0..<communicator.size).map {
            Self.blockRange(rowCount: matrix.rowCount, rank: $0, ranks: communicator.size).count
        }
    }

    /// The matrix whose rows are every rank's `shard` in rank order (collective: the widths
    /// must agree). Each rank builds only its own rows, so the whole never exists in one place.
    public init(shard: BitMatrix, communicator: Communicator) {
        let counts = communicator.allGather([Int64(shard.rowCount)]).map(Int.init)
        let start = counts.prefix(communicator.rank).reduce(0, +)
        self.communicator = communicator
        width = shard.width
        self.shard = shard
        globalRows = Array(start..<(start + shard.rowCount))
        rowCount = counts.reduce(0, +)
        rowsPerRank = counts
    }

    /// Appends `row` as global row `rowCount` on rank `owner` (every rank calls it with the same
    /// owner; only the owner stores the row).
    public mutating func append(_ row: BitVector, on owner: Int) {
        precondition(row.width == width, "width mismatch: rows are \(width) bits, the new row \(row.width)")
        precondition(owner >= 0 && owner < communicator.size, "owner rank \(owner) out of range 0..<\(communicator.size)")
        if owner == communicator.rank {
            shard.append(row)
            globalRows.append(rowCount)
        }
        rowsPerRank[owner] += 1
        rowCount += 1
    }

    /// The least-loaded rank (fewest rows; ties to the lowest rank).
    public var leastLoadedRank: Int { rowsPerRank.indices.min { rowsPerRank[$0] < rowsPerRank[$1] }! }

    /// The local index of global row `row` if this rank holds it.
    public func localIndex(ofGlobalRow row: Int) -> Int? {
        guard let i = binarySearch(globalRows, row) else { return nil }
        return i
    }

    /// Masked bit-flip learning on global row `row` (only its owner changes anything).
    public mutating func flipRow(_ row: Int, toward target: BitVector, where mask: BitVector, using kernels: Kernels = .default) {
        if let i = localIndex(ofGlobalRow: row) { shard.flipRow(i, toward: target, where: mask, using: kernels) }
    }

    /// All rows in global order on `root` (nil on the other ranks). Collective.
    public func gathered(root: Int = 0) -> BitMatrix? {
        var payload: [UInt64] = []
        payload.reserveCapacity(shard.rowCount * (shard.wordsPerRow + 1))
        for i in 0..<shard.rowCount {
            payload.append(UInt64(globalRows[i]))
            payload.append(contentsOf: shard[i].words)
        }
        let all = communicator.gather(payload, root: root)
        guard communicator.rank == root else { return nil }
        let stride = shard.wordsPerRow + 1
        var byRow = [[UInt64]](repeating: [], count: rowCount)
        for start in Swift.stride(from: 0, to: all.count, by: stride) {
            byRow[Int(all[start])] = Array(all[(start + 1)..<(start + stride)])
        }
        return BitMatrix(width: width, rows: byRow.map { BitVector(width: width, words: $0) })
    }

    // MARK: - Search

    /// The best row over all ranks (ties to the lowest global row), as `BitMatrix.winner`, with
    /// `row` the global index. One MPI_Allreduce of a 40-byte record with a user operation.
    public func winner(for query: BitVector, score: Score, threads: Int = 0, using kernels: Kernels = .default) -> Match? {
        var records = MatchRecords(count: 1, score: score)
        if let m = shard.winner(for: query, score: score, threads: threads, using: kernels) {
            records.set(0, m, globalRow: globalRows[m.row])
        }
        communicator.reduceBest(&records)
        return records.match(0)
    }

    /// The winner of each row of `queries` over all ranks (nil when no rank has rows): each
    /// rank's batched winners, then one MPI_Allreduce of `queries.rowCount` records.
    public func winners(for queries: BitMatrix, score: Score, threads: Int = 0, using kernels: Kernels = .default) -> [Match?] {
        precondition(queries.width == width, "width mismatch: queries are \(queries.width) bits, rows \(width)")
        var records = MatchRecords(count: queries.rowCount, score: score)
        if shard.rowCount > 0 {
            for (q, m) in shard.winners(for: queries, score: score, threads: threads, using: kernels).enumerated() {
                if let m { records.set(q, m, globalRow: globalRows[m.row]) }
            }
        }
        communicator.reduceBest(&records)
        return (0..<queries.rowCount).map { records.match($0) }
    }

    /// The `k` best rows over all ranks, best first (ties: lowest global row first), as
    /// `BitMatrix.top`: each rank's local top k (which contains its part of the global top k),
    /// all gathered (k records per rank) and merged in the same order on every rank.
    public func top(_ k: Int, for query: BitVector, score: Score, threads: Int = 0, using kernels: Kernels = .default) -> [Match] {
        precondition(k >= 0, "top-k needs k >= 0, got \(k)")
        let want = min(k, rowCount)
        var records = MatchRecords(count: want, score: score)
        for (i, m) in shard.top(want, for: query, score: score, threads: threads, using: kernels).enumerated() {
            records.set(i, m, globalRow: globalRows[m.row])
        }
        let all = MatchRecords(values: communicator.allGather(records.values), score: score)
        let candidates = (0..<all.count).filter { all.values[$0 * MatchRecords.fields] >= 0 }
        let order = candidates.sorted { all.isBetter($0, than: $1, in: all) }
        return order.prefix(want).compactMap { all.match($0) }
    }
}

/// Binary search in an ascending array.
func binarySearch(_ a: [Int], _ x: Int) -> Int? {
    var lo = 0, hi = a.count
    while lo < hi {
        let mid = (lo + hi) / 2
        if a[mid] < x { lo = mid + 1 } else { hi = mid }
    }
    return lo < a.count && a[lo] == x ? lo : nil
}

/// Matches as flat records of five Int64: global row (−1 for none), shared, differing, the score
/// kind, the Float score's bits. What the reductions move and compare.
struct MatchRecords {
    static let fields = 5
    var values: [Int64]
    var count: Int { values.count / Self.fields }

    init(count: Int, score: Score) {
        values = [Int64](repeating: 0, count: count * Self.fields)
        let kind = Int64(Score.allCases.firstIndex(of: score)!)
        for i in 0..<count {
            values[i * Self.fields] = -1
            values[i * Self.fields + 3] = kind
        }
    }

    init(values: [Int64], score: Score) { self.values = values }

    mutating func set(_ i: Int, _ m: Match, globalRow: Int) {
        let b = i * Self.fields
        values[b] = Int64(globalRow)
        values[b + 1] = Int64(m.shared)
        values[b + 2] = Int64(m.differing)
        values[b + 4] = Int64(m.score.bitPattern)
    }

    func match(_ i: Int) -> Match? {
        let b = i * Self.fields
        guard values[b] >= 0 else { return nil }
        return Match(row: Int(values[b]), score: Float(bitPattern: UInt32(values[b + 4])),
                     shared: Int(values[b + 1]), differing: Int(values[b + 2]))
    }

    func isBetter(_ i: Int, than j: Int, in other: MatchRecords) -> Bool {
        values.withUnsafeBufferPointer { a in
            other.values.withUnsafeBufferPointer { b in
                recordIsBetter(a.baseAddress! + i * Self.fields, than: b.baseAddress! + j * Self.fields)
            }
        }
    }
}

/// Is record c strictly better than record b? Higher score by exact integers, then the lower
/// global row; a missing record (row −1) loses to any present one. a = shared, x = differing,
/// o = a + x = |q OR r|.
func recordIsBetter(_ c: UnsafePointer<Int64>, than b: UnsafePointer<Int64>) -> Bool {
    if b[0] < 0 { return c[0] >= 0 }
    if c[0] < 0 { return false }
    let ca = c[1], cx = c[2], ba = b[1], bx = b[2]
    switch Score.allCases[Int(c[3])] {
    case .shared:
        if ca != ba { return ca > ba }
    case .differing:
        if cx != bx { return cx < bx }
    case .sharedMinusDiffering:
        if ca - cx != ba - bx { return ca - cx > ba - bx }
    case .jaccard:
        // a/o, with 0/0 (two empty vectors) counting as 1/1, as the kernels do.
        let (cn, cd) = ca + cx == 0 ? (UInt64(1), UInt64(1)) : (UInt64(ca), UInt64(ca + cx))
        let (bn, bd) = ba + bx == 0 ? (UInt64(1), UInt64(1)) : (UInt64(ba), UInt64(ba + bx))
        let left = cn.multipliedFullWidth(by: bd), right = bn.multipliedFullWidth(by: cd)
        if left.high != right.high || left.low != right.low {
            return left.high != right.high ? left.high > right.high : left.low > right.low
        }
    }
    return c[0] < b[0]
}

extension Communicator {
    /// Record-wise best over ranks, in place on every rank: MPI_Allreduce with a commutative user
    /// operation over a contiguous five-Int64 datatype (so MPI never splits a record).
    func reduceBest(_ records: inout MatchRecords) {
        guard records.count > 0 else { return }
        let (type, op) = matchReduction
        let n = Int32(records.count)
        records.values.withUnsafeMutableBufferPointer { v in
            _ = MPI_Allreduce(bk_mpi_in_place(), v.baseAddress, n, type, op, comm)
        }
    }

    /// The record datatype and the best-of operation, made once per process.
    var matchReduction: (MPI_Datatype?, MPI_Op?) {
        if let made = madeMatchReduction { return made }
        var type: MPI_Datatype? = nil
        MPI_Type_contiguous(Int32(MatchRecords.fields), bk_mpi_int64(), &type)
        MPI_Type_commit(&type)
        var op: MPI_Op? = nil
        MPI_Op_create({ input, inout_, length, _ in
            guard let input, let inout_, let length else { return }
            let a = input.assumingMemoryBound(to: Int64.self)
            let b = inout_.assumingMemoryBound(to: Int64.self)
            let f = MatchRecords.fields
            for i in 0..<Int(length.pointee) where recordIsBetter(a + i * f, than: b + i * f) {
                (b + i * f).update(from: a + i * f, count: f)
            }
        }, 1, &op)
        madeMatchReduction = (type, op)
        return (type, op)
    }
}
#endif
