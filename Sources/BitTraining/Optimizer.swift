import BitKernels
import Foundation

/// The learning-rate schedule: linear warmup, then cosine or linear decay to `minimum`, with
/// BitNet's two-stage option (from the middle of training the rate is scaled by
/// `secondStageFactor` and weight decay is switched off).
///
/// ```swift
/// let s = Schedule(peak: 1e-3, minimum: 1e-4, warmup: 100, steps: 2000)
/// s.learningRate(at: 0)   // 1e-3 · 1 / 101, nanoGPT's warmup
/// ```
public struct Schedule: Sendable, Codable, Equatable {
    /// The shape of the learning rate after warmup.
    public enum Decay: String, Sendable, Codable { case cosine, linear, constant }
    /// The learning rate at the end of warmup.
    public var peak: Double
    /// The learning rate decay ends at.
    public var minimum: Double
    /// Steps of linear warmup.
    public var warmup: Int
    /// Steps of the whole run.
    public var steps: Int
    /// How the rate falls from `peak` to `minimum`.
    public var decay: Decay
    /// BitNet's two-stage schedule: halfway, the rate drops by `secondStageFactor` and weight decay stops.
    public var twoStage: Bool
    /// The second stage's rate as a fraction of the first's.
    public var secondStageFactor: Double

    /// A schedule; see the type's example.
    public init(peak: Double, minimum: Double, warmup: Int, steps: Int, decay: Decay = .cosine, twoStage: Bool = false,
                secondStageFactor: Double = 0.5) {
        self.peak = peak
        self.minimum = minimum
        self.warmup = warmup
        self.steps = steps
        self.decay = decay
        self.twoStage = twoStage
        self.secondStageFactor = secondStageFactor
    }

    /// The rate at step `it` (0-based), as nanoGPT's `get_lr`: peak · (it + 1) / (warmup + 1) during
    /// warmup, then the decay from peak to minimum over the remaining steps.
    public func learningRate(at it: Int) -> Double {
        var lr: Double
        if it < warmup {
            lr = peak * Double(it + 1) / Double(warmup + 1)
        } else {
            let ratio = min(Double(it - warmup) / Double(max(steps - warmup, 1)), 1)
            switch decay {
            case .cosine: lr = minimum + 0.5 * (1 + Foundation.cos(Double.pi * ratio)) * (peak - minimum)
            case .linear: lr = peak - ratio * (peak - minimum)
            case .constant: lr = peak
            }
        }
        if isSecondStage(it) { lr *= secondStageFactor }
        return lr
    }

    /// In BitNet's second stage (two-stage schedules, from step steps / 2): no weight decay.
    public func isSecondStage(_ it: Int) -> Bool { twoStage && it >= steps / 2 }
}

/// AdamW hyperparameters (torch.optim.AdamW's defaults except where the recipe says otherwise).
///
/// ```swift
/// let h = AdamWSettings(beta2: 0.99, weightDecay: 0.1, clip: 1)
/// ```
public struct AdamWSettings: Sendable, Codable, Equatable {
    /// Decay of the first moment.
    public var beta1: Double
    /// Decay of the second moment.
    public var beta2: Double
    /// Added to the second moment's root.
    public var epsilon: Double
    /// Decoupled weight decay of matrices (not norms or the embedding).
    public var weightDecay: Double
    /// Global gradient-norm clip (0 = none).
    public var clip: Double

    /// Settings; every parameter has the reference recipe's default.
    public init(beta1: Double = 0.9, beta2: Double = 0.99, epsilon: Double = 1e-8, weightDecay: Double = 0.1, clip: Double = 1) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.clip = clip
    }
}

/// AdamW with decoupled weight decay on matrices only (BitLinear weights and an untied head; not
/// norms or the embedding), the update torch.optim.AdamW makes, and global-norm clipping as
/// `clip_grad_norm_`. Updates the latent weights, then re-packs the quantized matrices.
///
/// ```swift
/// var opt = AdamW(model: model, settings: AdamWSettings())
/// let loss = model.lossAndGradients(batch)
/// opt.step(model: model, learningRate: 1e-3)
/// ```
public struct AdamW: Sendable {
    /// The optimizer's hyperparameters.
    public var settings: AdamWSettings
    /// Steps taken.
    public internal(set) var step = 0
    // First and second moments of every weight, the tensors one after another (tensor i at
    // `ranges[i]`), so that one parallel pass covers them all.
    var m: [Float]
    var v: [Float]
    let ranges: [Range<Int>]

    /// Zero moments for every weight of `model`.
    public init(model: TrainableModel, settings: AdamWSettings) {
        self.settings = settings
        var at = 0
        ranges = model.weights.map { w in
            defer { at += w.count }
            return at..<(at + w.count)
        }
        m = [Float](repeating: 0, count: at)
        v = m
    }

    /// Clips the gradients, applies one update at `learningRate` and re-packs; returns the gradient
    /// norm before clipping.
    @discardableResult
    public mutating func step(model: TrainableModel, learningRate lr: Double, weightDecay: Double? = nil) -> Double {
        precondition(model.weights.count == ranges.count && zip(model.weights, ranges).allSatisfy { $0.count == $1.count },
                     "AdamW.step: the model is not the one the optimizer was made for")
        // Every tensor cut into chunks of 8Ki weights, shared among the model's threads: the sum of
        // squares per chunk (eight double lanes, added in a fixed order), the chunks' sums in order,
        // then each weight's update by itself — the same values at any thread count.
        let chunk = TrainableModel.gradientSquareChunk
        let known = model.gradientSquares.count == model.grads.count ? model.gradientSquares : []
        model.gradientSquares = []
        var pieces: [(tensor: Int, from: Int, to: Int)] = []
        for i in model.grads.indices {
            for from in stride(from: 0, to: model.grads[i].count, by: chunk) { pieces.append((i, from, min(from + chunk, model.grads[i].count))) }
        }
        var partials = [Double](repeating: 0, count: pieces.count)
        partials.withUnsafeMutableBufferPointer { pp in
            nonisolated(unsafe) let pp = pp
            parallelFor(pieces.count, threads: model.threads) { k in
                let (i, from, to) = pieces[k]
                if !known.isEmpty, let sums = known[i] {
                    pp[k] = sums[from / chunk]
                } else {
                    pp[k] = Kernels.default.sumOfSquares(model.grads[i].p + from, count: to - from)
                }
            }
        }
        let norm = partials.reduce(0, +).squareRoot()
        var factor: Float = 1
        if settings.clip > 0 { factor = Float(min(settings.clip / (norm + 1e-6), 1)) }
        step += 1
        let b1 = Float(settings.beta1), b2 = Float(settings.beta2), eps = Float(settings.epsilon)
        let bc1 = 1 - Foundation.pow(settings.beta1, Double(step)), bc2 = 1 - Foundation.pow(settings.beta2, Double(step))
        let stepSize = Float(lr / bc1), bc2Root = Float(bc2.squareRoot())
        let wd = weightDecay ?? settings.weightDecay
        let decays = model.layout.map { $0.kind == .linear || $0.kind == .head ? Float(1 - lr * wd) : 1 }
        let constants = decays.map { decay in
            Kernels.AdamWStep(factor: factor, decay: decay, beta1: b1, beta2: b2, step_size: stepSize, bias2_root: bc2Root, epsilon: eps)
        }
        // Each tensor's update and then, for a BitLinear matrix, its re-quantization while its
        // weights are still in cache. The update is element-wise and every matrix is re-quantized
        // by itself, so the values do not depend on how the tensors are dealt among the threads:
        // largest first, each to the least loaded thread.
        let ranges = ranges, workers = min(model.threads, ranges.count)
        let requantizing = model.configuration.precision != .float
        if requantizing { model.prepareRequantization() }
        let cost = ranges.indices.map { ranges[$0].count * (requantizing && model.layout[$0].kind == .linear ? 2 : 1) }
        var shares = [[Int]](repeating: [], count: workers), load = [Int](repeating: 0, count: workers)
        for i in ranges.indices.sorted(by: { cost[$0] != cost[$1] ? cost[$0] > cost[$1] : $0 < $1 }) {
            let w = load.indices.min { load[$0] < load[$1] }!
            shares[w].append(i)
            load[w] += cost[i]
        }
        var results = [TrainableModel.Requantized?](repeating: nil, count: ranges.count)
        m.withUnsafeMutableBufferPointer { mb in
            v.withUnsafeMutableBufferPointer { vb in
                constants.withUnsafeBufferPointer { cb in
                    results.withUnsafeMutableBufferPointer { rb in
                        nonisolated(unsafe) let mp = mb.baseAddress!, vp = vb.baseAddress!, cp = cb.baseAddress!, rp = rb
                        parallelFor(workers, threads: workers) { w in
                            for i in shares[w] {
                                let at = ranges[i].lowerBound
                                Kernels.default.adamWUpdate(weights: model.weights[i].p, gradients: model.grads[i].p, m: mp + at, v: vp + at,
                                                            count: ranges[i].count, step: cp + i)
                                if requantizing && model.layout[i].kind == .linear { rp[i] = model.requantized(i) }
                            }
                        }
                    }
                }
            }
        }
        for (i, r) in results.enumerated() { if let r { model.install(r, at: i) } }
        return norm
    }
}
