extension Metrics {
    /// How one class fares in a population: its specialists and how often its inputs find one.
    public struct ClassStats: Sendable, Codable, Equatable {
        /// The class.
        public var label: Int
        /// Inputs of this class in the evaluated set.
        public var inputs: Int
        /// Neurons whose label (majority of the training inputs they win) is this class.
        public var specialists: Int
        /// The fraction of this class's inputs whose winner is one of its specialists (per-class
        /// accuracy with neuron labels; what a class loses when it has no specialist is all of it).
        public var purity: Double
    }

    /// Per-class specialists and purity: `labels` are the neurons' labels (``neuronLabels(_:from:)``
    /// on the training set), `set` the evaluated inputs. Classes are those present in `set`, sorted.
    ///
    /// ```swift
    /// let labels = Metrics.neuronLabels(population, from: train)
    /// for c in Metrics.perClass(population, labels: labels, on: test) { print(c.label, c.specialists, c.purity) }
    /// let coverage = Metrics.perClass(population, labels: labels, on: test).filter { $0.specialists > 0 }.count
    /// ```
    public static func perClass(_ p: BitPopulation, labels: [Int], on set: EncodedSet) -> [ClassStats] {
        var inputs: [Int: Int] = [:], right: [Int: Int] = [:]
        for (x, label) in zip(set.inputs, set.labels) {
            inputs[label, default: 0] += 1
            let row = p.winner(for: x).row
            if row < labels.count && labels[row] == label { right[label, default: 0] += 1 }
        }
        return inputs.keys.sorted().map { c in
            ClassStats(label: c, inputs: inputs[c]!, specialists: labels.filter { $0 == c }.count,
                       purity: Double(right[c, default: 0]) / Double(inputs[c]!))
        }
    }
}
