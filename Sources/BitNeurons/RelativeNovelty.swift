import BitKernels

extension Metrics {
    /// Novelty relative to the winner's own habits: 1 − resonance / (the mean resonance of the
    /// `reference` inputs that neuron wins). Max-resonance novelty (``BitPopulation/novelty(_:)``)
    /// calls a sparse input familiar because every sparse input resonates weakly with every neuron;
    /// here an input is novel when it resonates less than what its winner usually sees.
    ///
    /// ```swift
    /// let score = Metrics.relativeNovelty(population, reference: trainInputs)
    /// let auroc = Metrics.noveltyAUROC(familiar: test.map(score), novel: other.map(score))
    /// ```
    public static func relativeNovelty(_ p: BitPopulation, reference: [BitVector]) -> (BitVector) -> Double {
        var sum = [Double](repeating: 0, count: p.neurons.rowCount), count = [Int](repeating: 0, count: p.neurons.rowCount)
        for x in reference {
            let m = p.winner(for: x)
            sum[m.row] += p.resonance(m)
            count[m.row] += 1
        }
        let overall = sum.reduce(0, +) / Double(max(count.reduce(0, +), 1))
        let typical = zip(sum, count).map { $1 > 0 ? $0 / Double($1) : overall }
        return { x in
            let m = p.winner(for: x)
            return 1 - p.resonance(m) / max(typical[m.row], 1e-9)
        }
    }

    /// AUROC of precomputed novelty scores (novel inputs are the positives).
    public static func noveltyAUROC(familiar: [Double], novel: [Double]) -> Double {
        auroc(positives: novel, negatives: familiar)
    }
}
