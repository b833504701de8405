import BitKernels

/// Where a population keeps its neurons, as the learning rule sees them: one `BitMatrix`
/// (`BitPopulation`) or one sharded over MPI ranks (BitDistributed's `ShardedPopulation`).
package protocol NeuronRows {
    /// Neurons so far (global count when sharded).
    var rowCount: Int { get }
    /// The best neuron for `query` (highest score; ties to the lowest index); nil when empty.
    func winner(for query: BitVector, score: Score, threads: Int, using kernels: Kernels) -> Match?
    /// Adds a neuron holding `pattern`; its index is the old `rowCount`.
    mutating func grow(_ pattern: BitVector)
    /// `row ^= (target ^ row) & mask` for neuron `index`.
    mutating func flipRow(_ index: Int, toward target: BitVector, where mask: BitVector, using kernels: Kernels)
}

extension BitMatrix: NeuronRows {
    package mutating func grow(_ pattern: BitVector) { append(pattern) }
}

/// `BitPopulation`'s learning rule and its state (win counts, steps, the mask generator), apart
/// from where the neurons live, so the single-process and the sharded population learn alike.
package struct LearningRule: Sendable {
    package let configuration: BitPopulation.Configuration
    package let kernels: Kernels
    /// How many inputs each neuron has won while learning.
    package private(set) var wins: [Int]
    /// Inputs learned so far.
    package private(set) var steps: Int
    private var masks: BitMask
    private var mask: BitVector

    /// The rule after `steps` inputs: the mask generator restarts from the seed and the step count.
    package init(width: Int, configuration: BitPopulation.Configuration, wins: [Int], steps: Int = 0,
                 using kernels: Kernels) {
        self.configuration = configuration
        self.kernels = kernels
        self.wins = wins
        self.steps = steps
        masks = BitMask(seed: configuration.seed &+ UInt64(steps))
        mask = BitVector(width: width)
    }

    /// The score that picks the winner.
    package var score: Score { configuration.scoring == .jaccard ? .jaccard : .sharedMinusDiffering }

    /// Learns one input into `neurons`: the winner (or every neuron, in unbounded mode) moves
    /// toward `x`, or a new neuron copies `x` when growth is on and the best resonance is below
    /// the floor. Returns the winner's index, or the grown neuron's.
    package mutating func learn<Neurons: NeuronRows>(_ x: BitVector, into neurons: inout Neurons, threads: Int) -> Int {
        steps += 1
        if neurons.rowCount == 0 {
            neurons.grow(x)
            wins.append(1)
            return 0
        }
        let best = neurons.winner(for: x, score: score, threads: threads, using: kernels)!
        if let floor = configuration.growBelow, neurons.rowCount < configuration.capacity,
           Self.resonance(best) < floor {
            neurons.grow(x)
            wins.append(1)
            return neurons.rowCount - 1
        }
        switch configuration.mode {
        case .winnerTakeAll:
            step(best.row, of: &neurons, toward: x)
        case .unbounded:
            for r in 0..<neurons.rowCount { step(r, of: &neurons, toward: x) }
        }
        return best.row
    }

    /// One learning step of neuron `row`. The mask is drawn whoever owns the row, so sharded
    /// ranks keep their generators in step.
    private mutating func step<Neurons: NeuronRows>(_ row: Int, of neurons: inout Neurons, toward x: BitVector) {
        wins[row] += 1
        let settled = configuration.settleAfter.map { wins[row] > $0 } ?? false
        masks.fill(&mask, density: settled ? configuration.settledRate : configuration.learningRate, using: kernels)
        neurons.flipRow(row, toward: x, where: mask, using: kernels)
    }

    /// Jaccard resonance of a match (for novelty and growth, whatever the scoring).
    package static func resonance(_ m: Match) -> Double {
        let union = m.shared + m.differing
        return union == 0 ? 1 : Double(m.shared) / Double(union)
    }
}
