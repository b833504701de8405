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
    var m: [[Float]]
    var v: [[Float]]

    /// Zero moments for every weight of `model`.
    public init(model: TrainableModel, settings: AdamWSettings) {
        self.settings = settings
        m = model.weights.map { [Float](repeating: 0, count: $0.count) }
        v = m
    }

    /// Clips the gradients, applies one update at `learningRate` and re-packs; returns the gradient
    /// norm before clipping.
    @discardableResult
    public mutating func step(model: TrainableModel, learningRate lr: Double, weightDecay: Double? = nil) -> Double {
        var total = 0.0
        for g in model.grads {
            for j in 0..<g.count { total += Double(g.p[j]) * Double(g.p[j]) }
        }
        let norm = total.squareRoot()
        var factor: Float = 1
        if settings.clip > 0 { factor = Float(min(settings.clip / (norm + 1e-6), 1)) }
        step += 1
        let b1 = Float(settings.beta1), b2 = Float(settings.beta2), eps = Float(settings.epsilon)
        let bc1 = 1 - Foundation.pow(settings.beta1, Double(step)), bc2 = 1 - Foundation.pow(settings.beta2, Double(step))
        let stepSize = Float(lr / bc1), bc2Root = Float(bc2.squareRoot())
        let wd = weightDecay ?? settings.weightDecay
        for i in model.weights.indices {
            let w = model.weights[i].p, g = model.grads[i].p, n = model.weights[i].count
            let decay: Float = model.layout[i].kind == .linear || model.layout[i].kind == .head ? Float(1 - lr * wd) : 1
            m[i].withUnsafeMutableBufferPointer { mp in
                v[i].withUnsafeMutableBufferPointer { vp in
                    // Each weight's update is independent of the others: large tensors are split
                    // among the model's threads in chunks of 16Ki weights (the same values at any count).
                    nonisolated(unsafe) let mp = mp.baseAddress!, vp = vp.baseAddress!
                    let chunks = (n + (1 << 14) - 1) >> 14
                    parallelFor(chunks, threads: n >= 1 << 16 ? model.threads : 1) { c in
                        for j in (c << 14)..<min((c + 1) << 14, n) {
                            let gj = g[j] * factor
                            w[j] *= decay
                            mp[j] += (gj - mp[j]) * (1 - b1)
                            vp[j] = vp[j] * b2 + (1 - b2) * gj * gj
                            w[j] -= stepSize * mp[j] / (vp[j].squareRoot() / bc2Root + eps)
                        }
                    }
                }
            }
        }
        model.requantize()
        return norm
    }
}
