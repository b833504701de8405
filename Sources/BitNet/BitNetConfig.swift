import Foundation

/// The hyperparameters of a BitNet b1.58 model (`BitNetForCausalLM`), from `config.json` or GGUF
/// metadata.
public struct BitNetConfig: Sendable, Equatable, Codable {
    /// Tokens in the vocabulary: rows of the embedding and of the LM head.
    public var vocabularySize: Int
    /// The width of the residual stream.
    public var hiddenSize: Int
    /// The width of the MLP's gate and up projections.
    public var intermediateSize: Int
    /// Decoder layers.
    public var layerCount: Int
    /// Attention (query) heads.
    public var headCount: Int
    /// Key/value heads (grouped-query attention when fewer than `headCount`).
    public var kvHeadCount: Int
    /// The base of the rotary position embedding.
    public var ropeTheta: Double
    /// The epsilon of every RMSNorm.
    public var rmsNormEpsilon: Float
    /// The longest sequence (prompt and output) the model takes.
    public var maxPositions: Int
    /// Whether the LM head is the embedding matrix.
    public var tiedEmbeddings: Bool
    /// transformers' `autobitlinear` multiplies the product by `weight_scale`; `bitlinear` divides.
    public var scaleMultiplies: Bool

    /// The width of one head: `hiddenSize / headCount`.
    public var headDimension: Int { hiddenSize / headCount }

    /// A configuration from its values (checked when a model is built from it).
    ///
    /// ```swift
    /// let c = BitNetConfig(vocabularySize: 128256, hiddenSize: 2560, intermediateSize: 6912, layerCount: 30,
    ///                      headCount: 20, kvHeadCount: 5, ropeTheta: 500_000, rmsNormEpsilon: 1e-5, maxPositions: 4096)
    /// ```
    public init(vocabularySize: Int, hiddenSize: Int, intermediateSize: Int, layerCount: Int, headCount: Int,
                kvHeadCount: Int, ropeTheta: Double, rmsNormEpsilon: Float, maxPositions: Int,
                tiedEmbeddings: Bool = true, scaleMultiplies: Bool = true) {
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.layerCount = layerCount
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.ropeTheta = ropeTheta
        self.rmsNormEpsilon = rmsNormEpsilon
        self.maxPositions = maxPositions
        self.tiedEmbeddings = tiedEmbeddings
        self.scaleMultiplies = scaleMultiplies
    }

    /// Reads a Hugging Face `config.json` (`model_type: "bitnet"`).
    public init(configJSON path: String) throws(BitNetError) {
        let data = Data(try readInput(path, limit: 1 << 24))
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .malformed(file: path, reason: "not a JSON object")
        }
        func int(_ key: String) throws(BitNetError) -> Int {
            guard let v = json[key] as? Int, v > 0 else { throw .malformed(file: path, reason: "'\(key)' is missing or not a positive integer") }
            return v
        }
        let type = json["model_type"] as? String ?? "?"
        guard type == "bitnet" else { throw .unsupported("model_type '\(type)' in \(path); this engine runs BitNet b1.58 ('bitnet')") }
        let act = json["hidden_act"] as? String ?? "relu2"
        guard act == "relu2" else { throw .unsupported("hidden_act '\(act)'; BitNet b1.58 uses relu2") }
        var linearClass = "autobitlinear"
        if let q = json["quantization_config"] as? [String: Any] {
            let method = q["quant_method"] as? String ?? "bitnet"
            guard method == "bitnet" else { throw .unsupported("quant_method '\(method)'") }
            linearClass = q["linear_class"] as? String ?? linearClass
        }
        guard ["autobitlinear", "bitlinear"].contains(linearClass) else { throw .unsupported("linear_class '\(linearClass)'") }
        /// An optional key: absent → `fallback`; present with the wrong type → error.
        func optional<T>(_ key: String, in object: [String: Any] = json, _ fallback: T) throws(BitNetError) -> T {
            guard let raw = object[key], !(raw is NSNull) else { return fallback }
            guard let v = raw as? T else { throw .malformed(file: path, reason: "'\(key)' = \(raw) is not \(T.self == Int.self ? "an integer" : T.self == Double.self ? "a number" : "a \(T.self)")") }
            return v
        }
        let ropeParameters = json["rope_parameters"] as? [String: Any] ?? [:]
        let rope = try optional("rope_theta", try optional("rope_theta", in: ropeParameters, 10_000.0))
        let heads = try int("num_attention_heads")
        let hidden = try int("hidden_size")
        let kvHeads = try optional("num_key_value_heads", heads)
        self.init(
            vocabularySize: try int("vocab_size"), hiddenSize: hidden, intermediateSize: try int("intermediate_size"),
            layerCount: try int("num_hidden_layers"), headCount: heads, kvHeadCount: kvHeads, ropeTheta: rope,
            rmsNormEpsilon: Float(try optional("rms_norm_eps", 1e-5)),
            maxPositions: try optional("max_position_embeddings", 4096),
            tiedEmbeddings: try optional("tie_word_embeddings", true),
            scaleMultiplies: linearClass == "autobitlinear")
        try validate(file: path, keys: .configJSON)
    }

    /// Where a configuration came from, to name its keys in errors.
    enum KeyNames {
        case configJSON
        case gguf(String)  // the architecture prefix

        func name(_ field: String) -> String {
            switch self {
            case .configJSON:
                ["vocab": "vocab_size", "hidden": "hidden_size", "intermediate": "intermediate_size",
                 "layers": "num_hidden_layers", "heads": "num_attention_heads", "kvHeads": "num_key_value_heads",
                 "theta": "rope_theta", "epsilon": "rms_norm_eps", "positions": "max_position_embeddings"][field] ?? field
            case .gguf(let arch):
                arch + "." + (["vocab": "vocab_size", "hidden": "embedding_length", "intermediate": "feed_forward_length",
                               "layers": "block_count", "heads": "attention.head_count", "kvHeads": "attention.head_count_kv",
                               "theta": "rope.freq_base", "epsilon": "attention.layer_norm_rms_epsilon",
                               "positions": "context_length"][field] ?? field)
            }
        }
    }

    /// Bounds for sizes read from files: far above any released BitNet model (2B-4T: vocabulary
    /// 128,256, hidden 2,560, FFN 6,912, 30 layers, 20 heads, 4,096 positions), far below what
    /// would overflow the shape arithmetic or exhaust memory before a tensor is even read. The KV
    /// cache for every position (what `makeCache()` allocates by default) stays within 4 GiB; the
    /// 2B-4T model's is 629 MB.
    static let limits = (vocabulary: 1 << 22, hidden: 1 << 16, intermediate: 1 << 18, layers: 1 << 12,
                         positions: 1 << 22, kvCacheBytes: 1 << 32)

    /// Checks what a file can get wrong: positive sizes within the limits, consistent head
    /// counts, finite rope theta ≥ 1e-6 and epsilon > 0, a KV cache that fits in
    /// memory. The forward pass relies on these.
    func validate(file: String, keys: KeyNames) throws(BitNetError) {
        func fail(_ field: String, _ value: Any, _ why: String) -> BitNetError {
            .malformed(file: file, reason: "'\(keys.name(field))' = \(value) \(why)")
        }
        let l = Self.limits
        for (field, v, limit) in [("vocab", vocabularySize, l.vocabulary), ("hidden", hiddenSize, l.hidden),
                                  ("intermediate", intermediateSize, l.intermediate), ("layers", layerCount, l.layers),
                                  ("heads", headCount, l.hidden), ("kvHeads", kvHeadCount, l.hidden),
                                  ("positions", maxPositions, l.positions)] {
            guard v >= 1, v <= limit else { throw fail(field, v, "is outside 1...\(limit)") }
        }
        guard hiddenSize % headCount == 0 else {
            throw fail("hidden", hiddenSize, "is not a multiple of '\(keys.name("heads"))' \(headCount)")
        }
        guard headDimension % 2 == 0 else {
            throw fail("hidden", hiddenSize, "gives an odd head dimension \(headDimension) (rotary embeddings rotate pairs)")
        }
        guard headCount % kvHeadCount == 0 else {
            throw fail("kvHeads", kvHeadCount, "does not divide '\(keys.name("heads"))' \(headCount)")
        }
        // ≥ 1e-6, not only > 0: the rotary frequencies reach 1/theta, and positions × frequencies
        // must stay finite (released models use 10^4 to 5·10^5).
        guard ropeTheta.isFinite, ropeTheta >= 1e-6 else { throw fail("theta", ropeTheta, "must be a finite number ≥ 1e-6") }
        // > 0, not ≥ 0: with 0, an all-zero row (a padding embedding) normalizes to 0/0 = NaN.
        guard rmsNormEpsilon.isFinite, rmsNormEpsilon > 0 else { throw fail("epsilon", rmsNormEpsilon, "must be a finite number > 0") }
        let cacheBytes = 2 * 4 * layerCount * maxPositions * kvHeadCount * headDimension  // < 2^63 within the limits
        guard cacheBytes <= l.kvCacheBytes else {
            throw fail("positions", maxPositions, "needs a \(cacheBytes >> 30) GiB KV cache (limit \(l.kvCacheBytes >> 30) GiB)")
        }
    }
}
