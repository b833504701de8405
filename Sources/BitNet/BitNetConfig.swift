import Foundation

/// The hyperparameters of a BitNet b1.58 model (`BitNetForCausalLM`), from `config.json` or GGUF
/// metadata.
public struct BitNetConfig: Sendable, Equatable, Codable {
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var ropeTheta: Double
    public var rmsNormEpsilon: Float
    public var maxPositions: Int
    public var tiedEmbeddings: Bool
    /// transformers' `autobitlinear` multiplies the product by `weight_scale`; `bitlinear` divides.
    public var scaleMultiplies: Bool

    public var headDimension: Int { hiddenSize / headCount }

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
        guard let data = FileManager.default.contents(atPath: path) else { throw .missingFile(path) }
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
        let rope = json["rope_theta"] as? Double ?? (json["rope_parameters"] as? [String: Any])?["rope_theta"] as? Double ?? 10_000
        let heads = try int("num_attention_heads")
        let hidden = try int("hidden_size")
        guard hidden % heads == 0 else { throw .malformed(file: path, reason: "hidden_size \(hidden) is not a multiple of num_attention_heads \(heads)") }
        let kvHeads = json["num_key_value_heads"] as? Int ?? heads
        guard kvHeads > 0, heads % kvHeads == 0 else { throw .malformed(file: path, reason: "num_key_value_heads \(kvHeads) does not divide num_attention_heads \(heads)") }
        self.init(
            vocabularySize: try int("vocab_size"), hiddenSize: hidden, intermediateSize: try int("intermediate_size"),
            layerCount: try int("num_hidden_layers"), headCount: heads, kvHeadCount: kvHeads, ropeTheta: rope,
            rmsNormEpsilon: Float(json["rms_norm_eps"] as? Double ?? 1e-5),
            maxPositions: json["max_position_embeddings"] as? Int ?? 4096,
            tiedEmbeddings: json["tie_word_embeddings"] as? Bool ?? true,
            scaleMultiplies: linearClass == "autobitlinear")
    }
}
