import ArgumentParser
import Foundation

#if MPI
import BitDistributed
#endif

/// How many processes mpirun started, from its environment (Open MPI's OMPI_COMM_WORLD_SIZE,
/// or PMI_SIZE of MPICH and Slurm); nil when not launched by mpirun.
func mpiRanksFromEnvironment() -> Int? {
    let env = ProcessInfo.processInfo.environment
    return (env["OMPI_COMM_WORLD_SIZE"] ?? env["PMI_SIZE"]).flatMap { Int($0) }
}

#if MPI
/// The MPI world when launched by mpirun (nil otherwise). Ranks other than 0 stop writing to
/// stdout: rank 0 prints and writes files, the others stay quiet (errors still go to stderr).
func distributedWorld() -> Communicator? {
    guard mpiRanksFromEnvironment() != nil else { return nil }
    let world = Communicator.world
    if !world.isRoot {
        fflush(nil)  // every stream, stdout included
        let devNull = open("/dev/null", O_WRONLY)
        if devNull >= 0 {
            dup2(devNull, 1)
            close(devNull)
        }
    }
    return world
}
#else
/// Launched by mpirun with several ranks, but built without MPI: each rank would run the whole
/// job alone and write the same files, so that is a usage error.
func refuseMPIWithoutTrait(_ command: String) throws {
    if let ranks = mpiRanksFromEnvironment(), ranks > 1 {
        throw ValidationError("\(command) was started by mpirun on \(ranks) ranks, but this bitkernels was built without MPI; build it with `swift build --traits MPI`")
    }
}

/// Whether this process is rank 0: always without MPI. A function, not a `true` literal, so that
/// code shared with the MPI build (`guard isRoot else { return }`) is not flagged as unreachable.
@inline(never) func isRootRank() -> Bool { true }
#endif
