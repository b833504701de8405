import BitKernels
@testable import BitNet
import Foundation
import Testing

/// Prompt attention through GEMMs (`promptAttention`, called directly: `attention` takes it only
/// where OpenBLAS has kernels for the CPU) against the definition in double, and its independence
/// from the thread count, on the fixture's layer shape (8 query heads over 2 kv heads,
/// head dimension 32) with a cache prefix and more queries than one GEMM block.
@Suite struct PromptAttentionTests {
    static func values(_ n: Int, _ rng: inout SplitMix64) -> [Float] {
        (0..<n).map { _ in Float(Int(rng.next() % 20001) - 10000) / 2500 }
    }

    @Test(arguments: [(16, 0), (40, 7), (DecoderLayer.queryBlock + 37, 20)])
    func promptAttentionMatchesTheDefinition(tokens: Int, start: Int) throws {
        let layer = Fixture.safetensors.layers[0]
        let heads = layer.heads, kvHeads = layer.kvHeads, d = layer.headDimension, group = heads / kvHeads
        let kvWidth = kvHeads * d, qWidth = heads * d, positions = start + tokens
        var rng = SplitMix64(seed: UInt64(tokens * 1000 + start))
        let q = Self.values(tokens * qWidth, &rng), k = Self.values(positions * kvWidth, &rng), v = Self.values(positions * kvWidth, &rng)
        let rows = (position: kvWidth, head: d)  // position-major: each position's kv heads side by side
        let got = layer.promptAttention(q, tokens: tokens, start: start, keys: k, values: v, strides: rows, threads: 1, kernels: .default)
        let scale = 1 / Double(d).squareRoot()
        var worst = 0.0
        for t in 0..<tokens {
            for h in 0..<heads {
                let kvh = h / group, visible = start + t + 1
                let s = (0..<visible).map { p in (0..<d).reduce(0.0) { $0 + Double(q[t * qWidth + h * d + $1]) * Double(k[p * kvWidth + kvh * d + $1]) } * scale }
                let best = s.max()!, e = s.map { Foundation.exp($0 - best) }, total = e.reduce(0, +)
                for i in 0..<d {
                    let want = (0..<visible).reduce(0.0) { $0 + e[$1] / total * Double(v[$1 * kvWidth + kvh * d + i]) }
                    worst = max(worst, abs(Double(got[t * qWidth + h * d + i]) - want))
                }
            }
        }
        #expect(worst < 2e-5, "max |difference| from the definition \(worst)")
        for threads in [2, 3] {
            let again = layer.promptAttention(q, tokens: tokens, start: start, keys: k, values: v, strides: rows, threads: threads, kernels: .default)
            #expect(again.map(\.bitPattern) == got.map(\.bitPattern), "\(threads) threads")
        }
        // The cache's layout (kv head by kv head, `positions` rows each) gives the same bits, by
        // GEMM (the prompt) and by the decoding kernel (tokens one at a time).
        func headMajor(_ x: [Float]) -> [Float] {
            var out: [Float] = []
            for j in 0..<kvHeads {
                for p in 0..<positions {
                    let from: Int = p * kvWidth + j * d
                    out += x[from..<(from + d)]
                }
            }
            return out
        }
        let blocks = (position: d, head: positions * d)
        let byHead = layer.promptAttention(q, tokens: tokens, start: start, keys: headMajor(k), values: headMajor(v), strides: blocks,
                                           threads: 2, kernels: .default)
        #expect(byHead.map(\.bitPattern) == got.map(\.bitPattern), "kv-head-major layout")
        for t in [0, tokens - 1] {
            let query = Array(q[(t * qWidth)..<((t + 1) * qWidth)])
            let a = layer.attention(query, tokens: 1, start: start + t, keys: k, values: v, strides: rows, threads: 1)
            let b = layer.attention(query, tokens: 1, start: start + t, keys: headMajor(k), values: headMajor(v), strides: blocks, threads: 2)
            #expect(a.map(\.bitPattern) == b.map(\.bitPattern), "decoding token \(t): both layouts, 1 and 2 threads")
            #expect(zip(a, got[(t * qWidth)..<((t + 1) * qWidth)]).allSatisfy { abs($0 - $1) < 2e-5 }, "decoding token \(t) vs the prompt's")
        }
    }
}
