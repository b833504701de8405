/// How a `Trainer` shares its steps with other processes running the same trainer (data
/// parallelism, as BitDistributed does over MPI). Generic: BitTraining knows only "sum these
/// floats over every process", never the transport.
///
/// With `ranks` R and `TrainingSettings.batch` B, every process draws the same R·B windows a
/// single process with batch R·B would draw and keeps windows rank·B ..< (rank + 1)·B; after the
/// backward pass the gradients are summed over processes bucket by bucket (`bucketFloats` floats
/// per call, small tensors packed together) and divided by R, so each optimizer step sees the
/// gradient of the mean loss over all R·B windows. Validation batches are dealt round-robin and
/// their losses summed.
package struct DataParallel: @unchecked Sendable {
    package let rank: Int
    package let ranks: Int
    /// Sums `count` floats at the pointer over every process, in place (an all-reduce).
    package let sum: (UnsafeMutablePointer<Float>, Int) -> Void
    /// Floats per reduction call (4 MiB by default).
    package var bucketFloats: Int

    package init(rank: Int, ranks: Int, bucketFloats: Int = 1 << 20, sum: @escaping (UnsafeMutablePointer<Float>, Int) -> Void) {
        precondition(ranks >= 1 && rank >= 0 && rank < ranks, "rank \(rank) out of range 0..<\(ranks)")
        precondition(bucketFloats >= 1, "bucketFloats must be >= 1, got \(bucketFloats)")
        self.rank = rank
        self.ranks = ranks
        self.bucketFloats = bucketFloats
        self.sum = sum
    }

    /// Averages `grads` over every process: tensors smaller than a bucket are packed into a staging
    /// bucket, larger ones are reduced in place a bucket at a time.
    func average(_ grads: [Buffer], staging: inout [Float]) {
        let scale = 1 / Float(ranks)
        var pending: [Buffer] = []
        var filled = 0
        func flush() {
            guard filled > 0 else { return }
            staging.withUnsafeMutableBufferPointer { s in
                sum(s.baseAddress!, filled)
                var at = 0
                for g in pending {
                    for j in 0..<g.count { g.p[j] = s[at + j] * scale }
                    at += g.count
                }
            }
            pending = []
            filled = 0
        }
        if staging.count < bucketFloats { staging = [Float](repeating: 0, count: bucketFloats) }
        for g in grads {
            if g.count >= bucketFloats {
                var done = 0
                while done < g.count {
                    let n = min(bucketFloats, g.count - done)
                    sum(g.p + done, n)
                    done += n
                }
                for j in 0..<g.count { g.p[j] *= scale }
                continue
            }
            if filled + g.count > bucketFloats { flush() }
            staging.withUnsafeMutableBufferPointer { s in (s.baseAddress! + filled).update(from: g.p, count: g.count) }
            pending.append(g)
            filled += g.count
        }
        flush()
    }

    /// The sum of one value over every process.
    func total(_ value: Float) -> Float {
        var v = value
        sum(&v, 1)
        return v
    }
}

extension Batch {
    /// A batch from its flattened inputs and targets (`count` rows of `length`).
    init(count: Int, length: Int, inputs: [Int32], targets: [Int32]) {
        precondition(inputs.count == count * length && targets.count == count * length, "batch of \(count) x \(length): \(inputs.count) inputs")
        self.count = count
        self.length = length
        self.inputs = inputs
        self.targets = targets
    }
}
