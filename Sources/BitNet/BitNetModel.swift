import BitKernels
import Foundation

/// A float matrix the model keeps outside the ternary kernels (embedding, LM head): bf16 as
/// checkpoints store it, float32, or int8 with one scale per row (the optional compact head).
enum FloatRows: Sendable {
    case bf16(BFloat16Matrix)
    case float([Float])
    case int8(Int8Matrix)

    /// Row-wise absmax int8: q = round(w · 127 / max |w_row|).
    func quantizedInt8(rows: Int, columns: Int) -> FloatRows {
        var q = [Int8](repeating: 0, count: rows * columns), scales = [Float](repeating: 0, count: rows)
        var row = [Float](repeating: 0, count: columns)
        for r in 0..<rows {
            for c in 0..<columns { row[c] = value(r * columns + c) }
            let m = row.map(abs).max() ?? 0
            scales[r] = m / 127
            for c in 0..<columns where m > 0 { q[r * columns + c] = Int8((row[c] * 127 / m).rounded(.toNearestOrEven)) }
        }
        return .int8(Int8Matrix(values: q, rowScales: scales, rows: rows, columns: columns))
    }

    func value(_ i: Int) -> Float {
        switch self {
        case .bf16(let m): m.withBitPatterns { Float(bfloat16Bits: $0[i]) }
        case .float(let v): v[i]
        case .int8(let m): Float(m.values[i]) * m.rowScales[i / m.columns]
        }
    }

    /// out[r] = row r · x for every row.
    func products(_ x: UnsafePointer<Float>, columns: Int, rows: Int, out: UnsafeMutablePointer<Float>, threads: Int,
                  kernels: Kernels) {
        let xs = UnsafeBufferPointer(start: x, count: columns), outs = UnsafeMutableBufferPointer(start: out, count: rows)
        switch self {
        case .bf16(let m): m.products(xs, into: outs, threads: threads, using: kernels)
        case .int8(let m): m.products(xs, into: outs, threads: threads, using: kernels)
        case .float(let v):
            v.withUnsafeBufferPointer { e in for r in 0..<rows { out[r] = dot(x, e.baseAddress! + r * columns, columns) } }
        }
    }

    var bytes: Int {
        switch self {
        case .bf16(let m): m.rows * m.columns * 2
        case .float(let v): v.count * 4
        case .int8(let m): m.values.count + m.rowScales.count * 4
        }
    }
}

/// A BitNet b1.58 causal language model (the architecture of microsoft/bitnet-b1.58-2B-4T) running
/// on BitKernels' ternary kernels.
///
/// ```swift
/// let model = try BitNetModel.load(path: "bitnet-dir")        // config.json + model.safetensors, or a .gguf
/// let cache = model.makeCache()
/// let logits = try model.forward([1, 2, 3], cache: cache)     // 3 × vocabulary, then decode more tokens
/// ```
///
/// One `Kernels` value, chosen at load (`using:`), runs every layer and the LM head.
public final class BitNetModel: @unchecked Sendable {
    // Immutable after loading; forward passes only read it.
    /// The model's hyperparameters (`model.config.maxPositions`).
    public let config: BitNetConfig
    let embedding: FloatRows  // vocabulary × hidden
    let head: FloatRows  // the LM head (the embedding itself when tied), vocabulary × hidden
    let layers: [DecoderLayer]
    let finalNorm: RMSNorm
    let rope: Rope
    /// The kernels every product of this model runs on: each layer's ternary matrices and the LM
    /// head. Chosen at load: `try BitNetModel.load(path: p, using: try .variant(.avx2)).kernels.isa  // .avx2`
    public let kernels: Kernels

    init(config: BitNetConfig, embedding: FloatRows, head: FloatRows?, layers: [DecoderLayer], finalNorm: RMSNorm,
         int8Head: Bool, kernels: Kernels) {
        self.config = config
        self.kernels = kernels
        self.embedding = embedding
        let h = head ?? embedding
        self.head = int8Head ? h.quantizedInt8(rows: config.vocabularySize, columns: config.hiddenSize) : h
        self.layers = DecoderLayer.storedTogether(layers)
        self.finalNorm = finalNorm
        rope = Rope(headDimension: config.headDimension, theta: config.ropeTheta)
    }

    /// Loads a directory holding `config.json` and `model.safetensors` (the Hugging Face layout of
    /// the released checkpoint), or a `.gguf` file. `int8Head` keeps the LM head as int8 with a
    /// scale per row (half the bytes of bf16 read per token, at a small cost in logit accuracy).
    /// `kernels` runs every layer and the LM head of the loaded model.
    ///
    /// ```swift
    /// let model = try BitNetModel.load(path: "model.gguf", using: try Kernels.variant(.avx2))
    /// ```
    public static func load(path: String, int8Head: Bool = false, using kernels: Kernels = .default) throws(BitNetError) -> BitNetModel {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw .missingFile(path) }
        if !isDirectory.boolValue {
            let model = try loadGGUF(path: path, int8Head: int8Head, kernels: kernels)
            try model.checkWeightMagnitudes(file: path)
            return model
        }
        let config = try BitNetConfig(configJSON: path + "/config.json")
        let model = try loadSafeTensors(path: path + "/model.safetensors", config: config, int8Head: int8Head, kernels: kernels)
        try model.checkWeightMagnitudes(file: path + "/model.safetensors")
        return model
    }

    /// Bytes of weights read per generated token: the ternary matrices and the LM head.
    public var bytesPerToken: Int {
        layers.reduce(0) { total, l in total + [l.q, l.k, l.v, l.o, l.gate, l.up, l.down].reduce(0) { $0 + $1.weights.packedByteCount } }
            + head.bytes
    }

    static func loadSafeTensors(path: String, config c: BitNetConfig, int8Head: Bool, kernels: Kernels) throws(BitNetError) -> BitNetModel {
        let st = try SafeTensorsFile(path: path)
        func norm(_ name: String, _ size: Int) throws(BitNetError) -> RMSNorm {
            RMSNorm(weight: try st.floats(name, shape: [size]), epsilon: c.rmsNormEpsilon)
        }
        func linear(_ name: String, rows: Int, columns: Int) throws(BitNetError) -> BitLinear {
            guard rows % 4 == 0 else { throw .unsupported("'\(name)': \(rows) output rows cannot be packed 4 per byte") }
            let packed = try st.uint8(name + ".weight", shape: [rows / 4, columns])
            let scale = try st.floats(name + ".weight_scale", shape: [1])[0]
            guard scale != 0 || c.scaleMultiplies else { throw .malformed(file: path, reason: "tensor '\(name).weight_scale' is 0 (bitlinear divides by it)") }
            do {
                return BitLinear(weights: try TernaryMatrix(huggingFacePacked: packed, rows: rows, columns: columns,
                                                            scale: c.scaleMultiplies ? scale : 1 / scale))
            } catch { throw .malformed(file: path, reason: "'\(name).weight': \(error)") }
        }
        let h = c.hiddenSize
        // Hugging Face names (linear layers without their ".weight" / ".weight_scale" suffix).
        let names = DecoderLayer.huggingFaceNames
        var layers: [DecoderLayer] = []
        for i in 0..<c.layerCount {
            layers.append(try DecoderLayer(c, name: { "model.layers.\(i)." + names[$0]! }, norm: norm,
                                           linear: { (n, rows, columns) throws(BitNetError) in try linear(n, rows: rows, columns: columns) }))
        }
        let embedding = try st.rows("model.embed_tokens.weight", shape: [c.vocabularySize, h])
        let head = c.tiedEmbeddings ? nil : try st.rows("lm_head.weight", shape: [c.vocabularySize, h])
        return BitNetModel(config: c, embedding: embedding, head: head, layers: layers,
                           finalNorm: try norm("model.norm.weight", h), int8Head: int8Head, kernels: kernels)
    }

    /// A cache for up to `capacity` positions (default: the model's maximum).
    public func makeCache(capacity: Int? = nil) -> KVCache {
        KVCache(layers: config.layerCount, capacity: min(capacity ?? config.maxPositions, config.maxPositions),
                width: config.kvHeadCount * config.headDimension, kvHeads: config.kvHeadCount)
    }

    /// Runs `tokens` at the cache's next positions and returns their logits (tokens × vocabulary,
    /// or only the last token's when `lastOnly`). Several tokens use the ternary GEMM.
    public func forward(_ tokens: [Int], cache: KVCache, threads: Int = 0, lastOnly: Bool = false) throws(BitNetError) -> [Float] {
        try check(tokens, fitIn: cache)
        var x = try embed(tokens)
        let start = cache.count
        for (i, layer) in layers.enumerated() {
            x = layer(x, tokens: tokens.count, start: start, cache: cache, layer: i, rope: rope, threads: threads, kernels: kernels)
        }
        cache.count += tokens.count
        if lastOnly, !tokens.isEmpty {
            return logits(fromHidden: Array(x.suffix(config.hiddenSize)), tokens: 1, threads: threads)
        }
        return logits(fromHidden: x, tokens: tokens.count, threads: threads)
    }

    /// The residual stream: [0] the embedding rows, [i] the output of layer i − 1 (tokens × hidden
    /// each), from an empty cache.
    public func residualStream(_ tokens: [Int], threads: Int = 0) throws(BitNetError) -> [[Float]] {
        let cache = makeCache(capacity: tokens.count)
        var x = try embed(tokens)
        var stream = [x]
        for (i, layer) in layers.enumerated() {
            x = layer(x, tokens: tokens.count, start: 0, cache: cache, layer: i, rope: rope, threads: threads, kernels: kernels)
            stream.append(x)
        }
        return stream
    }

    /// Layer `index` alone on a given input (tokens × hidden at positions 0 ..< tokens): the
    /// per-layer check against a reference's own hidden states.
    public func layerOutput(_ index: Int, input: [Float], tokens: Int, threads: Int = 0) -> [Float] {
        precondition(input.count == tokens * config.hiddenSize, "input: expected \(tokens) × \(config.hiddenSize) values, got \(input.count)")
        return layers[index](input, tokens: tokens, start: 0, cache: makeCache(capacity: tokens), layer: index, rope: rope, threads: threads, kernels: kernels)
    }

    /// Final norm and LM head on hidden states (tokens × hidden).
    public func logits(fromHidden x: [Float], tokens: Int, threads: Int = 0) -> [Float] {
        let headThreads = threads
        let h = config.hiddenSize, vocab = config.vocabularySize
        let normed = finalNorm(x, tokens: tokens)
        var out = [Float](repeating: 0, count: tokens * vocab)
        normed.withUnsafeBufferPointer { n in
            out.withUnsafeMutableBufferPointer { o in
                for t in 0..<tokens {
                    head.products(n.baseAddress! + t * h, columns: h, rows: vocab, out: o.baseAddress! + t * vocab,
                                  threads: headThreads, kernels: kernels)
                }
            }
        }
        return out
    }

    /// Throws unless every token id is in the vocabulary and the tokens fit in what is left of
    /// the cache: the checks of a forward pass, for callers (the server's scheduler) that must
    /// refuse one sequence before it joins a batch.
    package func check(_ tokens: [Int], fitIn cache: KVCache) throws(BitNetError) {
        if let bad = tokens.first(where: { $0 < 0 || $0 >= config.vocabularySize }) {
            throw .badToken(id: bad, vocabulary: config.vocabularySize)
        }
        guard cache.count + tokens.count <= cache.capacity else { throw .contextFull(limit: cache.capacity) }
    }

    func embed(_ tokens: [Int]) throws(BitNetError) -> [Float] {
        let h = config.hiddenSize
        var x = [Float](repeating: 0, count: tokens.count * h)
        for (t, id) in tokens.enumerated() {
            guard id >= 0 && id < config.vocabularySize else { throw .badToken(id: id, vocabulary: config.vocabularySize) }
            for i in 0..<h { x[t * h + i] = embedding.value(id * h + i) }
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
