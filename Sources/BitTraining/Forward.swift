import BitKernels
import Foundation

/// What one layer's forward pass keeps for its backward pass.
final class LayerTape {
    var x: Buffer!  // layer input, N × H
    var r1: [Float] = []  // 1 / rms per token, input norm
    var h1: Buffer!  // BitLinear input of q, k, v: dequantized int8 (or the normed values in float)
    var q: Buffer!, k: Buffer!, v: Buffer!  // q, k after RoPE
    var probs: Buffer!  // B × heads × T × T, causal softmax
    var att: Buffer!  // attention output, N × heads·d
    var r2: [Float] = []
    var a2: Buffer!  // o's input (dequantized)
    var x1: Buffer!  // residual after attention
    var r3: [Float] = []
    var h2: Buffer!  // gate/up input (dequantized)
    var g: Buffer!, u: Buffer!
    var m: Buffer!  // relu(g)² · u
    var r4: [Float] = []
    var m2: Buffer!  // down's input (dequantized)
}

@inline(__always)
func gemm(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float, _ a: UnsafePointer<Float>, _ lda: Int,
          _ b: UnsafePointer<Float>, _ ldb: Int, _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, threads: Int) {
    FloatGEMM.multiply(transposeA: ta, transposeB: tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                       beta: beta, c: c, ldc: ldc, threads: threads)
}

extension TrainableModel {
    // MARK: - Elementwise pieces

    /// RMSNorm per token on the kernel table (`rmsnorm`: sum of squares in double, as inference
    /// sums it, in eight lanes of a fixed order — r may differ from inference's in its last bit —
    /// then w · (x · r)); returns r per token.
    func rmsNorm(_ x: UnsafePointer<Float>, weight: Int, tokens: Int, width d: Int, out: UnsafeMutablePointer<Float>) -> [Float] {
        nonisolated(unsafe) let w = weights[weight].p, x = x, out = out
        let eps = configuration.epsilon, kernels = Kernels.default
        var rs = [Float](repeating: 0, count: tokens)
        rs.withUnsafeMutableBufferPointer { rp in
            nonisolated(unsafe) let rp = rp
            parallelFor(tokens, threads: tokens * d >= 1 << 15 ? threads : 1) { t in
                rp[t] = kernels.rmsNorm(x + t * d, weight: w, count: d, epsilon: eps, into: out + t * d)
            }
        }
        return rs
    }

    /// dx = r (g − n · mean(g ⊙ n)), g = w ⊙ dy, n = x r; dw += Σ_t dy ⊙ n (kernel table entries
    /// `rmsnorm_backward` and `rmsnorm_weight_sums`). Adds dx into `dx`, or writes it there without
    /// `accumulate` (then `dx` need not be initialized). With `gate` (the MLP's sub-norm, whose input
    /// was m = relu(g)² · u) dx is not stored but passed on through the squared ReLU's backward
    /// pass into dg and du (`relu2_backward`). Each column of dw is summed over the tokens in
    /// order, in double. One thread: token by token, each token's dy and x read once while in
    /// L1 (its dx too, with `gate`); several: dx shared among them by tokens, then dw by columns —
    /// the same values either way.
    func rmsNormBackward(_ x: UnsafePointer<Float>, r: [Float], weight: Int, tokens: Int, width d: Int,
                         dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?, accumulate: Bool = true,
                         gate: (g: UnsafePointer<Float>, u: UnsafePointer<Float>, dg: UnsafeMutablePointer<Float>, du: UnsafeMutablePointer<Float>)? = nil) {
        precondition(dx != nil || gate != nil, "rmsNormBackward: dx goes somewhere (dx or the gate's dg, du)")
        nonisolated(unsafe) let w = weights[weight].p, dw = grads[weight].p, x = x, dy = dy
        let team = tokens * d >= 1 << 15 ? threads : 1, kernels = Kernels.default
        r.withUnsafeBufferPointer { rb in
            nonisolated(unsafe) let r = rb.baseAddress!
            if team == 1 {
                withUnsafeTemporaryAllocation(of: Double.self, capacity: d) { acc in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: gate == nil ? 0 : d) { row in
                        let sums = acc.baseAddress!
                        sums.initialize(repeating: 0, count: d)
                        for t in 0..<tokens {
                            let xt = x + t * d, gt = dy + t * d
                            let out = gate == nil ? dx! + t * d : row.baseAddress!
                            kernels.rmsNormBackward(xt, weight: w, upstream: gt, r: r[t], count: d, accumulate: accumulate && gate == nil, into: out)
                            kernels.rmsNormWeightSums(xt, upstream: gt, stride: d, r: r + t, tokens: 1, width: d, into: sums)
                            if let (g, u, dg, du) = gate {
                                kernels.reluSquaredBackward(g + t * d, u + t * d, out, dg: dg + t * d, du: du + t * d, count: d)
                            }
                        }
                        for i in 0..<d { dw[i] += Float(sums[i]) }
                    }
                }
                return
            }
            nonisolated(unsafe) let dm = dx ?? UnsafeMutablePointer<Float>.allocate(capacity: tokens * d)
            defer { if dx == nil { dm.deallocate() } }
            parallelFor(tokens, threads: team) { t in
                kernels.rmsNormBackward(x + t * d, weight: w, upstream: dy + t * d, r: r[t], count: d, accumulate: accumulate && gate == nil,
                                        into: dm + t * d)
            }
            let slice = 64, slices = (d + slice - 1) / slice
            parallelFor(slices, threads: team) { sl in
                let lo = sl * slice, width = min(slice, d - lo)
                withUnsafeTemporaryAllocation(of: Double.self, capacity: slice) { acc in
                    let sums = acc.baseAddress!
                    sums.initialize(repeating: 0, count: width)
                    kernels.rmsNormWeightSums(x + lo, upstream: dy + lo, stride: d, r: r, tokens: tokens, width: width, into: sums)
                    for i in 0..<width { dw[lo + i] += Float(sums[i]) }
                }
            }
            if let (g, u, dg, du) = gate { reluSquaredBackward(g, u, dm, dg: dg, du: du, count: tokens * d) }
        }
    }

    /// out[i] = a[i] + b[i], shared among the threads.
    func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count n: Int) {
        nonisolated(unsafe) let a = a, b = b, out = out
        let chunks = (n + (1 << 14) - 1) >> 14
        parallelFor(chunks, threads: n >= 1 << 16 ? threads : 1) { c in
            for i in (c << 14)..<min((c + 1) << 14, n) { out[i] = a[i] + b[i] }
        }
    }

    // MARK: - BitLinear

    /// A BitLinear's input as the layer makes it: RMSNorm (weight `norm`) of the rows of `x`, and
    /// for the MLP's down projection first x = relu(g)² · u (`gate`; x is then written — the tape's m).
    struct NormedRows {
        let x: UnsafeMutablePointer<Float>
        let norm: Int
        var gate: (g: UnsafePointer<Float>, u: UnsafePointer<Float>)? = nil
    }

    /// ys[j] (N × rows of parameter j) = BitLinear_j(RMSNorm(input)) for the BitLinear matrices that
    /// read the same input (q, k, v; gate, up); returns the norm's r (1 / rms) per token. Quantized:
    /// a few tokens at a time are normed into a scratch block that stays in L1/L2, quantized from
    /// there (absmax int8 tokens, the inference kernels' quantizer) and, when `keep` is given,
    /// dequantized into it (q / s: the input the weight gradients need) — the normed float rows are
    /// never written out whole; then the packed products (`TernaryMatrix`). `.float`: the normed
    /// rows, then float GEMMs, and `keep` receives the normed rows.
    func linear(_ input: NormedRows, tokens n: Int, parameters ps: [Int], outs ys: [UnsafeMutablePointer<Float>], keep: Buffer?) -> [Float] {
        let columns = layout[ps[0]].shape[1]
        let matrices = ps.map { packed[$0] }
        guard matrices.allSatisfy({ $0 != nil }) else {
            if let (g, u) = input.gate { reluSquaredTimes(g, u, into: input.x, count: n * columns) }
            let h = Buffer(uninitialized: n * columns)
            let r = rmsNorm(input.x, weight: input.norm, tokens: n, width: columns, out: h.p)
            for (i, y) in zip(ps, ys) {
                gemm(false, true, n, layout[i].shape[0], columns, 1, h.p, columns, weights[i].p, columns, 0, y, layout[i].shape[0], threads: threads)
            }
            keep?.p.update(from: h.p, count: n * columns)
            return r
        }
        // The kernel's quantizer (quantize.c): s = 127 / max(max|x|, 1e-5), q = rint(x · s) (half to
        // even) clamped to [-128, 127]; the kept input is q / s with the same s. Each token by itself,
        // so the blocks change no value.
        let rowStride = QuantizedTokens.paddedStride(columns: columns), block = 16
        let q = UnsafeMutablePointer<Int8>.allocate(capacity: n * rowStride)
        let scales = UnsafeMutablePointer<Float>.allocate(capacity: n), sums = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        defer { q.deallocate(); scales.deallocate(); sums.deallocate() }
        var rs = [Float](repeating: 0, count: n)
        let workers = min(threads, max(n / 16, 1)), kernels = Kernels.default, eps = configuration.epsilon
        nonisolated(unsafe) let kept = keep?.p, ys = ys, x = input.x, gate = input.gate, w = weights[input.norm].p
        rs.withUnsafeMutableBufferPointer { rb in
            nonisolated(unsafe) let r = rb.baseAddress!
            parallelFor(workers, threads: workers) { worker in
                let lo = n * worker / workers, hi = n * (worker + 1) / workers
                let normed = UnsafeMutablePointer<Float>.allocate(capacity: block * columns)
                defer { normed.deallocate() }
                for from in stride(from: lo, to: hi, by: block) {
                    let to = min(from + block, hi)
                    for t in from..<to {
                        let row = x + t * columns
                        if let (g, u) = gate { kernels.reluSquaredTimes(g + t * columns, u + t * columns, into: row, count: columns) }
                        r[t] = kernels.rmsNorm(row, weight: w, count: columns, epsilon: eps, into: normed + (t - from) * columns)
                    }
                    QuantizedTokens.quantize(normed, xStride: columns, columns: columns, tokens: to - from, into: q + from * rowStride,
                                             stride: rowStride, scales: scales + from, sums: sums + from)
                    if let kept {
                        for t in from..<to { kernels.dequantizeToken(q + t * rowStride, count: columns, scale: scales[t], into: kept + t * columns) }
                    }
                }
                for (matrix, y) in zip(matrices, ys) {
                    matrix!.multiply(quantized: q + lo * rowStride, stride: rowStride, sums: sums + lo, scales: scales + lo, tokens: hi - lo,
                                     into: y + lo * matrix!.rows, yStride: matrix!.rows)
                }
            }
        }
        return rs
    }

    func linear(_ input: NormedRows, tokens n: Int, parameter i: Int, out y: UnsafeMutablePointer<Float>, keep: Buffer?) -> [Float] {
        linear(input, tokens: n, parameters: [i], outs: [y], keep: keep)
    }

    /// STE backward of y = x Wqᵀ: dW = dyᵀ · x̂ (x̂ the kept input), dx (+)= dy · Ŵ.
    func linearBackward(dy: UnsafePointer<Float>, kept: Buffer, tokens n: Int, parameter i: Int,
                        dx: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let rows = layout[i].shape[0], columns = layout[i].shape[1]
        gemm(true, false, rows, columns, n, 1, dy, rows, kept.p, columns, 0, grads[i].p, columns, threads: threads)
        if recordsGradientSquares { gradientSquares[i] = squareSums(grads[i].p, count: grads[i].count) }
        let w = dequantized[i]?.p ?? weights[i].p
        gemm(false, false, n, columns, rows, 1, dy, rows, w, columns, accumulate ? 1 : 0, dx, columns, threads: threads)
    }

    // MARK: - Forward and backward

    /// Cross-entropy of the batch summed and divided by `normalizer` (default: its token count, the
    /// mean); with `gradients`, also fills `gradients` (zeroed first) with the gradient of that value.
    func run(_ batch: Batch, gradients: Bool, normalizer: Int? = nil, hidden: ((Int, UnsafePointer<Float>) -> Void)? = nil,
             logitsOut: Buffer? = nil) -> Float {
        let c = configuration, bsz = batch.count, T = batch.length, N = batch.tokenCount, mean = normalizer ?? N
        let H = c.width, F = c.mlpHidden, d = c.headDimension, heads = c.heads, kvh = c.kvHeads
        let qw = heads * d, kw = kvh * d, V = c.vocabularySize
        if ropeCache?.length != T {
            let table = rope.table(length: T)
            ropeCache = (T, table.cos, table.sin)
        }
        let (cosT, sinT) = (ropeCache!.cos, ropeCache!.sin)

        // Embedding
        var x = Buffer(uninitialized: N * H)
        let emb = weights[0].p
        for t in 0..<N { (x.p + t * H).update(from: emb + Int(batch.inputs[t]) * H, count: H) }
        hidden?(0, x.p)

        var tapes: [LayerTape] = []
        for l in 0..<c.layers {
            let tape = LayerTape()
            tape.x = x
            let q = Buffer(uninitialized: N * qw), k = Buffer(uninitialized: N * kw), v = Buffer(uninitialized: N * kw)
            let kept1 = gradients ? Buffer(uninitialized: N * H) : nil
            tape.r1 = linear(NormedRows(x: x.p, norm: c.index(layer: l, .inputNorm)), tokens: N,
                             parameters: [c.index(layer: l, .q), c.index(layer: l, .k), c.index(layer: l, .v)], outs: [q.p, k.p, v.p], keep: kept1)
            tape.h1 = kept1
            applyRope(q.p, tokens: N, length: T, heads: heads, d: d, cos: cosT, sin: sinT, inverse: false)
            applyRope(k.p, tokens: N, length: T, heads: kvh, d: d, cos: cosT, sin: sinT, inverse: false)
            tape.q = q; tape.k = k; tape.v = v
            let probs = Buffer(uninitialized: bsz * heads * T * T), att = Buffer(uninitialized: N * qw)
            attentionForward(q: q.p, k: k.p, v: v.p, probs: probs.p, out: att.p, batch: bsz, length: T)
            tape.probs = probs; tape.att = att
            let o = Buffer(uninitialized: N * H)
            let kept2 = gradients ? Buffer(uninitialized: N * qw) : nil
            tape.r2 = linear(NormedRows(x: att.p, norm: c.index(layer: l, .attentionSubNorm)), tokens: N, parameter: c.index(layer: l, .o),
                             out: o.p, keep: kept2)
            tape.a2 = kept2
            let x1 = Buffer(uninitialized: N * H)
            add(x.p, o.p, into: x1.p, count: N * H)
            tape.x1 = x1
            let g = Buffer(uninitialized: N * F), u = Buffer(uninitialized: N * F)
            let kept3 = gradients ? Buffer(uninitialized: N * H) : nil
            tape.r3 = linear(NormedRows(x: x1.p, norm: c.index(layer: l, .postAttentionNorm)), tokens: N,
                             parameters: [c.index(layer: l, .gate), c.index(layer: l, .up)], outs: [g.p, u.p], keep: kept3)
            tape.h2 = kept3; tape.g = g; tape.u = u
            let m = Buffer(uninitialized: N * F)  // relu(g)² · u, written by the down projection's input pass
            tape.m = m
            let down = Buffer(uninitialized: N * H)
            let kept4 = gradients ? Buffer(uninitialized: N * F) : nil
            tape.r4 = linear(NormedRows(x: m.p, norm: c.index(layer: l, .ffnSubNorm), gate: (UnsafePointer(g.p), UnsafePointer(u.p))), tokens: N,
                             parameter: c.index(layer: l, .down), out: down.p, keep: kept4)
            tape.m2 = kept4
            let x2 = Buffer(uninitialized: N * H)
            add(x1.p, down.p, into: x2.p, count: N * H)
            if gradients { tapes.append(tape) }
            x = x2
            hidden?(l + 1, x.p)
        }

        // Final norm, head, cross-entropy
        let hn = Buffer(uninitialized: N * H)
        let rf = rmsNorm(x.p, weight: c.finalNormIndex, tokens: N, width: H, out: hn.p)
        let logits = logitsOut ?? Buffer(uninitialized: N * V)
        let head = weights[c.headIndex].p
        gemm(false, true, N, V, H, 1, hn.p, H, head, H, 0, logits.p, V, threads: threads)
        if logitsOut != nil && !gradients { return 0 }
        // Per token in parallel (each token's loss and gradient row by itself), the losses then
        // summed in token order: the same values at any thread count.
        let dlogits = gradients ? Buffer(uninitialized: N * V) : nil
        let losses = UnsafeMutablePointer<Double>.allocate(capacity: N)
        defer { losses.deallocate() }
        do {
            nonisolated(unsafe) let logitsP = logits.p, dl = dlogits?.p, losses = losses
            let targets = batch.targets
            parallelFor(N, threads: N * V >= 1 << 15 ? threads : 1) { t in
                let row = logitsP + t * V
                var best = -Float.infinity
                for j in 0..<V { best = max(best, row[j]) }
                // The exponentials once: kept in the gradient row (when there is one) for its pass.
                var sum = 0.0
                if let dl {
                    let e = dl + t * V
                    for j in 0..<V {
                        e[j] = Foundation.exp(row[j] - best)
                        sum += Double(e[j])
                    }
                } else {
                    for j in 0..<V { sum += Double(Foundation.exp(row[j] - best)) }
                }
                let target = Int(targets[t])
                losses[t] = Double(best) + Foundation.log(sum) - Double(row[target])
                if let dl {
                    let inv = 1 / sum, scale = 1 / Float(mean)
                    for j in 0..<V { dl[t * V + j] = Float(Double(dl[t * V + j]) * inv) * scale }
                    dl[t * V + target] -= scale
                }
            }
        }
        var total = 0.0
        for t in 0..<N { total += losses[t] }
        let loss = Float(total / Double(mean))
        guard gradients, let dl = dlogits else { return loss }

        // Each BitLinear's and the untied head's gradient is written whole, once a pass, by its
        // product (β = 0); the others (norms, embedding) are sums and start from zero.
        for (i, g) in grads.enumerated() where layout[i].kind != .linear && layout[i].kind != .head { g.zero() }
        // Head: dhn = dlogits · head, dHead = dlogitsᵀ · hn (tied: the embedding's rows are added after)
        let dhn = Buffer(uninitialized: N * H)
        gemm(false, false, N, H, V, 1, dl.p, V, head, H, 0, dhn.p, H, threads: threads)
        gemm(true, false, V, H, N, 1, dl.p, V, hn.p, H, 0, grads[c.headIndex].p, H, threads: threads)
        if recordsGradientSquares && !c.tiedHead { gradientSquares[c.headIndex] = squareSums(grads[c.headIndex].p, count: grads[c.headIndex].count) }
        var dx = Buffer(uninitialized: N * H)
        rmsNormBackward(x.p, r: rf, weight: c.finalNormIndex, tokens: N, width: H, dy: dhn.p, dx: dx.p, accumulate: false)

        for l in stride(from: c.layers - 1, through: 0, by: -1) {
            let tape = tapes[l]
            // x2 = x1 + down(norm(m)); dx is ∂/∂x2 and becomes ∂/∂x1 by adding the MLP path.
            let dm2 = Buffer(uninitialized: N * F)
            linearBackward(dy: dx.p, kept: tape.m2, tokens: N, parameter: c.index(layer: l, .down), dx: dm2.p, accumulate: false)
            let dg = Buffer(uninitialized: N * F), du = Buffer(uninitialized: N * F)
            rmsNormBackward(tape.m.p, r: tape.r4, weight: c.index(layer: l, .ffnSubNorm), tokens: N, width: F, dy: dm2.p, dx: nil,
                            accumulate: false, gate: (UnsafePointer(tape.g.p), UnsafePointer(tape.u.p), dg.p, du.p))
            let dh2 = Buffer(uninitialized: N * H)
            linearBackward(dy: dg.p, kept: tape.h2, tokens: N, parameter: c.index(layer: l, .gate), dx: dh2.p, accumulate: false)
            linearBackward(dy: du.p, kept: tape.h2, tokens: N, parameter: c.index(layer: l, .up), dx: dh2.p, accumulate: true)
            rmsNormBackward(tape.x1.p, r: tape.r3, weight: c.index(layer: l, .postAttentionNorm), tokens: N, width: H, dy: dh2.p, dx: dx.p)
            // x1 = x + o(subnorm(att))
            let da2 = Buffer(uninitialized: N * qw)
            linearBackward(dy: dx.p, kept: tape.a2, tokens: N, parameter: c.index(layer: l, .o), dx: da2.p, accumulate: false)
            let datt = Buffer(uninitialized: N * qw)
            rmsNormBackward(tape.att.p, r: tape.r2, weight: c.index(layer: l, .attentionSubNorm), tokens: N, width: qw, dy: da2.p, dx: datt.p,
                            accumulate: false)
            let dq = Buffer(uninitialized: N * qw), dk = Buffer(uninitialized: N * kw), dv = Buffer(uninitialized: N * kw)
            attentionBackward(q: tape.q.p, k: tape.k.p, v: tape.v.p, probs: tape.probs.p, dOut: datt.p, dq: dq.p, dk: dk.p, dv: dv.p,
                              batch: bsz, length: T)
            applyRope(dq.p, tokens: N, length: T, heads: heads, d: d, cos: cosT, sin: sinT, inverse: true)
            applyRope(dk.p, tokens: N, length: T, heads: kvh, d: d, cos: cosT, sin: sinT, inverse: true)
            let dh1 = Buffer(uninitialized: N * H)
            linearBackward(dy: dq.p, kept: tape.h1, tokens: N, parameter: c.index(layer: l, .q), dx: dh1.p, accumulate: false)
            linearBackward(dy: dk.p, kept: tape.h1, tokens: N, parameter: c.index(layer: l, .k), dx: dh1.p, accumulate: true)
            linearBackward(dy: dv.p, kept: tape.h1, tokens: N, parameter: c.index(layer: l, .v), dx: dh1.p, accumulate: true)
            rmsNormBackward(tape.x.p, r: tape.r1, weight: c.index(layer: l, .inputNorm), tokens: N, width: H, dy: dh1.p, dx: dx.p)
        }
        let dE = grads[0].p
        for t in 0..<N {
            let row = dE + Int(batch.inputs[t]) * H, g = dx.p + t * H
            for i in 0..<H { row[i] += g[i] }
        }
        dx = Buffer(0)
        return loss
    }

    /// m = relu(g)² · u (the kernel's entry), chunks shared among the threads.
    func reluSquaredTimes(_ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>, into m: UnsafeMutablePointer<Float>, count n: Int) {
        nonisolated(unsafe) let g = g, u = u, m = m
        let chunks = (n + (1 << 14) - 1) >> 14
        parallelFor(chunks, threads: n >= 1 << 16 ? threads : 1) { c in
            let lo = c << 14
            Kernels.default.reluSquaredTimes(g + lo, u + lo, into: m + lo, count: min(1 << 14, n - lo))
        }
    }

    /// du = dm · relu(g)², dg = 2 · dm · u · relu(g) (the kernel's entry), chunks shared among the threads.
    func reluSquaredBackward(_ g: UnsafePointer<Float>, _ u: UnsafePointer<Float>, _ dm: UnsafePointer<Float>,
                             dg: UnsafeMutablePointer<Float>, du: UnsafeMutablePointer<Float>, count n: Int) {
        nonisolated(unsafe) let g = g, u = u, dm = dm, dg = dg, du = du
        let chunks = (n + (1 << 14) - 1) >> 14
        parallelFor(chunks, threads: n >= 1 << 16 ? threads : 1) { c in
            let lo = c << 14
            Kernels.default.reluSquaredBackward(g + lo, u + lo, dm + lo, dg: dg + lo, du: du + lo, count: min(1 << 14, n - lo))
        }
    }

    /// Half-split RoPE in place on `heads` vectors of d per token (position t mod length; the
    /// kernel table's `rope_rotate`); `inverse` rotates back (the backward pass).
    func applyRope(_ x: UnsafeMutablePointer<Float>, tokens: Int, length: Int, heads: Int, d: Int, cos: [Float], sin: [Float], inverse: Bool) {
        let half = d / 2, kernels = Kernels.default
        nonisolated(unsafe) let x = x
        cos.withUnsafeBufferPointer { cp in
            sin.withUnsafeBufferPointer { sp in
                nonisolated(unsafe) let cp = cp.baseAddress!, sp = sp.baseAddress!
                parallelFor(tokens, threads: tokens * heads * d >= 1 << 15 ? threads : 1) { t in
                    let pos = t % length
                    kernels.ropeRotate(x + t * heads * d, heads: heads, dimension: d, cos: cp + pos * half, sin: sp + pos * half, inverse: inverse)
                }
            }
        }
    }

    /// Causal softmax attention per (sequence, head), query head h reading kv head h / (heads / kvHeads);
    /// scores and products through the float GEMM, sequences split among the threads.
    func attentionForward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, probs: UnsafeMutablePointer<Float>,
                          out: UnsafeMutablePointer<Float>, batch: Int, length T: Int) {
        let c = configuration, heads = c.heads, d = c.headDimension, group = c.heads / c.kvHeads
        let qw = heads * d, kw = c.kvHeads * d, scale = 1 / Float(d).squareRoot()
        nonisolated(unsafe) let q = q, k = k, v = v, probs = probs, out = out
        parallelFor(batch, threads: threads) { b in
            for h in 0..<heads {
                let kvh = h / group
                let qp = q + b * T * qw + h * d, kp = k + b * T * kw + kvh * d, vp = v + b * T * kw + kvh * d
                let P = probs + (b * heads + h) * T * T
                gemm(false, true, T, T, d, scale, qp, qw, kp, kw, 0, P, T, threads: 1)
                for i in 0..<T { Kernels.default.softmaxRow(P + i * T, last: i, count: T) }
                gemm(false, false, T, d, T, 1, P, T, vp, kw, 0, out + b * T * qw + h * d, qw, threads: 1)
            }
        }
    }

    /// dP = dO Vᵀ, dS = P ⊙ (dP − rowsum(P ⊙ dP)), dQ = s · dS K, dK = Σ s · dSᵀ Q, dV = Σ Pᵀ dO (sums over the query heads of a kv head).
    func attentionBackward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, probs: UnsafePointer<Float>,
                           dOut: UnsafePointer<Float>, dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                           dv: UnsafeMutablePointer<Float>, batch: Int, length T: Int) {
        let c = configuration, heads = c.heads, d = c.headDimension, group = c.heads / c.kvHeads
        let qw = heads * d, kw = c.kvHeads * d, scale = 1 / Float(d).squareRoot()
        nonisolated(unsafe) let q = q, k = k, v = v, probs = probs, dOut = dOut, dq = dq, dk = dk, dv = dv
        parallelFor(batch, threads: threads) { b in
            let dS = UnsafeMutablePointer<Float>.allocate(capacity: T * T)
            defer { dS.deallocate() }
            for h in 0..<heads {
                let kvh = h / group
                let qp = q + b * T * qw + h * d, kp = k + b * T * kw + kvh * d, vp = v + b * T * kw + kvh * d
                let dop = dOut + b * T * qw + h * d
                let P = probs + (b * heads + h) * T * T
                gemm(false, true, T, T, d, 1, dop, qw, vp, kw, 0, dS, T, threads: 1)
                for i in 0..<T {
                    let p = P + i * T, s = dS + i * T, n = i + 1
                    let pd = dot(p, s, count: n)
                    var j = 0
                    while j + 16 <= n {
                        store16(load16(p + j) * (load16(s + j) - pd), s + j)
                        j += 16
                    }
                    for k in j..<n { s[k] = p[k] * (s[k] - pd) }
                    if n < T { (s + n).update(repeating: 0, count: T - n) }
                }
                gemm(false, false, T, d, T, scale, dS, T, kp, kw, 0, dq + b * T * qw + h * d, qw, threads: 1)
                // The first query head of a kv head writes its dK and dV, the group's others add to them.
                let first: Float = h % group == 0 ? 0 : 1
                gemm(true, false, T, d, T, scale, dS, T, qp, qw, first, dk + b * T * kw + kvh * d, kw, threads: 1)
                gemm(true, false, T, d, T, 1, P, T, dop, qw, first, dv + b * T * kw + kvh * d, kw, threads: 1)
            }
        }
    }
}

// MARK: - Public entry points

extension TrainableModel {
    /// Mean next-token cross-entropy of `batch` and every parameter's gradient (in `gradients`),
    /// the straight-through estimator through weight and activation quantization.
    ///
    /// ```swift
    /// let loss = model.lossAndGradients(Batch(windows: [[1, 2, 3, 4]]))
    /// ```
    ///
    /// With several threads and several sequences the batch is split by sequences among worker
    /// replicas (data parallelism inside the process: each worker runs the whole forward and
    /// backward pass of its sequences on its share of the threads — one each when there are at
    /// least as many sequences as threads — and the gradients are summed in worker order); the
    /// result is deterministic for a thread count and equals one thread's within float rounding.
    public func lossAndGradients(_ batch: Batch) -> Float {
        validate(batch)
        return runSplit(batch, gradients: true)
    }

    /// Mean next-token cross-entropy of `batch` (forward only).
    public func loss(_ batch: Batch) -> Float {
        validate(batch)
        return runSplit(batch, gradients: false)
    }

    /// `run` over the whole batch, split by sequences among min(threads, sequences) workers when
    /// there are several. One worker per thread and sequence group scales where splitting every
    /// operation among the threads did not (at width 128, 1.2× on two threads: a step is hundreds
    /// of small GEMMs, norms and elementwise passes, each with its own fork and join).
    private func runSplit(_ batch: Batch, gradients: Bool) -> Float {
        let workers = min(threads, batch.count)
        gradientSquares = Array(repeating: nil, count: grads.count)
        guard workers > 1 else {
            // One thread: each weight gradient's chunk sums of squares while it is still in cache.
            recordsGradientSquares = gradients && threads == 1
            defer { recordsGradientSquares = false }
            return run(batch, gradients: gradients)
        }
        while replicas.count < workers { replicas.append(TrainableModel(replicaOf: self, sharingGradients: replicas.isEmpty)) }
        let N = batch.tokenCount, T = batch.length
        var parts: [(replica: TrainableModel, batch: Batch)] = []
        for w in 0..<workers {
            let r = replicas[w]
            r.packed = packed
            r.dequantized = dequantized
            r.threads = threads / workers + (w < threads % workers ? 1 : 0)
            let from = batch.count * w / workers * T, to = batch.count * (w + 1) / workers * T
            parts.append((r, Batch(count: (to - from) / T, length: T, inputs: Array(batch.inputs[from..<to]),
                                   targets: Array(batch.targets[from..<to]))))
        }
        var losses = [Float](repeating: 0, count: workers)
        losses.withUnsafeMutableBufferPointer { lp in
            nonisolated(unsafe) let lp = lp
            parallelFor(workers, threads: workers) { w in lp[w] = parts[w].replica.run(parts[w].batch, gradients: gradients, normalizer: N) }
        }
        defer {
            // The workers keep no matrices between calls (the next call hands them the current ones).
            for r in replicas { r.packed = [:]; r.dequantized = [:] }
            if replicas.count > workers { replicas.removeLast(replicas.count - workers) }
        }
        if gradients {
            // Every element summed over the workers in worker order — the first worker wrote the
            // model's own gradients, the others' are added to them — tensors cut into chunks shared
            // among the threads: the same sums at any thread split.
            // Each chunk's sums of squares for AdamW's clipping too, while the chunk is in cache: the
            // chunks are two of AdamW's pieces, so their sums are the tensor's piece by piece.
            let square = Self.gradientSquareChunk, chunk = 2 * square
            var pieces: [(tensor: Int, from: Int)] = []
            for i in grads.indices { for from in stride(from: 0, to: grads[i].count, by: chunk) { pieces.append((i, from)) } }
            let sources = replicas[1..<workers].map(\.grads)
            let squares = grads.map { UnsafeMutablePointer<Double>.allocate(capacity: ($0.count + square - 1) / square) }
            defer { squares.forEach { $0.deallocate() } }
            parallelFor(pieces.count, threads: threads) { k in
                let (i, from) = pieces[k], to = min(from + chunk, grads[i].count)
                let out = grads[i].p
                for s in sources {
                    let g = s[i].p
                    for j in from..<to { out[j] += g[j] }
                }
                for (j, sum) in squareSums(out + from, count: to - from).enumerated() { squares[i][from / square + j] = sum }
            }
            for i in grads.indices { gradientSquares[i] = Array(UnsafeBufferPointer(start: squares[i], count: (grads[i].count + square - 1) / square)) }
        }
        return losses.reduce(0, +)
    }

    /// Σ g² of each `gradientSquareChunk`-value chunk of a gradient, in order (the kernel's sums,
    /// as AdamW sums its clipping pieces).
    func squareSums(_ g: UnsafePointer<Float>, count: Int) -> [Double] {
        let square = Self.gradientSquareChunk
        return stride(from: 0, to: count, by: square).map { Kernels.default.sumOfSquares(g + $0, count: min($0 + square, count) - $0) }
    }

    /// Logits (tokens × vocabulary) of one sequence at positions 0 ..< tokens.count.
    public func logits(_ tokens: [Int]) -> [Float] {
        let batch = Batch(windows: [tokens.map(Int32.init) + [0]])
        validate(batch)
        let out = Buffer(tokens.count * configuration.vocabularySize)
        _ = run(batch, gradients: false, logitsOut: out)
        return out.array
    }

    /// The residual stream of one sequence: [0] the embedding rows, [i] the output of layer i
    /// (tokens × width each), as `BitNetModel.residualStream` reports it.
    public func hiddenStates(_ tokens: [Int]) -> [[Float]] {
        let batch = Batch(windows: [tokens.map(Int32.init) + [0]])
        validate(batch)
        var states: [[Float]] = []
        let n = tokens.count * configuration.width
        _ = run(batch, gradients: false, hidden: { _, p in states.append(Array(UnsafeBufferPointer(start: p, count: n))) },
                logitsOut: Buffer(tokens.count * configuration.vocabularySize))
        return states
    }

    /// The embedding matrix (vocabulary × width, row-major).
    public var embeddingMatrix: [Float] { weights[0].array }

    private func validate(_ batch: Batch) {
        let v = configuration.vocabularySize
        precondition(batch.inputs.allSatisfy { $0 >= 0 && Int($0) < v } && batch.targets.allSatisfy { $0 >= 0 && Int($0) < v },
                     "batch: token ids must be in 0..<\(v)")
    }
}
