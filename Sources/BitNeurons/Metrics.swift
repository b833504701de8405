import BitKernels

/// Encoded inputs with their class labels.
public struct EncodedSet: Sendable {
    /// The encoded inputs.
    public let inputs: [BitVector]
    /// The class of each input.
    public let labels: [Int]
    /// A set of as many labels as inputs.
    ///
    /// ```swift
    /// let set = EncodedSet(inputs: bits, labels: labels)
    /// ```
    public init(inputs: [BitVector], labels: [Int]) {
        precondition(inputs.count == labels.count, "\(inputs.count) inputs but \(labels.count) labels")
        self.inputs = inputs
        self.labels = labels
    }
    /// Inputs in the set.
    public var count: Int { inputs.count }
    /// Mean fraction of set bits.
    public var density: Double {
        guard let w = inputs.first?.width, w > 0 else { return 0 }
        return inputs.reduce(0.0) { $0 + Double($1.setBitCount) } / Double(count * w)
    }
}

/// What the population's behaviour is measured by.
public enum Metrics {
    /// Cluster purity: each neuron takes the majority label of the inputs it wins; the fraction of
    /// inputs whose label is their neuron's majority label.
    public static func purity(_ p: BitPopulation, on set: EncodedSet) -> Double {
        let winners = set.inputs.map { p.winner(for: $0).row }
        var counts: [Int: [Int: Int]] = [:]
        for (w, l) in zip(winners, set.labels) { counts[w, default: [:]][l, default: 0] += 1 }
        let majority = counts.values.reduce(0) { $0 + ($1.values.max() ?? 0) }
        return set.count == 0 ? 0 : Double(majority) / Double(set.count)
    }

    /// Each neuron's label: the majority label of the inputs it wins in `set` (-1 when it wins none).
    public static func neuronLabels(_ p: BitPopulation, from set: EncodedSet) -> [Int] {
        var counts = [[Int: Int]](repeating: [:], count: p.neurons.rowCount)
        for (x, l) in zip(set.inputs, set.labels) { counts[p.winner(for: x).row][l, default: 0] += 1 }
        return counts.map { c in c.max { ($0.value, -$0.key) < ($1.value, -$1.key) }?.key ?? -1 }
    }

    /// Classification accuracy when each input takes its winner's label (neurons grown after the
    /// labels were taken count as unlabeled, i.e. wrong).
    public static func accuracy(_ p: BitPopulation, labels: [Int], on set: EncodedSet) -> Double {
        guard set.count > 0 else { return 0 }
        let right = zip(set.inputs, set.labels).filter { x, label in
            let row = p.winner(for: x).row
            return row < labels.count && labels[row] == label
        }.count
        return Double(right) / Double(set.count)
    }

    /// What recall from damaged cues gives back.
    public struct Recall: Sendable, Codable {
        /// Fraction of damaged cues whose recalled neuron carries the right label.
        public var accuracy: Double
        /// accuracy / (1 / classes).
        public var timesChance: Double
        /// Fraction of all bits where the recalled pattern equals the clean input.
        public var bitsAgreeing: Double
        /// The same for an all-zero pattern: the baseline `bitsAgreeing` must beat.
        public var zeroPatternAgreeing: Double
        /// Fraction of the clean input's set bits present in the recalled pattern.
        public var setBitsRecovered: Double
    }

    /// Recall from cues with `corruption` of their bits flipped (exactly that many positions, seeded).
    public static func recall(_ p: BitPopulation, labels: [Int], on set: EncodedSet, corruption: Double = 0.1,
                              classes: Int = 10, seed: UInt64 = 99) -> Recall {
        var rng = SplitMix64(seed: seed)
        var right = 0, agree = 0.0, zeroAgree = 0.0, recovered = 0.0
        for (x, label) in zip(set.inputs, set.labels) {
            let w = x.width
            var bits = Array(0..<w)
            let flips = Int((Double(w) * corruption).rounded())
            for i in 0..<flips { bits.swapAt(i, i + Int(rng.next() % UInt64(w - i))) }
            var cueWords = x.words
            for b in bits.prefix(flips) { cueWords[b >> 6] ^= 1 << UInt64(b & 63) }
            let cue = BitVector(width: w, words: cueWords)
            let m = p.winner(for: cue)
            if labels[m.row] == label { right += 1 }
            let recalled = p.neurons[m.row]
            agree += 1 - Double(recalled.differingBits(from: x)) / Double(w)
            let set = x.setBitCount
            zeroAgree += 1 - Double(set) / Double(w)
            recovered += set == 0 ? 1 : Double(recalled.sharedBits(with: x)) / Double(set)
        }
        let n = Double(max(set.count, 1))
        let acc = Double(right) / n
        return Recall(accuracy: acc, timesChance: acc * Double(classes), bitsAgreeing: agree / n,
                      zeroPatternAgreeing: zeroAgree / n, setBitsRecovered: recovered / n)
    }

    /// AUROC of the novelty score separating `novel` (positives) from `familiar` inputs: the
    /// probability that a novel input scores higher than a familiar one (ties count half).
    public static func noveltyAUROC(_ p: BitPopulation, familiar: [BitVector], novel: [BitVector]) -> Double {
        let f = familiar.map(p.novelty), n = novel.map(p.novelty)
        return auroc(positives: n, negatives: f)
    }

    static func auroc(positives: [Double], negatives: [Double]) -> Double {
        guard !positives.isEmpty, !negatives.isEmpty else { return .nan }
        let all = (positives.map { ($0, 1) } + negatives.map { ($0, 0) }).sorted { $0.0 < $1.0 }
        var rankSum = 0.0, i = 0
        while i < all.count {  // average ranks over ties
            var j = i
            while j + 1 < all.count && all[j + 1].0 == all[i].0 { j += 1 }
            let rank = Double(i + j) / 2 + 1
            for k in i...j where all[k].1 == 1 { rankSum += rank }
            i = j + 1
        }
        let np = Double(positives.count), nn = Double(negatives.count)
        return (rankSum - np * (np + 1) / 2) / (np * nn)
    }

    /// Random patterns with the given density: the noise novelty is measured against.
    public static func noise(count: Int, width: Int, density: Double, seed: UInt64) -> [BitVector] {
        var g = BitMask(seed: seed)
        return (0..<count).map { _ in g.next(width: width, density: density) }
    }
}
