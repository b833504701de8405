#if MPI
import BitTraining

/// What went wrong across ranks.
public enum DistributedError: Error, CustomStringConvertible {
    /// The latent weights differ between ranks (the replicas' checksums disagree) after `step`.
    case replicasDiverged(step: Int, checksums: [UInt64])

    public var description: String {
        switch self {
        case .replicasDiverged(let step, let checksums):
            "data-parallel replicas diverged at step \(step): weight checksums \(checksums.map { String($0, radix: 16) })"
        }
    }
}

/// Data-parallel training over MPI: one `Trainer` per rank, each on its own share of the batch
/// (rank r of R takes windows r·B ..< (r + 1)·B of the R·B a single process would draw), the
/// gradients averaged with MPI_Allreduce in buckets of `bucketFloats` floats (after the backward
/// pass; not overlapped with it), and every `checkEvery` steps a checksum of the latent weights
/// compared across ranks. R ranks with batch B follow one process with batch R·B within float
/// tolerance (the sums are ordered differently).
///
/// ```swift
/// let world = Communicator.world
/// let run = try DataParallelTrainer(configuration: c, data: data, settings: s, communicator: world)
/// while run.trainer.step < s.steps { try run.trainStep() }
/// if world.isRoot { print(run.trainer.validationLoss()) }   // validationLoss is collective
/// ```
public final class DataParallelTrainer {
    public let trainer: Trainer
    public let communicator: Communicator
    /// Compare the weight checksums every this many steps (and at `replicasAgree()`).
    public let checkEvery: Int

    /// `settings.batch` is each rank's batch.
    public init(configuration: ModelConfiguration, data: TextData, settings: TrainingSettings, threads: Int = 1,
                communicator: Communicator, checkEvery: Int = 50, bucketFloats: Int = 1 << 20) throws(TrainingError) {
        precondition(checkEvery >= 1, "checkEvery must be >= 1, got \(checkEvery)")
        let parallel = DataParallel(rank: communicator.rank, ranks: communicator.size, bucketFloats: bucketFloats) { p, n in
            communicator.sum(p, count: n)
        }
        trainer = try Trainer(configuration: configuration, data: data, settings: settings, threads: threads, parallel: parallel)
        self.communicator = communicator
        self.checkEvery = checkEvery
    }

    /// One step on every rank (collective); returns the mean loss over all ranks' windows.
    @discardableResult
    public func trainStep() throws(DistributedError) -> Float {
        let loss = trainer.trainStep()
        if trainer.step % checkEvery == 0 { try checkReplicas() }
        return loss
    }

    /// Throws when the ranks' latent weights differ (collective).
    public func checkReplicas() throws(DistributedError) {
        let all = communicator.allGather([Int64(bitPattern: weightChecksum(trainer))]).map { UInt64(bitPattern: $0) }
        if Set(all).count != 1 { throw .replicasDiverged(step: trainer.step, checksums: all) }
    }
}

/// FNV-1a over the bit patterns of every latent weight, in layout order.
public func weightChecksum(_ trainer: Trainer) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for p in trainer.model.parameters {
        for v in p.values { h = (h ^ UInt64(v.bitPattern)) &* 0x100_0000_01b3 }
    }
    return h
}
#endif
