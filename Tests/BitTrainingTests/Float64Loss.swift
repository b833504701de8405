import BitTraining
import Foundation

/// The float model's mean cross-entropy in float64: the finite-difference check's own forward pass
/// (plain loops, no BLAS, no float32 anywhere), the same architecture as `TrainableModel` with
/// `.float` — embedding, RMSNorm, q/k/v/o with the attention sub-norm, half-split RoPE, GQA,
/// ReLU²-gated MLP with its sub-norm, final norm, untied head.
struct Float64Loss {
    let configuration: ModelConfiguration

    func callAsFunction(_ weights: [String: [Double]], _ batch: Batch) -> Double {
        let c = configuration, H = c.width, F = c.mlpHidden, d = c.headDimension, heads = c.heads, kvh = c.kvHeads
        let group = heads / kvh, T = batch.length, N = batch.tokenCount, eps = Double(c.epsilon), half = d / 2
        func w(_ name: String) -> [Double] { weights[name]! }
        func matmul(_ x: [Double], _ name: String, out rows: Int, in columns: Int) -> [Double] {
            let m = w(name)
            var y = [Double](repeating: 0, count: N * rows)
            for t in 0..<N {
                for r in 0..<rows {
                    var s = 0.0
                    for k in 0..<columns { s += x[t * columns + k] * m[r * columns + k] }
                    y[t * rows + r] = s
                }
            }
            return y
        }
        func norm(_ x: [Double], _ name: String, width n: Int) -> [Double] {
            let g = w(name)
            var y = x
            for t in 0..<N {
                var s = 0.0
                for i in 0..<n { s += x[t * n + i] * x[t * n + i] }
                let r = 1 / (s / Double(n) + eps).squareRoot()
                for i in 0..<n { y[t * n + i] = g[i] * x[t * n + i] * r }
            }
            return y
        }
        func rope(_ x: inout [Double], heads: Int) {
            for t in 0..<N {
                let pos = Double(t % T)
                for h in 0..<heads {
                    for i in 0..<half {
                        let angle = pos / Foundation.pow(c.ropeTheta, Double(2 * i) / Double(d))
                        let a = (t * heads + h) * d + i, b = a + half
                        let x1 = x[a], x2 = x[b]
                        x[a] = x1 * Foundation.cos(angle) - x2 * Foundation.sin(angle)
                        x[b] = x2 * Foundation.cos(angle) + x1 * Foundation.sin(angle)
                    }
                }
            }
        }
        let emb = w("model.embed_tokens.weight")
        var x = [Double](repeating: 0, count: N * H)
        for t in 0..<N { for i in 0..<H { x[t * H + i] = emb[Int(batch.inputs[t]) * H + i] } }
        for l in 0..<c.layers {
            let p = "model.layers.\(l)."
            let h = norm(x, p + "input_layernorm.weight", width: H)
            var q = matmul(h, p + "self_attn.q_proj.weight", out: heads * d, in: H)
            var k = matmul(h, p + "self_attn.k_proj.weight", out: kvh * d, in: H)
            let v = matmul(h, p + "self_attn.v_proj.weight", out: kvh * d, in: H)
            rope(&q, heads: heads)
            rope(&k, heads: kvh)
            var att = [Double](repeating: 0, count: N * heads * d)
            for b in 0..<batch.count {
                for hd in 0..<heads {
                    let kv = hd / group
                    for i in 0..<T {
                        let qi = ((b * T + i) * heads + hd) * d
                        var scores = [Double](repeating: 0, count: i + 1)
                        for j in 0...i {
                            let kj = ((b * T + j) * kvh + kv) * d
                            var s = 0.0
                            for e in 0..<d { s += q[qi + e] * k[kj + e] }
                            scores[j] = s / Double(d).squareRoot()
                        }
                        let best = scores.max()!
                        let e = scores.map { Foundation.exp($0 - best) }
                        let sum = e.reduce(0, +)
                        for j in 0...i {
                            let vj = ((b * T + j) * kvh + kv) * d
                            for f in 0..<d { att[qi + f] += e[j] / sum * v[vj + f] }
                        }
                    }
                }
            }
            let a = norm(att, p + "self_attn.attn_sub_norm.weight", width: heads * d)
            let o = matmul(a, p + "self_attn.o_proj.weight", out: H, in: heads * d)
            for i in x.indices { x[i] += o[i] }
            let h2 = norm(x, p + "post_attention_layernorm.weight", width: H)
            let g = matmul(h2, p + "mlp.gate_proj.weight", out: F, in: H), u = matmul(h2, p + "mlp.up_proj.weight", out: F, in: H)
            let m = (0..<(N * F)).map { i in max(g[i], 0) * max(g[i], 0) * u[i] }
            let down = matmul(norm(m, p + "mlp.ffn_sub_norm.weight", width: F), p + "mlp.down_proj.weight", out: H, in: F)
            for i in x.indices { x[i] += down[i] }
        }
        let V = c.vocabularySize
        let logits = matmul(norm(x, "model.norm.weight", width: H), "lm_head.weight", out: V, in: H)
        var total = 0.0
        for t in 0..<N {
            let row = logits[(t * V)..<((t + 1) * V)]
            let best = row.max()!
            total += best + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - best) }) - row[t * V + Int(batch.targets[t])]
        }
        return total / Double(N)
    }
}
