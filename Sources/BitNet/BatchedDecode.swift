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
        try forward(segments: steps.map { ([$0.token], $0.cache) }, threads: threads)
    }

    /// Several sequences in one forward pass, each with any number of new tokens (a new request's
    /// prompt, or a running one's next token): segment i's tokens run at the next positions of
    /// its own cache, and the logits of each segment's last token come back segment-major
    /// (`segments.count × vocabulary`). All the tokens share each ternary product and the LM head
    /// is read once for every segment; attention runs per segment. Each row equals what
    /// `forward(tokens, cache:, lastOnly: true)` gives for that segment alone. Nothing runs when
    /// a token id is out of range or a segment would overflow its cache.
    ///
    /// ```swift
    /// let a = model.makeCache(), b = model.makeCache()
    /// _ = try model.forward([1, 2, 3], cache: a)
    /// let logits = try model.forward(segments: [([4], a), ([7, 8], b)])   // 2 × vocabulary
    /// ```
    public func forward(segments: [(tokens: [Int], cache: KVCache)], threads: Int = 0) throws(BitNetError) -> [Float] {
        guard !segments.isEmpty else { return [] }
        let caches = segments.map(\.cache)
        precondition(Set(caches.map(ObjectIdentifier.init)).count == caches.count, "each segment needs a cache of its own")
        precondition(!segments.contains { $0.tokens.isEmpty }, "each segment needs at least one token")
        for (tokens, cache) in segments { try check(tokens, fitIn: cache) }
        var x = try embed(segments.flatMap(\.tokens))
        let parts = segments.map { (count: $0.tokens.count, cache: $0.cache) }
        for (i, layer) in layers.enumerated() {
            x = layer.step(x, segments: parts, layer: i, rope: rope, threads: threads, kernels: kernels)
        }
        for (tokens, cache) in segments { cache.count += tokens.count }
        let h = config.hiddenSize
        var last = [Float]()
        last.reserveCapacity(segments.count * h)
        var end = 0
        for (tokens, _) in segments {
            end += tokens.count
            last += x[((end - 1) * h)..<(end * h)]
        }
        let normed = finalNorm(last, tokens: segments.count)
        var out = [Float](repeating: 0, count: segments.count * config.vocabularySize)
        normed.withUnsafeBufferPointer { n in
            out.withUnsafeMutableBufferPointer { o in
                head.products(tokens: segments.count, n.baseAddress!, columns: h, rows: config.vocabularySize,
                              out: o.baseAddress!, threads: threads, kernels: kernels)
            }
        }
        return out
    }
}

extension FloatRows {
    /// `out[t * rows + r] = row r · x_t` for `tokens` tokens (`x` token-major), the same numbers as
    /// `products` per token, but each row is read from memory once for all the tokens, so the LM
    /// head of a 2B model (0.66 GB of bf16) is read once per step instead of once per sequence:
    /// bf16 rows by the multi-token kernel (`bk_bf16_matmul`, one OpenMP team splitting the rows);
    /// int8 rows block by block of ~1 MiB per thread, each block multiplied with every token while
    /// it sits in the cores' L2.
    func products(tokens: Int, _ x: UnsafePointer<Float>, columns: Int, rows: Int, out: UnsafeMutablePointer<Float>, threads: Int,
                  kernels: Kernels) {
        switch self {
        case .bf16(let m) where tokens > 1:
            m.products(tokens: tokens, UnsafeBufferPointer(start: x, count: tokens * columns),
                       into: UnsafeMutableBufferPointer(start: out, count: tokens * rows), threads: threads, using: kernels)
        case .int8(let m) where tokens > 1:
            let team = threads > 0 ? threads : Machine.openMPThreads
            let blockRows = max(64, team * (1 << 20) / max(columns, 1))  // one byte per weight
            for begin in stride(from: 0, to: rows, by: blockRows) {
                let block = begin..<min(rows, begin + blockRows)
                for t in 0..<tokens {
                    m.products(rows: block, UnsafeBufferPointer(start: x + t * columns, count: columns),
                               into: UnsafeMutableBufferPointer(start: out + t * rows + begin, count: block.count),
                               threads: threads, using: kernels)
                }
            }
        default:
            for t in 0..<tokens {
                products(x + t * columns, columns: columns, rows: rows, out: out + t * rows, threads: threads, kernels: kernels)
            }
        }
    }
}

extension DecoderLayer {
    /// `x`: the segments' tokens one after another (Σ count × hidden); segment i's run at its
    /// cache's next positions and append their keys and values to its own cache's layer. The same
    /// arithmetic per token as `callAsFunction` on that segment alone.
    func step(_ x: [Float], segments: [(count: Int, cache: KVCache)], layer: Int, rope: Rope, threads: Int, kernels: Kernels) -> [Float] {
        let n = segments.reduce(0) { $0 + $1.count }, d = headDimension, kvWidth = kvHeads * d, qWidth = heads * d
        let h = QuantizedTokens(inputNorm(x, tokens: n), tokens: n, columns: q.weights.columns, using: kernels)
        var queries = q(h, threads: threads, kernels: kernels)
        var keys = k(h, threads: threads, kernels: kernels)
        let vals = v(h, threads: threads, kernels: kernels)
        let attentionThreads = threads > 0 ? threads : ProcessInfo.processInfo.activeProcessorCount
        var attended = [Float]()
        attended.reserveCapacity(n * qWidth)
        var first = 0  // the segment's first token in the batch
        for (count, cache) in segments {
            let position = cache.count
            for t in first..<(first + count) {
                rope.apply(&queries, offset: t * qWidth, heads: heads, position: position + t - first)
                rope.apply(&keys, offset: t * kvWidth, heads: kvHeads, position: position + t - first)
            }
            cache.store(layer: layer, keys: keys, values: vals, first: first, tokens: count, at: position)
            attended += attention(Array(queries[(first * qWidth)..<((first + count) * qWidth)]), tokens: count, start: position,
                                  keys: cache.keys[layer], values: cache.values[layer], strides: cache.strides,
                                  threads: attentionThreads, kernels: kernels)
            first += count
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
