import BitKernels

/// A population of bit-neurons that organizes itself without gradients or floating point: each
/// neuron holds a bit-pattern; for each input the neuron that resonates most (the fused winner
/// kernel) moves its bits toward the input through a random mask (the masked-flip kernel,
/// `next = cur ^ ((input ^ cur) & mask)`), the mask density being the learning rate.
///
/// ```swift
/// var population = BitPopulation(width: 784, configuration: .init(neurons: 50), seedInputs: firstInputs)
/// for x in stream { population.learn(x) }
/// let recalled = population.recall(damagedCue)      // the winning neuron's pattern
/// ```
public struct BitPopulation: Sendable {
    /// How a population scores, starts, learns and grows.
    public struct Configuration: Sendable, Equatable, Codable {
        /// How an input and a neuron are scored.
        public enum Scoring: String, Sendable, Codable, CaseIterable {
            /// |x ∧ w| / |x ∨ w|: fair to dense and sparse patterns alike.
            case jaccard
            /// |x ∧ w| − |x ⊕ w| (shared minus differing bits).
            case basic
        }
        /// What the neurons are before learning.
        public enum Start: String, Sendable, Codable, CaseIterable {
            /// Neurons start as copies of the first inputs seen.
            case inputs
            /// Neurons start as random bits of density 0.5.
            case randomDense
        }
        /// Who learns each input.
        public enum Mode: String, Sendable, Codable, CaseIterable {
            /// Only the winner learns each input.
            case winnerTakeAll
            /// Control: every neuron learns every input.
            case unbounded
        }

        /// Neurons at the start.
        public var neurons: Int
        /// The score that picks the winner.
        public var scoring: Scoring = .jaccard
        /// What the neurons start as.
        public var start: Start = .inputs
        /// Who learns each input.
        public var mode: Mode = .winnerTakeAll
        /// Mask density of a learning step (the fraction of differing bits that flip).
        public var learningRate: Double = 0.1
        /// After this many wins a neuron counts as settled and learns at `settledRate` (nil: never).
        public var settleAfter: Int? = nil
        /// The learning rate of a settled neuron.
        public var settledRate: Double = 0.02
        /// Grow a new neuron (a copy of the input) when the best Jaccard resonance is below this,
        /// up to `capacity` neurons (nil: fixed size).
        public var growBelow: Double? = nil
        /// The most neurons growth may reach.
        public var capacity: Int = 1000
        /// Seeds the masks and random starts: the same seed and inputs give the same population.
        public var seed: UInt64 = 1

        /// A configuration; every parameter but `neurons` has the default of the study.
        ///
        /// ```swift
        /// let c = BitPopulation.Configuration(neurons: 100, learningRate: 0.05, growBelow: 0.3)
        /// ```
        public init(neurons: Int, scoring: Scoring = .jaccard, start: Start = .inputs, mode: Mode = .winnerTakeAll,
                    learningRate: Double = 0.1, settleAfter: Int? = nil, settledRate: Double = 0.02,
                    growBelow: Double? = nil, capacity: Int = 1000, seed: UInt64 = 1) {
            self.neurons = neurons
            self.scoring = scoring
            self.start = start
            self.mode = mode
            self.learningRate = learningRate
            self.settleAfter = settleAfter
            self.settledRate = settledRate
            self.growBelow = growBelow
            self.capacity = capacity
            self.seed = seed
        }
    }

    /// Bits per neuron (and per input).
    public let width: Int
    /// How this population learns.
    public var configuration: Configuration { learning.configuration }
    /// The neurons' patterns, one row each.
    public internal(set) var neurons: BitMatrix
    /// How many inputs each neuron has won while learning.
    public var wins: [Int] { learning.wins }
    /// Inputs learned so far.
    public var steps: Int { learning.steps }
    var learning: LearningRule
    var kernels: Kernels { learning.kernels }
    var score: Score { learning.score }

    /// A population of `configuration.neurons` neurons. With `.inputs` starts, `seedInputs` provides
    /// the starting patterns (the first ones are used; fewer than `neurons` is an error).
    public init(width: Int, configuration: Configuration, seedInputs: [BitVector] = [], using kernels: Kernels = .default) {
        precondition(configuration.neurons >= 1 || configuration.growBelow != nil, "a population needs at least one neuron")
        precondition(configuration.learningRate >= 0 && configuration.learningRate <= 1, "learningRate must be in 0...1")
        self.width = width
        var neurons = BitMatrix(width: width, reservingRows: max(configuration.neurons, 1))
        switch configuration.start {
        case .inputs:
            precondition(seedInputs.count >= configuration.neurons,
                         "starting from inputs needs \(configuration.neurons) seed inputs, got \(seedInputs.count)")
            for x in seedInputs.prefix(configuration.neurons) { neurons.append(x) }
        case .randomDense:
            var g = BitMask(seed: configuration.seed ^ 0x5eed)
            for _ in 0..<configuration.neurons { neurons.append(g.next(width: width, density: 0.5, using: kernels)) }
        }
        self.neurons = neurons
        learning = LearningRule(width: width, configuration: configuration,
                                wins: [Int](repeating: 0, count: neurons.rowCount), using: kernels)
    }

    /// A population in a given state (a loaded file, a gathered sharded population); the mask
    /// generator restarts from the seed and the step count.
    package init(width: Int, configuration: Configuration, neurons: BitMatrix, wins: [Int], steps: Int, using kernels: Kernels = .default) {
        self.width = width
        self.neurons = neurons
        learning = LearningRule(width: width, configuration: configuration, wins: wins, steps: steps, using: kernels)
    }

    /// Learns one input; returns the index of the neuron that learned it (in unbounded mode, the
    /// winner; a grown neuron's index when one was added).
    @discardableResult
    public mutating func learn(_ x: BitVector) -> Int { learnReturningWinner(x, threads: 1) }

    /// `learn` with the winner search shared among `threads` OpenMP threads (worth it from
    /// ~16,000 neurons).
    @discardableResult
    public mutating func learnReturningWinner(_ x: BitVector, threads: Int) -> Int {
        precondition(x.width == width, "input is \(x.width) bits, the population \(width)")
        return learning.learn(x, into: &neurons, threads: threads)
    }

    /// Jaccard resonance of the best match (for novelty and growth, whatever the scoring).
    func resonance(_ m: Match) -> Double { LearningRule.resonance(m) }

    /// The winning neuron for `x` (highest score; ties to the lowest index).
    public func winner(for x: BitVector) -> Match { neurons.winner(for: x, score: score, threads: 1, using: kernels)! }

    /// Starting patterns spread over the data (farthest-point seeding, as k-means++ without the
    /// randomness): the first candidate, then repeatedly the candidate whose best Jaccard
    /// resonance with those chosen is lowest. Deterministic for the same candidates.
    public static func spreadSeeds(from candidates: [BitVector], count: Int, using kernels: Kernels = .default) -> [BitVector] {
        guard let first = candidates.first, count > 0 else { return [] }
        var chosen = BitMatrix(width: first.width, reservingRows: count)
        chosen.append(first)
        var best = candidates.map { Double(chosen.winner(for: $0, score: .jaccard, threads: 1, using: kernels)!.score) }
        while chosen.rowCount < min(count, candidates.count) {
            let pick = best.indices.min { best[$0] < best[$1] }!
            chosen.append(candidates[pick])
            let newest = BitMatrix(width: first.width, rows: [candidates[pick]])
            for i in candidates.indices {
                best[i] = max(best[i], Double(newest.winner(for: candidates[i], score: .jaccard, threads: 1, using: kernels)!.score))
            }
        }
        return chosen.rows
    }

    /// Recall: the pattern of the neuron that resonates most with a (possibly damaged) cue.
    public func recall(_ cue: BitVector) -> BitVector { neurons[winner(for: cue).row] }

    /// Novelty of `x`: 1 − the best Jaccard resonance (0 = exactly a stored pattern).
    public func novelty(_ x: BitVector) -> Double {
        let best = neurons.winner(for: x, score: .jaccard, threads: 1, using: kernels)!
        return 1 - resonance(best)
    }

    /// Mean Hamming distance between pairs of neurons: small when the population blurred into one pattern.
    public var meanPairwiseDistance: Double {
        let n = neurons.rowCount
        guard n > 1 else { return 0 }
        var total = 0
        for i in 0..<n {
            let row = neurons[i]
            for j in (i + 1)..<n { total += row.differingBits(from: neurons[j], using: kernels) }
        }
        return Double(total) / Double(n * (n - 1) / 2)
    }
}
