import BitKernels
import Foundation

/// Everything that decides a run besides the model's shape and the data.
///
/// ```swift
/// let s = TrainingSettings(steps: 2000, batch: 12, context: 64,
///                          schedule: Schedule(peak: 1e-3, minimum: 1e-4, warmup: 100, steps: 2000))
/// ```
public struct TrainingSettings: Sendable, Codable, Equatable {
    /// Optimizer steps of the run.
    public var steps: Int
    /// Sequences per step.
    public var batch: Int
    /// Positions per sequence.
    public var context: Int
    /// The learning rate of each step.
    public var schedule: Schedule
    /// AdamW's hyperparameters.
    public var optimizer: AdamWSettings
    /// Seeds initialization, batches and sampling: the same seed gives the same run.
    public var seed: UInt64
    /// Evaluate every this many steps (and at the end).
    public var evalEvery: Int
    /// Fixed validation batches, drawn once from the seed.
    public var evalBatches: Int

    /// Settings.
    ///
    /// ```swift
    /// let s = TrainingSettings(steps: 2000, batch: 12, context: 64,
    ///                          schedule: Schedule(peak: 1e-3, minimum: 1e-4, warmup: 100, steps: 2000))
    /// ```
    public init(steps: Int, batch: Int, context: Int, schedule: Schedule, optimizer: AdamWSettings = AdamWSettings(),
                seed: UInt64 = 1, evalEvery: Int = 250, evalBatches: Int = 200) {
        self.steps = steps
        self.batch = batch
        self.context = context
        self.schedule = schedule
        self.optimizer = optimizer
        self.seed = seed
        self.evalEvery = evalEvery
        self.evalBatches = evalBatches
    }
}

/// One evaluation: the mean training loss of the steps since the last one, the validation loss on
/// the fixed batches, and the speed.
public struct Evaluation: Sendable, Codable, Equatable {
    /// The step after which it was taken.
    public var step: Int
    /// Mean training loss of the steps since the previous evaluation.
    public var trainLoss: Double
    /// Mean loss on the fixed validation batches.
    public var validationLoss: Double
    /// The learning rate of the step.
    public var learningRate: Double
    /// Training tokens per second since the start.
    public var tokensPerSecond: Double
    /// Training time so far (evaluations excluded).
    public var elapsedSeconds: Double
}

/// Per BitLinear matrix after a step: the share of codes −1/0/+1, the codes changed by the step,
/// the share of latent weights within 5% of a rounding threshold, and ‖W − Wq‖ / ‖W‖.
///
/// ```swift
/// trainer.observer = { step, stats in print(step, stats.map(\.flips).reduce(0, +)) }
/// ```
public struct MatrixStatistics: Sendable, Codable, Equatable {
    /// The decoder layer of the matrix.
    public var layer: Int
    /// q, k, v, o, gate, up or down.
    public var matrix: String
    /// Share of codes −1.
    public var minusShare: Double
    /// Share of codes 0.
    public var zeroShare: Double
    /// Share of codes +1.
    public var plusShare: Double
    /// Codes the step changed.
    public var flips: Int
    /// Ternary: ||w| / s − 0.5| < 0.05 (5% of the step between codes); binary: |w − mean| < 0.05 · s.
    public var nearThresholdShare: Double
    /// ‖W − Wq‖ / ‖W‖.
    public var relativeQuantizationError: Double
}

extension TrainableModel {
    /// Statistics of every BitLinear matrix's current codes (flips: since the previous `requantize`).
    /// Empty for `.float`.
    public func quantizationStatistics() -> [MatrixStatistics] {
        var out: [MatrixStatistics] = []
        guard configuration.precision != .float else { return out }
        for l in 0..<configuration.layers {
            for slot in Slot.allCases {
                guard let name = slot.matrixName else { continue }
                let i = configuration.index(layer: l, slot)
                let c = codes[i]!, w = weights[i].p, dq = dequantized[i]!.p, s = scales[i]!, centre = centres[i]!
                var counts = [0, 0, 0], near = 0, err = 0.0, norm = 0.0
                for j in 0..<c.count {
                    counts[Int(c[j]) + 1] += 1
                    let x = w[j]
                    if configuration.precision == .ternary {
                        if abs(abs(x) / s - 0.5) < 0.05 { near += 1 }
                    } else if abs(x - centre) < 0.05 * s {
                        near += 1
                    }
                    err += Double(x - dq[j]) * Double(x - dq[j])
                    norm += Double(x) * Double(x)
                }
                let n = Double(c.count)
                out.append(MatrixStatistics(layer: l, matrix: name, minusShare: Double(counts[0]) / n, zeroShare: Double(counts[1]) / n,
                                            plusShare: Double(counts[2]) / n, flips: lastFlips[i] ?? 0,
                                            nearThresholdShare: Double(near) / n, relativeQuantizationError: (err / max(norm, 1e-30)).squareRoot()))
            }
        }
        return out
    }
}

/// A training run: model, AdamW, data, the window generator, the step and the evaluation log.
/// Deterministic for a seed and thread count.
///
/// ```swift
/// let trainer = try Trainer(configuration: c, data: data, settings: s, threads: 2)
/// while trainer.step < s.steps { _ = trainer.trainStep() }
/// let val = trainer.validationLoss()
/// ```
public final class Trainer {
    /// The model being trained.
    public let model: TrainableModel
    /// The optimizer and its moments.
    public internal(set) var optimizer: AdamW
    /// The text it trains on.
    public let data: TextData
    /// Steps, batch, context, schedule, optimizer and seed.
    public let settings: TrainingSettings
    /// Steps done.
    public internal(set) var step = 0
    /// Every evaluation so far.
    public internal(set) var evaluations: [Evaluation] = []
    /// Called after every step with the step number (1-based) and each matrix's statistics; nil to
    /// skip computing them.
    public var observer: ((Int, [MatrixStatistics]) -> Void)?
    var generator: SplitMix64
    let validationBatches: [Batch]
    var recentLosses: [Float] = []
    var elapsed: Double = 0
    /// Set when this trainer is one of several sharing each step (see `DataParallel`).
    let parallel: DataParallel?
    var reductionStaging: [Float] = []

    /// A freshly initialized model on `data`; throws `.invalid` for settings that cannot run.
    /// See the type's example.
    public convenience init(configuration: ModelConfiguration, data: TextData, settings: TrainingSettings, threads: Int = 1) throws(TrainingError) {
        try self.init(configuration: configuration, data: data, settings: settings, threads: threads, parallel: nil)
    }

    /// A trainer that is rank `parallel.rank` of `parallel.ranks` data-parallel ones; `settings.batch`
    /// is the batch of each rank.
    package init(configuration: ModelConfiguration, data: TextData, settings: TrainingSettings, threads: Int = 1,
                 parallel: DataParallel?) throws(TrainingError) {
        guard settings.steps > 0 else { throw .invalid("steps must be positive (got \(settings.steps))") }
        guard settings.batch > 0 else { throw .invalid("batch must be positive (got \(settings.batch))") }
        guard settings.context > 0 else { throw .invalid("context must be positive (got \(settings.context))") }
        guard settings.evalEvery > 0, settings.evalBatches > 0 else { throw .invalid("eval-every and eval batches must be positive") }
        guard data.trainCount > settings.context + 1 else {
            throw .invalid("context \(settings.context) is longer than the training data (\(data.trainCount) tokens)")
        }
        guard data.validationCount > settings.context + 1 else {
            throw .invalid("context \(settings.context) is longer than the validation data (\(data.validationCount) tokens)")
        }
        guard configuration.vocabularySize >= data.vocabularySize else {
            throw .invalid("vocabulary \(configuration.vocabularySize) is smaller than the data's \(data.vocabularySize) tokens")
        }
        self.parallel = parallel
        model = TrainableModel(configuration: configuration, seed: settings.seed, threads: threads)
        optimizer = AdamW(model: model, settings: settings.optimizer)
        self.data = data
        self.settings = settings
        generator = SplitMix64(seed: settings.seed ^ 0x6461_7461)  // "data"
        var v = SplitMix64(seed: settings.seed ^ 0x7661_6c69)  // "vali"
        let ranks = parallel?.ranks ?? 1
        validationBatches = (0..<settings.evalBatches).map { _ in data.batch(count: settings.batch * ranks, context: settings.context, validation: true, generator: &v) }
    }

    /// One step: a random batch, loss and gradients, AdamW at the scheduled rate. Returns the loss.
    @discardableResult
    public func trainStep() -> Float {
        let start = DispatchTime.now().uptimeNanoseconds
        var loss: Float
        if let parallel {
            // The windows one process with batch R·B would draw; this rank's B of them.
            let all = data.batch(count: settings.batch * parallel.ranks, context: settings.context, validation: false, generator: &generator)
            let span = settings.batch * settings.context, from = parallel.rank * span
            let mine = Batch(count: settings.batch, length: settings.context, inputs: Array(all.inputs[from..<(from + span)]),
                             targets: Array(all.targets[from..<(from + span)]))
            loss = model.lossAndGradients(mine)
            parallel.average(model.grads, staging: &reductionStaging)
            model.gradientSquares = []  // of this rank's gradients, not of the average
            loss = parallel.total(loss) / Float(parallel.ranks)
        } else {
            let batch = data.batch(count: settings.batch, context: settings.context, validation: false, generator: &generator)
            loss = model.lossAndGradients(batch)
        }
        let lr = settings.schedule.learningRate(at: step)
        optimizer.step(model: model, learningRate: lr, weightDecay: settings.schedule.isSecondStage(step) ? 0 : nil)
        step += 1
        recentLosses.append(loss)
        elapsed += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        if let observer { observer(step, model.quantizationStatistics()) }
        return loss
    }

    /// Mean loss over the fixed validation batches.
    public func validationLoss() -> Double {
        guard let parallel else {
            return validationBatches.reduce(0.0) { $0 + Double(model.loss($1)) } / Double(validationBatches.count)
        }
        // Round-robin over ranks, the losses summed (in float: within float tolerance of one process).
        var mine: Double = 0
        for i in stride(from: parallel.rank, to: validationBatches.count, by: parallel.ranks) { mine += Double(model.loss(validationBatches[i])) }
        return Double(parallel.total(Float(mine))) / Double(validationBatches.count)
    }

    /// Evaluates now and appends to `evaluations`; the train loss is the mean over the steps since
    /// the last evaluation.
    @discardableResult
    public func evaluate() -> Evaluation {
        let train = recentLosses.isEmpty ? .nan : recentLosses.reduce(0.0) { $0 + Double($1) } / Double(recentLosses.count)
        recentLosses = []
        let e = Evaluation(step: step, trainLoss: train, validationLoss: validationLoss(),
                           learningRate: settings.schedule.learningRate(at: max(step - 1, 0)),
                           tokensPerSecond: tokensPerSecond,
                           elapsedSeconds: elapsed)
        evaluations.append(e)
        return e
    }

    /// Training tokens per second of wall time spent in steps so far (over all ranks when data-parallel).
    public var tokensPerSecond: Double {
        elapsed > 0 ? Double(step * settings.batch * (parallel?.ranks ?? 1) * settings.context) / elapsed : 0
    }

    /// Greedy-free sample: `count` tokens after `prompt`, drawn at temperature 1 from a seeded generator
    /// (the context window slides).
    public func sample(prompt: [Int], count: Int, seed: UInt64) -> [Int] {
        var rng = SplitMix64(seed: seed)
        var ids = prompt.isEmpty ? [0] : prompt
        let v = model.configuration.vocabularySize
        for _ in 0..<count {
            let window = Array(ids.suffix(settings.context))
            let logits = model.logits(window).suffix(v)
            let best = logits.max()!
            let p = logits.map { Double(Foundation.exp($0 - best)) }
            var u = Double(rng.next() >> 11) / Double(1 << 53) * p.reduce(0, +)
            var pick = v - 1
            for (j, x) in p.enumerated() {
                u -= x
                if u <= 0 { pick = j; break }
            }
            ids.append(pick)
        }
        return Array(ids.suffix(count))
    }
}
