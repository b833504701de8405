import BitKernels
import Foundation

/// RMSNorm as transformers computes it: w · (x / sqrt(mean(x²) + eps)), per token.
struct RMSNorm: Sendable {
    let weight: [Float]
    let epsilon: Float

    func callAsFunction(_ x: [Float], tokens: Int) -> [Float] {
        let d = weight.count
        var out = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { xs in
            weight.withUnsafeBufferPointer { w in
                out.withUnsafeMutableBufferPointer { o in
                    for t in 0..<tokens {
                        var sum = 0.0
                        for i in 0..<d { sum += Double(xs[t * d + i]) * Double(xs[t * d + i]) }
                        let r = 1 / (Float(sum / Double(d)) + epsilon).squareRoot()
                        for i in 0..<d { o[t * d + i] = w[i] * (xs[t * d + i] * r) }
                    }
                }
            }
        }
        return out
    }
}

/// A BitNet b1.58 linear layer: per-token absmax int8 activations, ternary weights with their
/// scale, the ternary kernel (GEMV for one token, GEMM for several), rescaled to float.
struct BitLinear: Sendable {
    let weights: TernaryMatrix

    /// On activations already quantized (one `QuantizedTokens` shared by the layers reading the
    /// same input).
    func callAsFunction(_ x: QuantizedTokens, threads: Int, kernels: Kernels) -> [Float] {
        weights.multiply(x, threads: threads, using: kernels)
    }

    /// On float activations: quantizes them, then multiplies.
    func callAsFunction(_ x: [Float], tokens: Int, threads: Int, kernels: Kernels) -> [Float] {
        weights.apply(x, tokens: tokens, threads: threads, using: kernels)
    }
}

/// Rotary position embedding in the half-split ("rotate_half") layout: dims i and i + d/2 rotate
/// together by pos · theta^(-2i/d).
struct Rope: Sendable {
    let inverseFrequencies: [Float]

    init(headDimension d: Int, theta: Double) {
        // transformers: 1 / theta^(arange(0, d, 2) / d) in float32
        inverseFrequencies = (0..<(d / 2)).map { i in 1 / Float(pow(theta, Double(Float(2 * i) / Float(d)))) }
    }

    /// Rotates `heads` vectors of length d stored at x[offset + h * d ...] for position `pos`.
    func apply(_ x: inout [Float], offset: Int, heads: Int, position: Int) {
        let half = inverseFrequencies.count, d = 2 * half
        for i in 0..<half {
            let angle = Float(position) * inverseFrequencies[i]
            let c = Float(cos(Double(angle))), s = Float(sin(Double(angle)))
            for h in 0..<heads {
                let a = offset + h * d + i, b = a + half
                let x1 = x[a], x2 = x[b]
                x[a] = x1 * c - x2 * s
                x[b] = x2 * c + x1 * s
            }
        }
    }
}

/// Keys (after RoPE) and values of every position so far, for each layer.
///
/// A layer's keys (and values) are stored kv head by kv head: head j's `capacity` positions of d
/// floats are one contiguous block, so decoding streams each head's keys in order instead of
/// gathering one slice from every position's row (pages apart for wide models).
public final class KVCache {
    /// The most positions the cache holds.
    public let capacity: Int
    /// Positions filled.
    public internal(set) var count = 0
    var keys: [[Float]]
    var values: [[Float]]
    let width: Int  // kvHeads × headDimension
    let kvHeads: Int

    init(layers: Int, capacity: Int, width: Int, kvHeads: Int) {
        self.capacity = capacity
        self.width = width
        self.kvHeads = kvHeads
        keys = Array(repeating: [Float](repeating: 0, count: capacity * width), count: layers)
        values = keys
    }

    /// Forgets every position (the buffers stay allocated).
    public func reset() { count = 0 }

    /// Where position p of kv head j starts in a layer's buffer: p · position + j · head floats.
    var strides: (position: Int, head: Int) { (width / kvHeads, capacity * width / kvHeads) }

    /// Stores `tokens` tokens' keys and values (token-major: kvHeads × d floats each, from token
    /// `first` of the arrays) at positions `position` ..< `position + tokens` of `layer`.
    func store(layer: Int, keys: [Float], values: [Float], first: Int, tokens: Int, at position: Int) {
        let d = width / kvHeads, (step, block) = strides
        self.keys[layer].withUnsafeMutableBufferPointer { kc in
            self.values[layer].withUnsafeMutableBufferPointer { vc in
                for t in 0..<tokens {
                    for j in 0..<kvHeads {
                        let from = (first + t) * width + j * d, to = (position + t) * step + j * block
                        for i in 0..<d {
                            kc[to + i] = keys[from + i]
                            vc[to + i] = values[from + i]
                        }
                    }
                }
            }
        }
    }
}

/// One decoder layer: pre-norm attention with a sub-norm before the output projection, and the
/// squared-ReLU gated FFN with a sub-norm before the down projection.
struct DecoderLayer: Sendable {
    let inputNorm, attentionSubNorm, postAttentionNorm, ffnSubNorm: RMSNorm
    let q, k, v, o, gate, up, down: BitLinear
    let heads, kvHeads, headDimension: Int

    /// x: tokens × hidden at positions start ..< start + tokens; appends to the cache's layer.
    /// Every product runs on `kernels`; q, k and v read one quantization of their shared input, and
    /// gate and up one of theirs.
    func callAsFunction(_ x: [Float], tokens: Int, start: Int, cache: KVCache, layer: Int, rope: Rope, threads: Int,
                        kernels: Kernels) -> [Float] {
        let hidden = x.count / max(tokens, 1), d = headDimension, kvWidth = kvHeads * d
        let h = QuantizedTokens(inputNorm(x, tokens: tokens), tokens: tokens, columns: q.weights.columns, using: kernels)
        var queries = q(h, threads: threads, kernels: kernels)
        var keys = k(h, threads: threads, kernels: kernels)
        let vals = v(h, threads: threads, kernels: kernels)
        for t in 0..<tokens {
            rope.apply(&queries, offset: t * heads * d, heads: heads, position: start + t)
            rope.apply(&keys, offset: t * kvWidth, heads: kvHeads, position: start + t)
        }
        cache.store(layer: layer, keys: keys, values: vals, first: 0, tokens: tokens, at: start)
        let attended = attention(queries, tokens: tokens, start: start, keys: cache.keys[layer], values: cache.values[layer],
                                 strides: cache.strides,
                                 threads: threads > 0 ? threads : ProcessInfo.processInfo.activeProcessorCount, kernels: kernels)
        let projected = o(attentionSubNorm(attended, tokens: tokens), tokens: tokens, threads: threads, kernels: kernels)
        var residual = x
        for i in 0..<residual.count { residual[i] += projected[i] }

        let h2 = QuantizedTokens(postAttentionNorm(residual, tokens: tokens), tokens: tokens, columns: gate.weights.columns,
                                 using: kernels)
        let g = gate(h2, threads: threads, kernels: kernels), u = up(h2, threads: threads, kernels: kernels)
        var m = [Float](repeating: 0, count: g.count)
        for i in 0..<g.count {
            let r = max(g[i], 0)
            m[i] = r * r * u[i]
        }
        let ffn = down(ffnSubNorm(m, tokens: tokens), tokens: tokens, threads: threads, kernels: kernels)
        for i in 0..<residual.count { residual[i] += ffn[i] }
        precondition(residual.count == tokens * hidden)
        return residual
    }

    /// Causal softmax attention; query head j reads kv head j / (heads / kvHeads). Prompts of
    /// `gemmTokens` tokens or more go through float GEMMs (`promptAttention`) when OpenBLAS has
    /// kernels for this CPU (`FloatGEMM.hasNativeKernels`; the `bitkernels` tool makes sure it
    /// does); fewer tokens (decoding) token by token on the kernel table (`attentionDecode`: every
    /// head of one token, heads shared among the OpenMP team). Either way each head is computed the
    /// same whichever thread runs it, so threading changes no bit, and the path depends only on
    /// this call's token count (and the process's OpenBLAS).
    ///
    /// Position p of kv head j starts at p · strides.position + j · strides.head in `keys` and `values`.
    func attention(_ queries: [Float], tokens: Int, start: Int, keys: [Float], values: [Float],
                   strides: (position: Int, head: Int), threads: Int = 1, kernels: Kernels = .default) -> [Float] {
        if tokens >= Self.gemmTokens && Self.gemmAttention {
            return promptAttention(queries, tokens: tokens, start: start, keys: keys, values: values, strides: strides,
                                   threads: threads, kernels: kernels)
        }
        let d = headDimension, heads = self.heads
        var out = [Float](repeating: 0, count: tokens * heads * d)
        var scores = [Float](repeating: 0, count: heads * (start + tokens))
        withAttentionBuffers(queries, keys, values, into: &out) { q, k, v, o in
            scores.withUnsafeMutableBufferPointer { s in
                // Token t sees positions 0 ... start + t (the kernel's heads share the team).
                for t in 0..<tokens {
                    kernels.attentionDecode(q + t * heads * d, keys: k, values: v, positions: start + t + 1, heads: heads,
                                            kvHeads: kvHeads, dimension: d, positionStride: strides.position,
                                            headStride: strides.head, scale: 1 / Float(d).squareRoot(),
                                            scores: s.baseAddress!, out: o + t * heads * d, threads: threads)
                }
            }
        }
        return out
    }
}

extension DecoderLayer {
    /// Token counts from which a call's attention runs as GEMMs (a prompt) rather than token by token.
    static let gemmTokens = 16
    /// Queries per GEMM block: bounds the score block (rows × visible keys floats per worker).
    static let queryBlock = 128
    /// Whether prompts take `promptAttention` in this process (decided once).
    static let gemmAttention = FloatGEMM.hasNativeKernels

    /// Attention of a prompt's `tokens` queries (positions start ..< start + tokens) by blocks of
    /// queries and heads: S = QKᵀ/√d over the keys the block's last query sees (OpenBLAS), each row's
    /// causal softmax (the kernel table's `softmax_row`, which zeroes the keys a query does not see),
    /// then O = S V. The (block, head) tasks are shared among `threads` workers, each product
    /// single-threaded, so the values do not depend on the thread count. Per-pair attention did the
    /// same arithmetic in scalar dot products and a libm exponential per score: on the 2B-4T shapes
    /// this made pp512 18–27% faster at one thread (bench/RESULTS.md).
    func promptAttention(_ queries: [Float], tokens: Int, start: Int, keys: [Float], values: [Float],
                         strides: (position: Int, head: Int), threads: Int, kernels: Kernels) -> [Float] {
        let d = headDimension, group = heads / kvHeads, heads = self.heads, qWidth = heads * d
        let scale = 1 / Float(d).squareRoot(), block = Self.queryBlock
        let blocks = (tokens + block - 1) / block, tasks = blocks * heads
        var out = [Float](repeating: 0, count: tokens * qWidth)
        withAttentionBuffers(queries, keys, values, into: &out) { q, k, v, o in
            // Disjoint output slices per task (query rows × one head's columns); inputs only read.
            nonisolated(unsafe) let q = q, k = k, v = v, o = o
            let task: @Sendable (Int, UnsafeMutablePointer<Float>) -> Void = { task, scores in
                let b = task / heads, hq = task % heads, kvh = hq / group
                let t0 = b * block, rows = min(block, tokens - t0), visible = start + t0 + rows
                FloatGEMM.multiply(transposeA: false, transposeB: true, m: rows, n: visible, k: d, alpha: scale,
                                   a: q + t0 * qWidth + hq * d, lda: qWidth, b: k + kvh * strides.head, ldb: strides.position, beta: 0,
                                   c: scores, ldc: visible)
                for i in 0..<rows { kernels.softmaxRow(scores + i * visible, last: start + t0 + i, count: visible) }
                // Weights below 2⁻⁶⁰ to zero, as the decoding kernel skips them: their products with
                // the values would be subnormal, a microcode assist each inside the GEMM.
                for j in 0..<(rows * visible) where scores[j] < 0x1p-60 { scores[j] = 0 }
                FloatGEMM.multiply(transposeA: false, transposeB: false, m: rows, n: d, k: visible, alpha: 1,
                                   a: scores, lda: visible, b: v + kvh * strides.head, ldb: strides.position, beta: 0,
                                   c: o + t0 * qWidth + hq * d, ldc: qWidth)
            }
            runTasks(tasks, workers: threads, scratch: block * (start + tokens), task)
        }
        return out
    }
}

/// The attention's queries, keys and values to read and its output to write, as pointers for the
/// tasks (each task writes its own slice of the output).
private func withAttentionBuffers(_ queries: [Float], _ keys: [Float], _ values: [Float], into out: inout [Float],
                                  _ body: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
    queries.withUnsafeBufferPointer { q in
        keys.withUnsafeBufferPointer { k in
            values.withUnsafeBufferPointer { v in
                out.withUnsafeMutableBufferPointer { o in body(q.baseAddress!, k.baseAddress!, v.baseAddress!, o.baseAddress!) }
            }
        }
    }
}

/// Runs `task(i, scores)` for every i < `tasks` on up to `workers` threads, task i on worker
/// i mod workers, each worker with its own scratch of `scratch` floats. The tasks write disjoint
/// outputs, so how they are shared changes no value.
private func runTasks(_ tasks: Int, workers: Int, scratch: Int, _ task: @escaping @Sendable (Int, UnsafeMutablePointer<Float>) -> Void) {
    let workers = min(max(workers, 1), max(tasks, 1))
    let run: @Sendable (Int) -> Void = { w in
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: scratch)
        defer { scores.deallocate() }
        for t in stride(from: w, to: tasks, by: workers) { task(t, scores) }
    }
    if workers > 1 { DispatchQueue.concurrentPerform(iterations: workers, execute: run) } else { run(0) }
}

extension DecoderLayer {
    /// The tensors of one decoder layer.
    enum Part: CaseIterable { case inputNorm, attentionSubNorm, postAttentionNorm, ffnSubNorm, q, k, v, o, gate, up, down }

    /// A layer read from a checkpoint: `name` gives each part's tensor name in the file's layout,
    /// `norm` reads a norm of a size and `linear` a ternary matrix of (rows, columns); every shape
    /// comes from the configuration, the same for every layout.
    init(_ c: BitNetConfig, name: (Part) -> String, norm: (String, Int) throws(BitNetError) -> RMSNorm,
         linear: (String, Int, Int) throws(BitNetError) -> BitLinear) throws(BitNetError) {
        let h = c.hiddenSize, f = c.intermediateSize, d = c.headDimension
        let qWidth = c.headCount * d, kvWidth = c.kvHeadCount * d
        self.init(
            inputNorm: try norm(name(.inputNorm), h), attentionSubNorm: try norm(name(.attentionSubNorm), h),
            postAttentionNorm: try norm(name(.postAttentionNorm), h), ffnSubNorm: try norm(name(.ffnSubNorm), f),
            q: try linear(name(.q), qWidth, h), k: try linear(name(.k), kvWidth, h), v: try linear(name(.v), kvWidth, h),
            o: try linear(name(.o), h, qWidth), gate: try linear(name(.gate), f, h), up: try linear(name(.up), f, h),
            down: try linear(name(.down), h, f), heads: c.headCount, kvHeads: c.kvHeadCount, headDimension: d)
    }
}

extension DecoderLayer {
    /// The same layers with all their ternary matrices stored together on huge pages, in the order
    /// a token reads them (`TernaryMatrix.storedTogether`): per token the whole model streams from
    /// DRAM, and on the 4 KiB pages the loading leaves scattered the summing loop itself read ~14%
    /// slower than over one fresh buffer (bench/RESULTS.md, decode section). Same values.
    static func storedTogether(_ layers: [DecoderLayer]) -> [DecoderLayer] {
        let stored = TernaryMatrix.storedTogether(layers.flatMap { l in [l.q, l.k, l.v, l.o, l.gate, l.up, l.down].map(\.weights) })
        return layers.indices.map { i in
            let l = layers[i], m = stored[7 * i ..< 7 * i + 7].map(BitLinear.init(weights:))
            return DecoderLayer(inputNorm: l.inputNorm, attentionSubNorm: l.attentionSubNorm, postAttentionNorm: l.postAttentionNorm,
                                ffnSubNorm: l.ffnSubNorm, q: m[0], k: m[1], v: m[2], o: m[3], gate: m[4], up: m[5], down: m[6],
                                heads: l.heads, kvHeads: l.kvHeads, headDimension: l.headDimension)
        }
    }
}
