import BitKernels
import Foundation

extension BitNetModel {
    /// One decoding step for several sequences at once: token i runs at the next position of its own
    /// cache, and the logits come back token-major (`steps.count × vocabulary`). Every ternary
    /// projection multiplies all the steps' activations in one token-batched product (the GEMM path
    /// of `TernaryMatrix.apply`), so the weights are read once per step instead of once per
    /// sequence; attention runs per sequence against its own cache. Every product runs on
    /// `kernels`. Each row equals what `forward([token], cache:)` gives for that sequence alone.
    ///
    /// ```swift
    /// let a = model.makeCache(), b = model.makeCache()
    /// _ = try model.forward([1, 2, 3], cache: a)                       // prompts, one at a time
    /// _ = try model.forward([7, 8], cache: b)
    /// let logits = try model.forward(steps: [(4, a), (9, b)])          // 2 × vocabulary
    /// ```
    public func forward(steps: [(token: Int, cache: KVCache)], threads: Int = 0) throws(BitNetError) -> [Float] {
        guard !steps.isEmpty else { return [] }
        let caches = steps.map(\.cache)
        precondition(Set(caches.map(ObjectIdentifier.init)).count == caches.count, "each step needs a cache of its own")
        for cache in caches where cache.count >= cache.capacity { throw .contextFull(limit: cache.capacity) }
        var x = try embed(steps.map(\.token))
        for (i, layer) in layers.enumerated() {
            x = layer.step(x, caches: caches, layer: i, rope: rope, threads: threads, kernels: kernels)
        }
        for cache in caches { cache.count += 1 }
        let normed = finalNorm(x, tokens: steps.count)
        var out = [Float](repeating: 0, count: steps.count * config.vocabularySize)
        normed.withUnsafeBufferPointer { n in
            out.withUnsafeMutableBufferPointer { o in
                head.products(tokens: steps.count, n.baseAddress!, columns: config.hiddenSize, rows: config.vocabularySize,
                              out: o.baseAddress!, threads: threads, kernels: kernels)
            }
        }
        return out
    }
}

extension FloatRows {
    /// `out[t * rows + r] = row r · x_t` for `tokens` tokens (`x` token-major), the same numbers as
    /// `products` per token, but block by block of rows: each block is read from memory once and
    /// multiplied with every token while it sits in the cores' L2 (about 1 MiB per thread), so the
    /// LM head of a 2B model (0.66 GB of bf16) is read once per step instead of once per sequence.
    /// The same OpenMP team splits each block's rows, as `products` does (a second pool of threads
    /// would compete with OpenMP's spinning workers).
    func products(tokens: Int, _ x: UnsafePointer<Float>, columns: Int, rows: Int, out: UnsafeMutablePointer<Float>, threads: Int,
                  kernels: Kernels) {
        if tokens == 1 || isFloat {
            for t in 0..<tokens {
                products(x + t * columns, columns: columns, rows: rows, out: out + t * rows, threads: threads, kernels: kernels)
            }
            return
        }
        let team = threads > 0 ? threads : Machine.openMPThreads
        let bytesPerRow = max(columns * (isInt8 ? 1 : 2), 1)
        let blockRows = max(64, team * (1 << 20) / bytesPerRow)
        for begin in stride(from: 0, to: rows, by: blockRows) {
            let block = begin..<min(rows, begin + blockRows)
            for t in 0..<tokens {
                let xt = UnsafeBufferPointer(start: x + t * columns, count: columns)
                let ot = UnsafeMutableBufferPointer(start: out + t * rows + begin, count: block.count)
                switch self {
                case .bf16(let m): m.products(rows: block, xt, into: ot, threads: threads, using: kernels)
                case .int8(let m): m.products(rows: block, xt, into: ot, threads: threads, using: kernels)
                case .float: break
                }
            }
        }
    }

    var isInt8: Bool { if case .int8 = self { true } else { false } }
    var isFloat: Bool { if case .float = self { true } else { false } }
}

extension DecoderLayer {
    /// `x`: one token per cache (caches.count × hidden), each at its cache's next position; appends
    /// each token's key and value to its own cache's layer. The same arithmetic per token as
    /// `callAsFunction` with one token.
    func step(_ x: [Float], caches: [KVCache], layer: Int, rope: Rope, threads: Int, kernels: Kernels) -> [Float] {
        let n = caches.count, d = headDimension, kvWidth = kvHeads * d, qWidth = heads * d
        let h = QuantizedTokens(inputNorm(x, tokens: n), tokens: n, columns: q.weights.columns, using: kernels)
        var queries = q(h, threads: threads, kernels: kernels)
        var keys = k(h, threads: threads, kernels: kernels)
        let vals = v(h, threads: threads, kernels: kernels)
        let attentionThreads = threads > 0 ? threads : ProcessInfo.processInfo.activeProcessorCount
        var attended = [Float]()
        attended.reserveCapacity(n * qWidth)
        for (t, cache) in caches.enumerated() {
            let position = cache.count
            rope.apply(&queries, offset: t * qWidth, heads: heads, position: position)
            rope.apply(&keys, offset: t * kvWidth, heads: kvHeads, position: position)
            cache.keys[layer].withUnsafeMutableBufferPointer { kc in
                cache.values[layer].withUnsafeMutableBufferPointer { vc in
                    for i in 0..<kvWidth {
                        kc[position * kvWidth + i] = keys[t * kvWidth + i]
                        vc[position * kvWidth + i] = vals[t * kvWidth + i]
                    }
                }
            }
            attended += attention(Array(queries[(t * qWidth)..<((t + 1) * qWidth)]), tokens: 1, start: position,
                                  keys: cache.keys[layer], values: cache.values[layer], threads: attentionThreads)
        }
        let projected = o(attentionSubNorm(attended, tokens: n), tokens: n, threads: threads, kernels: kernels)
        var residual = x
        for i in 0..<residual.count { residual[i] += projected[i] }
        let h2 = QuantizedTokens(postAttentionNorm(residual, tokens: n), tokens: n, columns: gate.weights.columns, using: kernels)
        let g = gate(h2, threads: threads, kernels: kernels), u = up(h2, threads: threads, kernels: kernels)
        var m = [Float](repeating: 0, count: g.count)
        for i in 0..<g.count {
            let r = max(g[i], 0)
            m[i] = r * r * u[i]
        }
        let ffn = down(ffnSubNorm(m, tokens: n), tokens: n, threads: threads, kernels: kernels)
        for i in 0..<residual.count { residual[i] += ffn[i] }
        return residual
    }
}
