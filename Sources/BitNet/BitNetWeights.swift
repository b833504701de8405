import BitKernels
import Foundation

/// One tensor of a BitNet b1.58 model held in memory: float values (embedding, norms, an untied
/// head) or a BitLinear weight as inference runs it.
///
/// ```swift
/// let norm = BitNetTensor.float(shape: [256], values: [Float](repeating: 1, count: 256))
/// let q = BitNetTensor.ternary(TernaryMatrix.quantizing(latent, rows: 256, columns: 256))
/// ```
public enum BitNetTensor: Sendable {
    /// Row-major float values; `values.count` is the product of `shape`.
    case float(shape: [Int], values: [Float])
    /// A BitLinear weight `[out, in]`: {-1, 0, +1} with its scale(s), output = scale · Σ w · x
    /// (the scale multiplies, whatever `BitNetConfig.scaleMultiplies` says about a file).
    case ternary(TernaryMatrix)

    /// The shape: `[rows, columns]` for a ternary matrix (PyTorch's `[out_features, in_features]`).
    ///
    /// ```swift
    /// BitNetTensor.ternary(TernaryMatrix.quantizing(w, rows: 640, columns: 256)).shape   // [640, 256]
    /// ```
    public var shape: [Int] {
        switch self {
        case .float(let shape, _): shape
        case .ternary(let m): [m.rows, m.columns]
        }
    }
}

/// A whole BitNet b1.58 model in memory under its Hugging Face tensor names: what a trainer
/// produces, what `BitNetModel(weights:)` runs and what the writers export.
///
/// Names (`i` = 0 ..< `layerCount`): `model.embed_tokens.weight` `[vocab, hidden]`,
/// `model.layers.{i}.input_layernorm.weight`, `…self_attn.{q,k,v,o}_proj.weight` (ternary),
/// `…self_attn.attn_sub_norm.weight`, `…post_attention_layernorm.weight`,
/// `…mlp.{gate,up,down}_proj.weight` (ternary), `…mlp.ffn_sub_norm.weight` `[intermediate]`,
/// `model.norm.weight`, and `lm_head.weight` `[vocab, hidden]` only when the head is not tied.
/// `BitNetWeights.tensorShapes(for:)` lists them with their shapes.
///
/// ```swift
/// let weights = try BitNetModel.load(path: "bitnet-dir").weights
/// try weights.writeGGUF(to: "model.gguf", format: .i2_s, tokenizer: nil)
/// let model = try BitNetModel(weights: weights)
/// ```
public struct BitNetWeights: Sendable {
    /// The hyperparameters; they fix every tensor's name and shape.
    public var config: BitNetConfig
    /// Every tensor by Hugging Face name (`weights.tensors["model.norm.weight"]`).
    public var tensors: [String: BitNetTensor]

    /// Holds the tensors as given; `BitNetModel(weights:)` and the writers validate them.
    public init(config: BitNetConfig, tensors: [String: BitNetTensor]) {
        self.config = config
        self.tensors = tensors
    }

    /// Every tensor a model of `config` has, in checkpoint order: its Hugging Face name, shape, and
    /// whether it is a ternary BitLinear weight.
    ///
    /// ```swift
    /// for t in BitNetWeights.tensorShapes(for: config) where t.isTernary { print(t.name, t.shape) }
    /// ```
    public static func tensorShapes(for c: BitNetConfig) -> [(name: String, shape: [Int], isTernary: Bool)] {
        var out: [(name: String, shape: [Int], isTernary: Bool)] = [("model.embed_tokens.weight", [c.vocabularySize, c.hiddenSize], false)]
        for i in 0..<c.layerCount {
            for part in DecoderLayer.Part.allCases {
                let (rows, columns) = part.shape(c)
                out.append((layerTensorName(i, part), columns == 0 ? [rows] : [rows, columns], part.isLinear))
            }
        }
        out.append(("model.norm.weight", [c.hiddenSize], false))
        if !c.tiedEmbeddings { out.append(("lm_head.weight", [c.vocabularySize, c.hiddenSize], false)) }
        return out
    }

    /// The Hugging Face name of a layer part, with its `.weight` suffix.
    static func layerTensorName(_ layer: Int, _ part: DecoderLayer.Part) -> String {
        "model.layers.\(layer).\(DecoderLayer.huggingFaceNames[part]!)" + (part.isLinear ? ".weight" : "")
    }

    /// Checks the configuration and that the tensors are exactly those of `tensorShapes(for:)`,
    /// of the right kind and shape, with finite values and scales.
    func validate() throws(BitNetError) {
        try config.validate()
        let expected = Self.tensorShapes(for: config)
        for (name, shape, isTernary) in expected {
            guard let t = tensors[name] else { throw .missingTensor(name) }
            switch t {
            case let .float(actual, values):
                guard !isTernary else {
                    throw .invalidTensor(name: name, reason: "is a float tensor; a BitLinear weight must be .ternary (quantize it first)")
                }
                guard actual == shape else { throw .wrongShape(tensor: name, expected: shape, actual: actual) }
                guard values.count == shape.reduce(1, *) else {
                    throw .invalidTensor(name: name, reason: "holds \(values.count) values; shape \(shape) needs \(shape.reduce(1, *))")
                }
                if let i = values.firstIndex(where: { !$0.isFinite }) {
                    throw .invalidTensor(name: name, reason: "holds \(values[i]) at index \(i); values must be finite")
                }
            case .ternary(let m):
                guard isTernary else {
                    throw .invalidTensor(name: name, reason: "is ternary; only BitLinear projections are (this one is float)")
                }
                guard t.shape == shape else { throw .wrongShape(tensor: name, expected: shape, actual: t.shape) }
                if let r = m.rowScales.firstIndex(where: { !$0.isFinite }) {
                    throw .invalidTensor(name: name, reason: "has scale \(m.rowScales[r]) in row \(r); scales must be finite")
                }
            }
        }
        if tensors.count != expected.count {
            let known = Set(expected.map(\.name))
            let extra = tensors.keys.filter { !known.contains($0) }.sorted()[0]
            throw .invalidTensor(name: extra, reason: extra == "lm_head.weight"
                ? "is given but the configuration ties the head to the embedding (tiedEmbeddings)"
                : "is not a tensor of this configuration (\(config.layerCount) layers)")
        }
    }

    /// The float values of a tensor that `validate()` accepted as float.
    func floats(_ name: String) -> [Float] {
        guard case .float(_, let v)? = tensors[name] else { preconditionFailure("'\(name)' is not a float tensor") }
        return v
    }

    /// The matrix of a tensor that `validate()` accepted as ternary.
    func ternary(_ name: String) -> TernaryMatrix {
        guard case .ternary(let m)? = tensors[name] else { preconditionFailure("'\(name)' is not a ternary tensor") }
        return m
    }
}

extension BitNetConfig {
    /// Sizes every model needs: positive counts, heads dividing the width, an even head dimension
    /// (half-split RoPE), finite positive theta and epsilon.
    func validate() throws(BitNetError) {
        for (name, v) in [("vocabularySize", vocabularySize), ("hiddenSize", hiddenSize), ("intermediateSize", intermediateSize),
                          ("layerCount", layerCount), ("headCount", headCount), ("kvHeadCount", kvHeadCount),
                          ("maxPositions", maxPositions)] where v <= 0 {
            throw .invalidConfig("\(name) is \(v); it must be positive")
        }
        guard hiddenSize % headCount == 0 else { throw .invalidConfig("hiddenSize \(hiddenSize) is not a multiple of headCount \(headCount)") }
        guard headCount % kvHeadCount == 0 else { throw .invalidConfig("kvHeadCount \(kvHeadCount) does not divide headCount \(headCount)") }
        guard headDimension % 2 == 0 else { throw .invalidConfig("head dimension \(headDimension) is odd; RoPE rotates pairs") }
        guard ropeTheta.isFinite, ropeTheta > 0 else { throw .invalidConfig("ropeTheta is \(ropeTheta); it must be finite and positive") }
        guard rmsNormEpsilon.isFinite, rmsNormEpsilon > 0 else {
            throw .invalidConfig("rmsNormEpsilon is \(rmsNormEpsilon); it must be finite and positive")
        }
    }
}

extension DecoderLayer.Part {
    var isLinear: Bool {
        switch self {
        case .inputNorm, .attentionSubNorm, .postAttentionNorm, .ffnSubNorm: false
        default: true
        }
    }

    /// (rows, columns) of a linear part; (size, 0) of a norm.
    func shape(_ c: BitNetConfig) -> (Int, Int) {
        let h = c.hiddenSize, f = c.intermediateSize, q = c.headCount * c.headDimension, kv = c.kvHeadCount * c.headDimension
        switch self {
        case .inputNorm, .attentionSubNorm, .postAttentionNorm: return (h, 0)
        case .ffnSubNorm: return (f, 0)
        case .q: return (q, h)
        case .k, .v: return (kv, h)
        case .o: return (h, q)
        case .gate, .up: return (f, h)
        case .down: return (h, f)
        }
    }
}

extension DecoderLayer {
    /// Hugging Face names of a layer's parts, after `model.layers.{i}.` (linear parts without their
    /// `.weight` / `.weight_scale` suffix).
    static let huggingFaceNames: [Part: String] = [
        .inputNorm: "input_layernorm.weight", .attentionSubNorm: "self_attn.attn_sub_norm.weight",
        .postAttentionNorm: "post_attention_layernorm.weight", .ffnSubNorm: "mlp.ffn_sub_norm.weight",
        .q: "self_attn.q_proj", .k: "self_attn.k_proj", .v: "self_attn.v_proj", .o: "self_attn.o_proj",
        .gate: "mlp.gate_proj", .up: "mlp.up_proj", .down: "mlp.down_proj",
    ]
}

extension FloatRows {
    /// bf16 when every value is exactly a bf16 (no loss, half the bytes, the checkpoints' own
    /// kernel), float32 otherwise.
    static func compact(_ values: [Float], rows: Int, columns: Int) -> FloatRows {
        guard values.allSatisfy(\.isExactBFloat16) else { return .float(values) }
        return .bf16(BFloat16Matrix(bits: values.map { UInt16($0.bitPattern >> 16) }, rows: rows, columns: columns))
    }

    /// The first `count` values as float32.
    func floats(count: Int) -> [Float] {
        switch self {
        case .float(let v): Array(v.prefix(count))
        case .bf16(let m): m.withBitPatterns { $0.prefix(count).map { Float(bfloat16Bits: $0) } }
        case .int8: (0..<count).map(value)
        }
    }
}

extension Float {
    /// True when the low 16 bits are zero: the value is a bf16 exactly.
    var isExactBFloat16: Bool { bitPattern & 0xFFFF == 0 }
}

extension BitNetModel {
    /// A model from weights in memory (a trainer's, or another model's `weights`). Checks that the
    /// tensors are exactly those the configuration needs, in shape, kind and finite values, and
    /// throws a one-line error naming the first that is not. Float matrices whose values are all
    /// exact bf16 are kept as bf16 (as the loaders keep a bf16 checkpoint), others as float32.
    /// `kernels` runs every product, as in `load(path:using:)`.
    ///
    /// ```swift
    /// var weights = try BitNetModel.load(path: "bitnet-dir").weights
    /// weights.tensors["model.norm.weight"] = .float(shape: [256], values: newNorm)
    /// let model = try BitNetModel(weights: weights)
    /// ```
    public convenience init(weights w: BitNetWeights, using kernels: Kernels = .default) throws(BitNetError) {
        try w.validate()
        let c = w.config
        func norm(_ name: String, _ size: Int) throws(BitNetError) -> RMSNorm { RMSNorm(weight: w.floats(name), epsilon: c.rmsNormEpsilon) }
        func linear(_ name: String, _: Int, _: Int) throws(BitNetError) -> BitLinear { BitLinear(weights: w.ternary(name)) }
        var layers: [DecoderLayer] = []
        for i in 0..<c.layerCount {
            layers.append(try DecoderLayer(c, name: { BitNetWeights.layerTensorName(i, $0) }, norm: norm, linear: linear))
        }
        let v = c.vocabularySize, h = c.hiddenSize
        self.init(config: c, embedding: .compact(w.floats("model.embed_tokens.weight"), rows: v, columns: h),
                  head: c.tiedEmbeddings ? nil : .compact(w.floats("lm_head.weight"), rows: v, columns: h),
                  layers: layers, finalNorm: try norm("model.norm.weight", h), int8Head: false, kernels: kernels)
    }

    /// The model's tensors under their Hugging Face names: float32 copies of the embedding, norms
    /// and untied head (an int8 head dequantized), the BitLinear matrices as they are. Ternary
    /// scales are multipliers, so `config.scaleMultiplies` is true.
    ///
    /// ```swift
    /// let weights = try BitNetModel.load(path: "model.gguf").weights
    /// try weights.writeHuggingFace(to: "exported", tokenizer: nil)
    /// ```
    public var weights: BitNetWeights {
        var c = config
        c.scaleMultiplies = true
        let matrix = c.vocabularySize * c.hiddenSize
        var t: [String: BitNetTensor] = [
            "model.embed_tokens.weight": .float(shape: [c.vocabularySize, c.hiddenSize], values: embedding.floats(count: matrix)),
            "model.norm.weight": .float(shape: [c.hiddenSize], values: finalNorm.weight),
        ]
        if !c.tiedEmbeddings {
            t["lm_head.weight"] = .float(shape: [c.vocabularySize, c.hiddenSize], values: head.floats(count: matrix))
        }
        for (i, l) in layers.enumerated() {
            let parts: [(DecoderLayer.Part, BitNetTensor)] = [
                (.inputNorm, .float(shape: [c.hiddenSize], values: l.inputNorm.weight)),
                (.attentionSubNorm, .float(shape: [c.hiddenSize], values: l.attentionSubNorm.weight)),
                (.postAttentionNorm, .float(shape: [c.hiddenSize], values: l.postAttentionNorm.weight)),
                (.ffnSubNorm, .float(shape: [c.intermediateSize], values: l.ffnSubNorm.weight)),
                (.q, .ternary(l.q.weights)), (.k, .ternary(l.k.weights)), (.v, .ternary(l.v.weights)), (.o, .ternary(l.o.weights)),
                (.gate, .ternary(l.gate.weights)), (.up, .ternary(l.up.weights)), (.down, .ternary(l.down.weights)),
            ]
            for (part, tensor) in parts { t[BitNetWeights.layerTensorName(i, part)] = tensor }
        }
        return BitNetWeights(config: c, tensors: t)
    }
}
