import BitKernels
import Foundation

/// A BitNet b1.58 causal language model (the architecture of microsoft/bitnet-b1.58-2B-4T) running
/// on BitKernels' ternary kernels.
///
/// ```swift
/// let model = try BitNetModel.load(path: "bitnet-dir")        // config.json + model.safetensors, or a .gguf
/// let cache = model.makeCache()
/// let logits = try model.forward([1, 2, 3], cache: cache)     // 3 × vocabulary, then decode more tokens
/// ```
public final class BitNetModel: @unchecked Sendable {
    // Immutable after loading; forward passes only read it.
    public let config: BitNetConfig
    let embedding: [Float]  // vocabulary × hidden
    let head: [Float]?  // untied LM head, vocabulary × hidden (nil: the embedding)
    let layers: [DecoderLayer]
    let finalNorm: RMSNorm
    let rope: Rope

    init(config: BitNetConfig, embedding: [Float], head: [Float]?, layers: [DecoderLayer], finalNorm: RMSNorm) {
        self.config = config
        self.embedding = embedding
        self.head = head
        self.layers = layers
        self.finalNorm = finalNorm
        rope = Rope(headDimension: config.headDimension, theta: config.ropeTheta)
    }

    /// Loads a directory holding `config.json` and `model.safetensors` (the Hugging Face layout of
    /// the released checkpoint), or a `.gguf` file.
    public static func load(path: String) throws(BitNetError) -> BitNetModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw .missingFile(path) }
        if !isDirectory.boolValue { return try loadGGUF(path: path) }
        let config = try BitNetConfig(configJSON: path + "/config.json")
        return try loadSafeTensors(path: path + "/model.safetensors", config: config)
    }

    static func loadSafeTensors(path: String, config c: BitNetConfig) throws(BitNetError) -> BitNetModel {
        let st = try SafeTensorsFile(path: path)
        func norm(_ name: String, _ size: Int) throws(BitNetError) -> RMSNorm {
            RMSNorm(weight: try st.floats(name, shape: [size]), epsilon: c.rmsNormEpsilon)
        }
        func linear(_ name: String, rows: Int, columns: Int) throws(BitNetError) -> BitLinear {
            guard rows % 4 == 0 else { throw .unsupported("'\(name)': \(rows) output rows cannot be packed 4 per byte") }
            let packed = try st.uint8(name + ".weight", shape: [rows / 4, columns])
            let scale = try st.floats(name + ".weight_scale", shape: [1])[0]
            do {
                return BitLinear(weights: try TernaryMatrix(huggingFacePacked: packed, rows: rows, columns: columns,
                                                            scale: c.scaleMultiplies ? scale : 1 / scale))
            } catch { throw .malformed(file: path, reason: "'\(name).weight': \(error)") }
        }
        let h = c.hiddenSize, d = c.headDimension
        var layers: [DecoderLayer] = []
        for i in 0..<c.layerCount {
            let p = "model.layers.\(i)."
            layers.append(DecoderLayer(
                inputNorm: try norm(p + "input_layernorm.weight", h),
                attentionSubNorm: try norm(p + "self_attn.attn_sub_norm.weight", h),
                postAttentionNorm: try norm(p + "post_attention_layernorm.weight", h),
                ffnSubNorm: try norm(p + "mlp.ffn_sub_norm.weight", c.intermediateSize),
                q: try linear(p + "self_attn.q_proj", rows: c.headCount * d, columns: h),
                k: try linear(p + "self_attn.k_proj", rows: c.kvHeadCount * d, columns: h),
                v: try linear(p + "self_attn.v_proj", rows: c.kvHeadCount * d, columns: h),
                o: try linear(p + "self_attn.o_proj", rows: h, columns: c.headCount * d),
                gate: try linear(p + "mlp.gate_proj", rows: c.intermediateSize, columns: h),
                up: try linear(p + "mlp.up_proj", rows: c.intermediateSize, columns: h),
                down: try linear(p + "mlp.down_proj", rows: h, columns: c.intermediateSize),
                heads: c.headCount, kvHeads: c.kvHeadCount, headDimension: d))
        }
        let embedding = try st.floats("model.embed_tokens.weight", shape: [c.vocabularySize, h])
        let head = c.tiedEmbeddings ? nil : try st.floats("lm_head.weight", shape: [c.vocabularySize, h])
        return BitNetModel(config: c, embedding: embedding, head: head, layers: layers,
                           finalNorm: try norm("model.norm.weight", h))
    }

    /// A cache for up to `capacity` positions (default: the model's maximum).
    public func makeCache(capacity: Int? = nil) -> KVCache {
        KVCache(layers: config.layerCount, capacity: min(capacity ?? config.maxPositions, config.maxPositions),
                width: config.kvHeadCount * config.headDimension)
    }

    /// Runs `tokens` at the cache's next positions and returns their logits (tokens × vocabulary,
    /// or only the last token's when `lastOnly`). Several tokens use the ternary GEMM.
    public func forward(_ tokens: [Int], cache: KVCache, threads: Int = 0, lastOnly: Bool = false) throws(BitNetError) -> [Float] {
        var x = try embed(tokens)
        guard cache.count + tokens.count <= cache.capacity else { throw .contextFull(limit: cache.capacity) }
        let start = cache.count
        for (i, layer) in layers.enumerated() {
            x = layer(x, tokens: tokens.count, start: start, cache: cache, layer: i, rope: rope, threads: threads)
        }
        cache.count += tokens.count
        if lastOnly, !tokens.isEmpty {
            return logits(fromHidden: Array(x.suffix(config.hiddenSize)), tokens: 1)
        }
        return logits(fromHidden: x, tokens: tokens.count)
    }

    /// The residual stream: [0] the embedding rows, [i] the output of layer i − 1 (tokens × hidden
    /// each), from an empty cache.
    public func residualStream(_ tokens: [Int], threads: Int = 0) throws(BitNetError) -> [[Float]] {
        let cache = makeCache(capacity: tokens.count)
        var x = try embed(tokens)
        var stream = [x]
        for (i, layer) in layers.enumerated() {
            x = layer(x, tokens: tokens.count, start: 0, cache: cache, layer: i, rope: rope, threads: threads)
            stream.append(x)
        }
        return stream
    }

    /// Layer `index` alone on a given input (tokens × hidden at positions 0 ..< tokens): the
    /// per-layer check against a reference's own hidden states.
    public func layerOutput(_ index: Int, input: [Float], tokens: Int, threads: Int = 0) -> [Float] {
        precondition(input.count == tokens * config.hiddenSize, "input: expected \(tokens) × \(config.hiddenSize) values, got \(input.count)")
        return layers[index](input, tokens: tokens, start: 0, cache: makeCache(capacity: tokens), layer: index, rope: rope, threads: threads)
    }

    /// Final norm and LM head on hidden states (tokens × hidden).
    public func logits(fromHidden x: [Float], tokens: Int) -> [Float] {
        let h = config.hiddenSize, vocab = config.vocabularySize
        let normed = finalNorm(x, tokens: tokens)
        var out = [Float](repeating: 0, count: tokens * vocab)
        (head ?? embedding).withUnsafeBufferPointer { e in
            normed.withUnsafeBufferPointer { n in
                out.withUnsafeMutableBufferPointer { o in
                    for t in 0..<tokens {
                        for v in 0..<vocab { o[t * vocab + v] = dot(n.baseAddress! + t * h, e.baseAddress! + v * h, h) }
                    }
                }
            }
        }
        return out
    }

    func embed(_ tokens: [Int]) throws(BitNetError) -> [Float] {
        let h = config.hiddenSize
        var x = [Float](repeating: 0, count: tokens.count * h)
        for (t, id) in tokens.enumerated() {
            guard id >= 0 && id < config.vocabularySize else { throw .badToken(id: id, vocabulary: config.vocabularySize) }
            for i in 0..<h { x[t * h + i] = embedding[id * h + i] }
        }
        return x
    }
}

/// Σ a[i] b[i] in 8 float lanes.
@inline(__always)
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>()
    var i = 0
    while i + 8 <= n {
        acc += UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self) * UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
        i += 8
    }
    var s = acc.sum()
    while i < n { s += a[i] * b[i]; i += 1 }
    return s
}
