#if MPI
import CMPI

/// The MPI world this process belongs to: its rank, the number of ranks, and the few collectives
/// the sharded search, population and training use. MPI is initialized on first use (thread level
/// "funneled": OpenMP threads run inside the kernels, only the calling thread talks MPI) and
/// finalized by `finalize()`.
///
/// ```swift
/// let world = Communicator.world
/// if world.rank == 0 { print("running on \(world.size) ranks") }
/// world.finalize()
/// ```
///
/// MPI reports its own failures (MPI_ERRORS_ARE_FATAL): a broken link ends the whole job with
/// Open MPI's message rather than returning here.
public final class Communicator: @unchecked Sendable {
    /// This process's rank, 0..<size.
    public let rank: Int
    /// The number of ranks.
    public let size: Int
    let comm: MPI_Comm
    /// The match record datatype and reduction (ShardedBitMatrix), created on first use.
    var madeMatchReduction: (MPI_Datatype?, MPI_Op?)? = nil

    /// MPI_COMM_WORLD, initializing MPI the first time.
    public static let world: Communicator = {
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        if initialized == 0 {
            var provided: Int32 = 0
            MPI_Init_thread(nil, nil, bk_mpi_thread_funneled(), &provided)
        }
        return Communicator(bk_mpi_comm_world())
    }()

    init(_ comm: MPI_Comm) {
        self.comm = comm
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(comm, &r)
        MPI_Comm_size(comm, &s)
        rank = Int(r)
        size = Int(s)
    }

    /// Whether this is rank 0, the one that prints and writes.
    public var isRoot: Bool { rank == 0 }

    /// Ends MPI; call once, after the last collective, on every rank.
    public func finalize() {
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if finalized == 0 { MPI_Finalize() }
    }

    /// Waits until every rank gets here.
    public func barrier() { MPI_Barrier(comm) }

    /// Element-wise sum over ranks, in place on every rank (MPI_Allreduce).
    public func sum(_ values: inout [Float]) {
        let n = Int32(values.count)
        values.withUnsafeMutableBufferPointer { v in
            _ = MPI_Allreduce(bk_mpi_in_place(), v.baseAddress, n, bk_mpi_float(), bk_mpi_sum(), comm)
        }
    }

    /// Element-wise sum over ranks of `count` floats at `values`, in place (one bucket of a
    /// gradient): the package-level form the data-parallel trainer uses.
    package func sum(_ values: UnsafeMutablePointer<Float>, count: Int) {
        var done = 0
        while done < count {  // MPI counts are Int32
            let n = min(count - done, Int(Int32.max))
            MPI_Allreduce(bk_mpi_in_place(), values + done, Int32(n), bk_mpi_float(), bk_mpi_sum(), comm)
            done += n
        }
    }

    /// Element-wise sum over ranks of 64-bit integers, in place.
    public func sum(_ values: inout [Int64]) {
        let n = Int32(values.count)
        values.withUnsafeMutableBufferPointer { v in
            _ = MPI_Allreduce(bk_mpi_in_place(), v.baseAddress, n, bk_mpi_int64(), bk_mpi_sum(), comm)
        }
    }

    /// Element-wise sum over ranks of doubles, in place.
    public func sum(_ values: inout [Double]) {
        let n = Int32(values.count)
        values.withUnsafeMutableBufferPointer { v in
            _ = MPI_Allreduce(bk_mpi_in_place(), v.baseAddress, n, bk_mpi_double(), bk_mpi_sum(), comm)
        }
    }

    /// The maximum over ranks of one integer.
    public func maximum(_ value: Int64) -> Int64 {
        var v = value
        MPI_Allreduce(bk_mpi_in_place(), &v, 1, bk_mpi_int64(), bk_mpi_max(), comm)
        return v
    }

    /// The minimum over ranks of one integer.
    public func minimum(_ value: Int64) -> Int64 {
        var v = value
        MPI_Allreduce(bk_mpi_in_place(), &v, 1, bk_mpi_int64(), bk_mpi_min(), comm)
        return v
    }

    /// Every rank's `values` (all the same length), concatenated in rank order, on every rank.
    public func allGather(_ values: [Int64]) -> [Int64] {
        var out = [Int64](repeating: 0, count: values.count * size)
        values.withUnsafeBufferPointer { v in
            out.withUnsafeMutableBufferPointer { o in
                _ = MPI_Allgather(v.baseAddress, Int32(v.count), bk_mpi_int64(), o.baseAddress, Int32(v.count), bk_mpi_int64(), comm)
            }
        }
        return out
    }

    /// Every rank's `values` (lengths may differ), concatenated in rank order, on `root` only
    /// (empty elsewhere).
    public func gather(_ values: [UInt64], root: Int = 0) -> [UInt64] {
        let counts = allGather([Int64(values.count)]).map { Int32($0) }
        var displacements = [Int32](repeating: 0, count: size)
        for r in 1..<max(size, 1) { displacements[r] = displacements[r - 1] + counts[r - 1] }
        let total = Int(counts.reduce(0, +))
        var out = [UInt64](repeating: 0, count: rank == root ? total : 0)
        values.withUnsafeBufferPointer { v in
            out.withUnsafeMutableBufferPointer { o in
                counts.withUnsafeBufferPointer { c in
                    displacements.withUnsafeBufferPointer { d in
                        _ = MPI_Gatherv(v.baseAddress, Int32(v.count), bk_mpi_uint64(), o.baseAddress, c.baseAddress,
                                        d.baseAddress, bk_mpi_uint64(), Int32(root), comm)
                    }
                }
            }
        }
        return out
    }

    /// `values` as rank `root` has them, on every rank (the count must agree).
    public func broadcast(_ values: inout [UInt64], root: Int = 0) {
        let n = Int32(values.count)
        values.withUnsafeMutableBufferPointer { v in
            _ = MPI_Bcast(v.baseAddress, n, bk_mpi_uint64(), Int32(root), comm)
        }
    }
}
#endif
