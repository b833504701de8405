#if MPI
import BitKernels
import BitNeurons

/// `BitPopulation`'s winner-take-all loop over neurons spread across ranks: each input is scored
/// on every rank (each its own neurons), the global winner (ties to the lowest neuron index)
/// learns on the rank that owns it, and growth places a new neuron on the least-loaded rank.
/// Neuron indices are global and in creation order, as in the single-process population, and
/// the mask generator and win counts are replicated on every rank (a mask of `width` bits per
/// step), so the winners and final patterns equal `BitPopulation`'s for the same seed and inputs.
///
/// Collective: every rank calls `learn` with the same inputs in the same order.
///
/// ```swift
/// var population = ShardedPopulation(width: 784, configuration: .init(neurons: 50),
///                                    seedInputs: firstInputs, communicator: .world)
/// for x in stream { population.learn(x) }
/// let patterns = population.neurons.gathered()   // rank 0: every neuron, in index order
/// ```
public struct ShardedPopulation: Sendable {
    public let width: Int
    public let configuration: BitPopulation.Configuration
    /// The neurons' patterns, sharded.
    public private(set) var neurons: ShardedBitMatrix
    /// How many inputs each neuron (global index) has won while learning; the same on every rank.
    public private(set) var wins: [Int]
    /// Inputs learned so far.
    public private(set) var steps = 0
    var masks: BitMask
    var mask: BitVector
    let kernels: Kernels
    let threads: Int

    var score: Score { configuration.scoring == .jaccard ? .jaccard : .sharedMinusDiffering }

    /// The starting neurons of `BitPopulation(width:configuration:seedInputs:)`, in contiguous
    /// blocks over the ranks. `threads` OpenMP threads score each rank's shard.
    public init(width: Int, configuration: BitPopulation.Configuration, seedInputs: [BitVector] = [],
                communicator: Communicator, threads: Int = 1, using kernels: Kernels = .default) {
        let start = BitPopulation(width: width, configuration: configuration, seedInputs: seedInputs, using: kernels)
        self.width = width
        self.configuration = configuration
        self.kernels = kernels
        self.threads = threads
        masks = BitMask(seed: configuration.seed)
        mask = BitVector(width: width)
        neurons = ShardedBitMatrix(distributing: start.neurons, communicator: communicator)
        wins = start.wins
    }

    /// Learns one input; returns the global index of the neuron that learned it (as `BitPopulation.learn`).
    @discardableResult
    public mutating func learn(_ x: BitVector) -> Int {
        precondition(x.width == width, "input is \(x.width) bits, the population \(width)")
        steps += 1
        if neurons.rowCount == 0 {
            neurons.append(x, on: neurons.leastLoadedRank)
            wins.append(1)
            return 0
        }
        let best = neurons.winner(for: x, score: score, threads: threads, using: kernels)!
        if let floor = configuration.growBelow, neurons.rowCount < configuration.capacity, resonance(best) < floor {
            neurons.append(x, on: neurons.leastLoadedRank)
            wins.append(1)
            return neurons.rowCount - 1
        }
        switch configuration.mode {
        case .winnerTakeAll:
            step(best.row, toward: x)
        case .unbounded:
            for r in 0..<neurons.rowCount { step(r, toward: x) }
        }
        return best.row
    }

    /// One learning step of neuron `row`: every rank draws the mask (the generator stays in step),
    /// only the owner flips.
    private mutating func step(_ row: Int, toward x: BitVector) {
        wins[row] += 1
        let settled = configuration.settleAfter.map { wins[row] > $0 } ?? false
        masks.fill(&mask, density: settled ? configuration.settledRate : configuration.learningRate, using: kernels)
        neurons.flipRow(row, toward: x, where: mask, using: kernels)
    }

    /// The global winner for `x` (highest score; ties to the lowest index). Collective.
    public func winner(for x: BitVector) -> Match { neurons.winner(for: x, score: score, threads: threads, using: kernels)! }

    /// The whole population as one `BitPopulation` on rank `root` (nil on the others), for the
    /// single-process metrics and files. Collective.
    public func gathered(root: Int = 0) -> BitPopulation? {
        guard let patterns = neurons.gathered(root: root) else { return nil }
        return BitPopulation(width: width, configuration: configuration, neurons: patterns, wins: wins, steps: steps, using: kernels)
    }

    func resonance(_ m: Match) -> Double {
        let union = m.shared + m.differing
        return union == 0 ? 1 : Double(m.shared) / Double(union)
    }
}
#endif
