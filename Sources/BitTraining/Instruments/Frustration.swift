// "Frustration" of low-bit weights: how the latent (full-precision) weights sit against the
// quantizer that the forward pass applies to them.
//
// Quantizers, per tensor, as the BitNet papers define them:
// - ternary (b1.58, absmean): γ = max(mean |w|, 1e-5) (the trainer's floor); code = clamp(round(w / γ), −1, +1), rounding half to
//   even (as torch.round); Wq = γ · code. In units of γ the rounding thresholds sit at
//   w/γ = ±0.5 (between 0 and ±1); there is no threshold beyond ±1 (the clamp).
// - binary (BitNet 1-bit): α = mean w, β = mean |w|; code = sign(w − α) with sign(0) = +1;
//   Wq = β · code. The one threshold sits at w = α.
// "Near a threshold" = within 5% of one quantization step of it: |w/γ ∓ 0.5| < 0.05 for ternary
// (the step is γ), |w − α| < 0.05 · β for binary (5% of the scale β) — as the trainer's
// `MatrixStatistics` counts it.

/// The weight quantizer a frustration statistic is measured against.
public enum WeightQuantizer: String, Sendable, Codable, CaseIterable {
    case ternary
    case binary

    /// The codes (−1, 0, +1) and the scale of a latent weight tensor.
    ///
    /// ```swift
    /// WeightQuantizer.ternary.quantize([0.1, -2, 0.7]).codes   // [0, -1, 1]
    /// ```
    public func quantize(_ latent: [Float]) -> (codes: [Int8], scale: Double) {
        let n = latent.count
        guard n > 0 else { return ([], 0) }
        var meanAbs = 0.0
        for w in latent { meanAbs += Double(abs(w)) }
        meanAbs /= Double(n)
        switch self {
        case .ternary:
            let gamma = max(meanAbs, 1e-5)
            let codes = latent.map { w -> Int8 in
                Int8(min(1, max(-1, (Double(w) / gamma).rounded(.toNearestOrEven))))
            }
            return (codes, gamma)
        case .binary:
            let alpha = latent.reduce(0.0) { $0 + Double($1) } / Double(n)
            let codes = latent.map { w -> Int8 in Double(w) - alpha >= 0 ? 1 : -1 }
            return (codes, max(meanAbs, 1e-5))
        }
    }

    /// Whether `w` lies within 5% of a step of a rounding threshold (see the file comment).
    func isNearThreshold(_ w: Double, scale: Double, mean: Double) -> Bool {
        switch self {
        case .ternary:
            guard scale > 0 else { return false }
            return abs(abs(w / scale) - 0.5) < 0.05
        case .binary:
            return abs(w - mean) < 0.05 * scale
        }
    }
}

/// One matrix's frustration at one step.
public struct FrustrationStats: Sendable, Equatable, Codable {
    /// Shares of codes at −1, 0 and +1 (sum to 1).
    public var shareNegative: Double
    /// Share of codes at 0.
    public var shareZero: Double
    /// Share of codes at +1.
    public var sharePositive: Double
    /// Share of latent weights within 5% of a rounding threshold.
    public var nearThresholdShare: Double
    /// ‖W − Wq‖ / ‖W‖ (Frobenius).
    public var relativeError: Double

    /// Statistics from their values.
    public init(shareNegative: Double, shareZero: Double, sharePositive: Double, nearThresholdShare: Double, relativeError: Double) {
        self.shareNegative = shareNegative
        self.shareZero = shareZero
        self.sharePositive = sharePositive
        self.nearThresholdShare = nearThresholdShare
        self.relativeError = relativeError
    }

    /// Measures `latent` against `quantizer`; also returns the codes, for flip counting.
    ///
    /// ```swift
    /// let (stats, codes) = FrustrationStats.measure([0.5, -1, 0], quantizer: .ternary)
    /// ```
    public static func measure(_ latent: [Float], quantizer: WeightQuantizer) -> (stats: FrustrationStats, codes: [Int8]) {
        let (codes, scale) = quantizer.quantize(latent)
        let n = Double(max(latent.count, 1))
        let mean = latent.reduce(0.0) { $0 + Double($1) } / n
        var counts = [0, 0, 0]
        var near = 0
        var err2 = 0.0, norm2 = 0.0
        for (w, q) in zip(latent, codes) {
            counts[Int(q) + 1] += 1
            let wd = Double(w)
            if quantizer.isNearThreshold(wd, scale: scale, mean: mean) { near += 1 }
            let d = wd - scale * Double(q)
            err2 += d * d
            norm2 += wd * wd
        }
        let stats = FrustrationStats(
            shareNegative: Double(counts[0]) / n, shareZero: Double(counts[1]) / n,
            sharePositive: Double(counts[2]) / n, nearThresholdShare: Double(near) / n,
            relativeError: norm2 > 0 ? (err2 / norm2).squareRoot() : 0)
        return (stats, codes)
    }
}

/// Flip rate of a sequence of code snapshots: the codes that changed between consecutive
/// snapshots, divided by the code count and by the steps between them, averaged over the
/// intervals weighted by their steps — i.e. total changes / (count × total steps). Snapshots
/// taken every k > 1 steps undercount codes that flip and flip back in between.
///
/// ```swift
/// flipRate(codes: [[1, 0], [1, 1], [-1, 1]], steps: [0, 1, 2])   // 2 changes / (2 × 2) = 0.5
/// ```
public func flipRate(codes: [[Int8]], steps: [Int]) -> Double {
    precondition(codes.count == steps.count, "flip rate: \(codes.count) snapshots, \(steps.count) steps")
    guard codes.count > 1 else { return 0 }
    var changes = 0
    for t in 1..<codes.count {
        precondition(codes[t].count == codes[0].count, "flip rate: snapshot sizes \(codes[0].count) vs \(codes[t].count)")
        for (a, b) in zip(codes[t - 1], codes[t]) where a != b { changes += 1 }
    }
    let span = steps.last! - steps.first!
    guard span > 0, !codes[0].isEmpty else { return 0 }
    return Double(changes) / (Double(codes[0].count) * Double(span))
}

/// Keeps the last codes of each (layer, matrix) so that a trainer can sample frustration now and
/// then and get flip rates since the previous sample. A trainer that knows every step's flips
/// (it re-quantizes after each update anyway) passes them to `countFlips`, and the next sample's
/// flip rate is then exact instead of a snapshot difference.
///
/// ```swift
/// var tracker = FrustrationTracker(quantizer: .ternary)
/// let sample = tracker.sample(step: 100, layer: 0, matrix: "q", latent: weights)
/// ```
public struct FrustrationTracker: Sendable {
    /// How latent weights become codes.
    public let quantizer: WeightQuantizer
    private var previous: [String: (step: Int, codes: [Int8])] = [:]
    private var counted: [String: (flips: Int, steps: Int)] = [:]

    /// A tracker that has seen nothing yet.
    public init(quantizer: WeightQuantizer) { self.quantizer = quantizer }

    /// Adds one optimizer step's code changes of a matrix.
    public mutating func countFlips(layer: Int, matrix: String, flips: Int) {
        let key = "\(layer)/\(matrix)"
        let c = counted[key] ?? (0, 0)
        counted[key] = (c.flips + flips, c.steps + 1)
    }

    /// Measures one matrix and returns its sample for the run record; the flip rate is nil at a
    /// matrix's first sample unless flips were counted before it.
    public mutating func sample(step: Int, layer: Int, matrix: String, latent: [Float]) -> FrustrationSample {
        let (stats, codes) = FrustrationStats.measure(latent, quantizer: quantizer)
        let key = "\(layer)/\(matrix)"
        var rate: Double? = nil
        var exact: Bool? = nil
        if let c = counted[key], c.steps > 0, !codes.isEmpty {
            rate = Double(c.flips) / (Double(codes.count) * Double(c.steps))
            exact = true
            counted[key] = nil
        } else if let last = previous[key], last.codes.count == codes.count, step > last.step {
            rate = flipRate(codes: [last.codes, codes], steps: [last.step, step])
        }
        previous[key] = (step, codes)
        return FrustrationSample(step: step, layer: layer, matrix: matrix, stats: stats, flipRate: rate, flipsCountedEveryStep: exact)
    }
}

/// One frustration measurement in a run record: a matrix of a layer at a step.
public struct FrustrationSample: Sendable, Equatable, Codable {
    /// The optimizer step after which it was measured.
    public var step: Int
    /// The decoder layer (0-based).
    public var layer: Int
    /// "q", "k", "v", "o", "gate", "up", "down" (the trainer's names).
    public var matrix: String
    /// Code shares, near-threshold share and quantization error.
    public var stats: FrustrationStats
    /// Codes changed per code per step since this matrix's previous sample; nil at the first.
    public var flipRate: Double?
    /// true when the trainer counted every step's flips; nil when the rate is the difference of
    /// two snapshots (a lower bound: a code that flips and flips back is missed).
    public var flipsCountedEveryStep: Bool?

    /// A sample from its values.
    public init(step: Int, layer: Int, matrix: String, stats: FrustrationStats, flipRate: Double?, flipsCountedEveryStep: Bool? = nil) {
        self.step = step
        self.layer = layer
        self.matrix = matrix
        self.stats = stats
        self.flipRate = flipRate
        self.flipsCountedEveryStep = flipsCountedEveryStep
    }
}
