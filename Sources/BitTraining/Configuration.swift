import BitNet

/// How a BitLinear layer's weights are stored in the forward pass.
///
/// ```swift
/// let p = Precision(rawValue: "ternary")   // .ternary
/// ```
public enum Precision: String, Sendable, Codable, CaseIterable {
    /// BitNet b1.58: codes round(W / mean|W|) clipped to {-1, 0, +1}, one scale per tensor (absmean).
    case ternary
    /// BitNet's 1-bit: codes sign(W − mean W) (sign(0) = +1), scale mean |W|, on the ternary kernels.
    case binary
    /// The same architecture with plain float weights and activations: the control.
    case float
}

/// A training error: one line naming what is wrong.
///
/// ```swift
/// do { _ = try ModelConfiguration(vocabularySize: 65, width: 100, layers: 1, heads: 3) }
/// catch { print(error) }   // width 100 is not divisible by heads 3
/// ```
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    /// A bad setting or data (usage error).
    case invalid(String)
    /// A file that cannot be read or is not what it claims (data error).
    case badFile(path: String, reason: String)
    /// Writing failed.
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalid(let s): s
        case .badFile(let p, let r): "\(p): \(r)"
        case .io(let p, let r): "\(p): \(r)"
        }
    }
}

/// The shape of a BitNet b1.58 decoder to train: the architecture `BitNetModel` runs (embedding,
/// RMSNorm, BitLinear q/k/v/o with the attention sub-norm, half-split RoPE, GQA, ReLU²-gated MLP with
/// its sub-norm, final norm, tied or untied float head), no biases.
///
/// ```swift
/// let c = try ModelConfiguration(vocabularySize: 65, width: 128, layers: 4, heads: 4)
/// c.mlpHidden   // 344 = 8 · ⌈8 · 128 / 24⌉
/// ```
public struct ModelConfiguration: Sendable, Codable, Equatable {
    /// Tokens in the vocabulary.
    public var vocabularySize: Int
    /// The width of the residual stream.
    public var width: Int
    /// Decoder layers.
    public var layers: Int
    /// Query heads.
    public var heads: Int
    /// Key/value heads (fewer than `heads`: grouped-query attention).
    public var kvHeads: Int
    /// Hidden size of the gated MLP.
    public var mlpHidden: Int
    /// The base of the rotary position embedding.
    public var ropeTheta: Double
    /// The epsilon of every RMSNorm.
    public var epsilon: Float
    /// The LM head is the embedding matrix.
    public var tiedHead: Bool
    /// What the BitLinear weights are in the forward pass.
    public var precision: Precision

    /// `width / heads`.
    public var headDimension: Int { width / heads }

    /// The MLP hidden size of the reference recipe: 8 · ⌈8w / 24⌉ (344 at width 128).
    public static func defaultMLPHidden(width: Int) -> Int { 8 * ((8 * width + 23) / 24) }

    /// Checks the shape; throws `.invalid` with a one-line reason.
    public init(vocabularySize: Int, width: Int, layers: Int, heads: Int, kvHeads: Int? = nil, mlpHidden: Int? = nil,
                ropeTheta: Double = 10_000, epsilon: Float = 1e-5, tiedHead: Bool = false,
                precision: Precision = .ternary) throws(TrainingError) {
        let kv = kvHeads ?? heads
        guard vocabularySize >= 2 else { throw .invalid("vocabulary of \(vocabularySize) tokens: need at least 2") }
        guard width > 0, layers > 0, heads > 0, kv > 0 else {
            throw .invalid("width \(width), layers \(layers), heads \(heads), kv heads \(kv) must all be positive")
        }
        guard width % heads == 0 else { throw .invalid("width \(width) is not divisible by heads \(heads)") }
        guard heads % kv == 0 else { throw .invalid("heads \(heads) is not divisible by kv heads \(kv)") }
        guard (width / heads) % 2 == 0 else { throw .invalid("head dimension \(width / heads) must be even (RoPE rotates pairs)") }
        let f = mlpHidden ?? Self.defaultMLPHidden(width: width)
        guard f > 0 else { throw .invalid("MLP hidden size \(f) must be positive") }
        guard ropeTheta > 1, ropeTheta.isFinite else { throw .invalid("RoPE theta \(ropeTheta) must be > 1") }
        self.vocabularySize = vocabularySize
        self.width = width
        self.layers = layers
        self.heads = heads
        self.kvHeads = kv
        self.mlpHidden = f
        self.ropeTheta = ropeTheta
        self.epsilon = epsilon
        self.tiedHead = tiedHead
        self.precision = precision
    }

    /// The inference configuration of the same model (for `BitNetModel` and the exporters).
    public func bitNetConfig(maxPositions: Int) -> BitNetConfig {
        BitNetConfig(vocabularySize: vocabularySize, hiddenSize: width, intermediateSize: mlpHidden, layerCount: layers,
                     headCount: heads, kvHeadCount: kvHeads, ropeTheta: ropeTheta, rmsNormEpsilon: epsilon,
                     maxPositions: maxPositions, tiedEmbeddings: tiedHead, scaleMultiplies: true)
    }

    /// How many weights the model has (embedding, every layer's matrices and norms, the final norm,
    /// and the head unless tied).
    ///
    /// ```swift
    /// let c = try ModelConfiguration(vocabularySize: 65, width: 128, layers: 4, heads: 4)
    /// c.parameterCount   // 810,208: nanoGPT's CPU recipe with an untied head
    /// ```
    public var parameterCount: Int {
        let d = headDimension, qw = heads * d, kw = kvHeads * d, h = width, f = mlpHidden
        let layer = qw * h + 2 * kw * h + h * qw + 3 * f * h + 2 * h + qw + f
        return vocabularySize * h * (tiedHead ? 1 : 2) + layers * layer + h
    }

    /// About how many bytes training this model takes with `batch` sequences of `context` tokens a
    /// step on `threads` workers: latent weights, gradients, AdamW's two moments, the dequantized
    /// and packed copies (~21 bytes a weight), a gradient copy per worker after the first, and the forward
    /// pass's saved activations (per token and layer ~14 vectors of the width or the MLP's hidden
    /// size, plus a row of attention probabilities per head) with the logits and their gradient.
    /// An estimate to refuse impossible runs with a clear error, not an allocator's promise.
    ///
    /// ```swift
    /// let c = try ModelConfiguration(vocabularySize: 65, width: 128, layers: 4, heads: 4)
    /// c.trainingBytes(batch: 12, context: 64, threads: 2)   // ≈ 62 MB
    /// ```
    public func trainingBytes(batch: Int, context: Int, threads: Int) -> Double {
        let p = Double(parameterCount), tokens = Double(batch) * Double(context)
        let workers = Double(min(max(threads, 1), max(batch, 1)))
        let perTokenLayer = 4 * (10 * Double(width) + 5 * Double(mlpHidden) + Double(heads) * Double(context))
        let activations = tokens * (Double(layers) * perTokenLayer + 4 * 3 * Double(vocabularySize) + 4 * 4 * Double(width))
        return 21 * p + (workers - 1) * 4 * p + activations
    }
}
