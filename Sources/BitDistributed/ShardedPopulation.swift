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
    /// How this population learns.
    public var configuration: BitPopulation.Configuration { learning.configuration }
    /// The neurons' patterns, sharded.
    public private(set) var neurons: ShardedBitMatrix
    /// How many inputs each neuron (global index) has won while learning; the same on every rank.
    public var wins: [Int] { learning.wins }
    /// Inputs learned so far.
    public var steps: Int { learning.steps }
    /// The single-process rule, replicated on every rank (win counts, mask generator).
    var learning: LearningRule
    let threads: Int

    /// The starting neurons of `BitPopulation(width:configuration:seedInputs:)`, in contiguous
    /// blocks over the ranks. `threads` OpenMP threads score each rank's shard.
    public init(width: Int, configuration: BitPopulation.Configuration, seedInputs: [BitVector] = [],
                communicator: Communicator, threads: Int = 1, using kernels: Kernels = .default) {
        let start = BitPopulation(width: width, configuration: configuration, seedInputs: seedInputs, using: kernels)
        self.width = width
        self.threads = threads
        neurons = ShardedBitMatrix(distributing: start.neurons, communicator: communicator)
        learning = LearningRule(width: width, configuration: configuration, wins: start.wins, using: kernels)
    }

    /// Learns one input; returns the global index of the neuron that learned it (as `BitPopulation.learn`).
    @discardableResult
    public mutating func learn(_ x: BitVector) -> Int {
        precondition(x.width == width, "input is \(x.width) bits, the population \(width)")
        return learning.learn(x, into: &neurons, threads: threads)
    }

    /// The global winner for `x` (highest score; ties to the lowest index). Collective.
    public func winner(for x: BitVector) -> Match {
        neurons.winner(for: x, score: learning.score, threads: threads, using: learning.kernels)!
    }

    /// The whole population as one `BitPopulation` on rank `root` (nil on the others), for the
    /// single-process metrics and files. Collective.
    public func gathered(root: Int = 0) -> BitPopulation? {
        guard let patterns = neurons.gathered(root: root) else { return nil }
        return BitPopulation(width: width, configuration: configuration, neurons: patterns, wins: wins, steps: steps,
                             using: learning.kernels)
    }
}

extension ShardedBitMatrix: NeuronRows {
    /// A grown neuron goes to the least-loaded rank.
    package mutating func grow(_ pattern: BitVector) { append(pattern, on: leastLoadedRank) }
}
#endif
