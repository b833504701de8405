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
        ShardReduction.blockRange(rowCount: rowCount, rank: rank, ranks: ranks)
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
        var records = [shard.winner(for: query, score: score, threads: threads, using: kernels).map {
            ShardReduction.record($0, globalRow: globalRows[$0.row], score: score)
        } ?? ShardReduction.noRecord(score: score)]
        communicator.reduceBest(&records)
        return ShardReduction.match(records[0])
    }

    /// The winner of each row of `queries` over all ranks (nil when no rank has rows): each
    /// rank's batched winners, then one MPI_Allreduce of `queries.rowCount` records.
    public func winners(for queries: BitMatrix, score: Score, threads: Int = 0, using kernels: Kernels = .default) -> [Match?] {
        precondition(queries.width == width, "width mismatch: queries are \(queries.width) bits, rows \(width)")
        var records = [ShardReduction.Record](repeating: ShardReduction.noRecord(score: score), count: queries.rowCount)
        if shard.rowCount > 0 {
            for (q, m) in shard.winners(for: queries, score: score, threads: threads, using: kernels).enumerated() {
                if let m { records[q] = ShardReduction.record(m, globalRow: globalRows[m.row], score: score) }
            }
        }
        communicator.reduceBest(&records)
        return records.map(ShardReduction.match)
    }

    /// The `k` best rows over all ranks, best first (ties: lowest global row first), as
    /// `BitMatrix.top`: each rank's local top k (which contains its part of the global top k),
    /// all gathered (k records per rank) and merged in the same order on every rank.
    public func top(_ k: Int, for query: BitVector, score: Score, threads: Int = 0, using kernels: Kernels = .default) -> [Match] {
        precondition(k >= 0, "top-k needs k >= 0, got \(k)")
        let want = min(k, rowCount)
        var mine = [ShardReduction.Record](repeating: ShardReduction.noRecord(score: score), count: want)
        for (i, m) in shard.top(want, for: query, score: score, threads: threads, using: kernels).enumerated() {
            mine[i] = ShardReduction.record(m, globalRow: globalRows[m.row], score: score)
        }
        return ShardReduction.top(want, of: communicator.allGather(mine)).compactMap(ShardReduction.match)
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

extension Communicator {
    /// Record-wise best over ranks, in place on every rank: MPI_Allreduce with a commutative user
    /// operation over a contiguous 5 × Int64 datatype (so MPI never splits a record).
    package func reduceBest(_ records: inout [ShardReduction.Record]) {
        guard !records.isEmpty else { return }
        let (type, op) = matchReduction
        let n = Int32(records.count)
        records.withUnsafeMutableBufferPointer { v in
            _ = MPI_Allreduce(bk_mpi_in_place(), v.baseAddress, n, type, op, comm)
        }
    }

    /// Every rank's records (the same count each), in rank order, on every rank.
    func allGather(_ records: [ShardReduction.Record]) -> [ShardReduction.Record] {
        let (type, _) = matchReduction
        var out = [ShardReduction.Record](repeating: ShardReduction.Record(row: -1, shared: 0, differing: 0, kind: 0, scoreBits: 0),
                                          count: records.count * size)
        records.withUnsafeBufferPointer { v in
            out.withUnsafeMutableBufferPointer { o in
                _ = MPI_Allgather(v.baseAddress, Int32(v.count), type, o.baseAddress, Int32(v.count), type, comm)
            }
        }
        return out
    }

    /// The record datatype and the best-of operation, made once per process.
    var matchReduction: (MPI_Datatype?, MPI_Op?) {
        if let made = madeMatchReduction { return made }
        precondition(MemoryLayout<ShardReduction.Record>.stride == 40, "ShardReduction.Record is not 5 packed Int64")
        var type: MPI_Datatype? = nil
        MPI_Type_contiguous(5, bk_mpi_int64(), &type)
        MPI_Type_commit(&type)
        var op: MPI_Op? = nil
        MPI_Op_create({ input, inout_, length, _ in
            guard let input, let inout_, let length else { return }
            let a = input.assumingMemoryBound(to: ShardReduction.Record.self)
            let b = inout_.assumingMemoryBound(to: ShardReduction.Record.self)
            for i in 0..<Int(length.pointee) where ShardReduction.isBetter(a[i], than: b[i]) { b[i] = a[i] }
        }, 1, &op)
        madeMatchReduction = (type, op)
        return (type, op)
    }
}
#endif
