@testable import BitKernels
import Foundation
import Testing

/// The training step's element-wise kernels (training.c): every
/// variant against the scalar reference bit for bit, and the reference against the definitions.
@Suite struct TrainingKernelTests {
    static let counts = [0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 344, 1000]

    static func values(_ n: Int, _ rng: inout SplitMix64, scale: Float = 1) -> [Float] {
        (0..<n).map { _ in scale * (Float(Int(rng.next() % 20001) - 10000) / 5000) }
    }

    static func bits(_ x: [Float]) -> [UInt32] { x.map(\.bitPattern) }

    static func step(factor: Float = 0.75, decay: Float = 0.9999) -> Kernels.AdamWStep {
        Kernels.AdamWStep(factor: factor, decay: decay, beta1: 0.9, beta2: 0.99, step_size: 1e-3 / 0.271, bias2_root: 0.0597, epsilon: 1e-8)
    }

    @Test(arguments: ISA.supported)
    func variantsMatchTheReferenceBitForBit(isa: ISA) throws {
        let kernels = try Kernels.variant(isa), reference = try Kernels.variant(.scalar)
        var rng = SplitMix64(seed: 23)
        for n in Self.counts {
            let x = Self.values(n, &rng), g = Self.values(n, &rng), u = Self.values(n, &rng)
            #expect(kernels.sumOfSquares(x, count: n).bitPattern == reference.sumOfSquares(x, count: n).bitPattern, "\(isa) sum_squares n \(n)")

            var k = Self.step()
            var w1 = x, m1 = u, v1 = g.map { $0 * $0 }, w2 = w1, m2 = m1, v2 = v1
            kernels.adamWUpdate(weights: &w1, gradients: g, m: &m1, v: &v1, count: n, step: &k)
            reference.adamWUpdate(weights: &w2, gradients: g, m: &m2, v: &v2, count: n, step: &k)
            #expect(Self.bits(w1) == Self.bits(w2) && Self.bits(m1) == Self.bits(m2) && Self.bits(v1) == Self.bits(v2), "\(isa) adamw n \(n)")

            for binary in [false, true] where n > 0 {
                let previous = (0..<n).map { _ in Int8(Int(rng.next() % 3) - 1) }
                var c1 = [Int8](repeating: 9, count: n), c2 = c1, d1 = [Float](repeating: 0, count: n), d2 = d1
                var s1: Float = 0, s2: Float = 0, e1: Float = 0, e2: Float = 0
                let f1 = kernels.requantize(x, count: n, binary: binary, previous: previous, codes: &c1, dequantized: &d1, scale: &s1, centre: &e1)
                let f2 = reference.requantize(x, count: n, binary: binary, previous: previous, codes: &c2, dequantized: &d2, scale: &s2, centre: &e2)
                #expect(f1 == f2 && c1 == c2 && Self.bits(d1) == Self.bits(d2) && s1.bitPattern == s2.bitPattern && e1.bitPattern == e2.bitPattern,
                        "\(isa) requantize n \(n) binary \(binary)")
            }

            var r1 = x, r2 = x
            kernels.reluSquaredTimes(g, u, into: &r1, count: n)
            reference.reluSquaredTimes(g, u, into: &r2, count: n)
            #expect(Self.bits(r1) == Self.bits(r2), "\(isa) relu2_times n \(n)")
            var dg1 = x, du1 = x, dg2 = x, du2 = x
            kernels.reluSquaredBackward(g, u, x, dg: &dg1, du: &du1, count: n)
            reference.reluSquaredBackward(g, u, x, dg: &dg2, du: &du2, count: n)
            #expect(Self.bits(dg1) == Self.bits(dg2) && Self.bits(du1) == Self.bits(du2), "\(isa) relu2_backward n \(n)")

            let q = (0..<n).map { _ in Int8(truncatingIfNeeded: rng.next()) }
            var o1 = x, o2 = x
            kernels.dequantizeToken(q, count: n, scale: 3.7, into: &o1)
            reference.dequantizeToken(q, count: n, scale: 3.7, into: &o2)
            #expect(Self.bits(o1) == Self.bits(o2), "\(isa) dequantize_token n \(n)")

            for last in Set([0, n / 3, n - 1]) where n > 0 {
                var a = x.map { $0 * 20 }, b = a  // differences to −80: the exponential's whole range
                kernels.softmaxRow(&a, last: last, count: n)
                reference.softmaxRow(&b, last: last, count: n)
                #expect(Self.bits(a) == Self.bits(b), "\(isa) softmax_row n \(n) last \(last)")
            }
        }
    }

    /// Decoding attention (bk_attention_decode over the table's attention_token): every variant, at
    /// one and two threads, gives the scalar reference's bits, and the reference is softmax
    /// attention computed in double (GQA: query head h reads kv head h / (heads / kvHeads)).
    @Test(arguments: ISA.supported)
    func decodingAttentionMatchesTheReferenceAndTheDefinition(isa: ISA) throws {
        let kernels = try Kernels.variant(isa), reference = try Kernels.variant(.scalar)
        var rng = SplitMix64(seed: 31)
        for d in [1, 8, 15, 16, 20, 64, 128] {
            for (heads, kvHeads) in [(1, 1), (4, 2), (6, 2), (20, 5)] {
                for positions in [1, 2, 17, 100, 700] where heads * positions * d <= 1 << 21 {
                    // Scores up to ~±80 apart: the exponential's range, and weights below 2⁻⁶⁰ (skipped).
                    let spread: Float = positions == 17 || positions == 700 ? 8 : 1
                    let q = Self.values(heads * d, &rng, scale: spread), keys = Self.values(positions * kvHeads * d, &rng)
                    let values = Self.values(positions * kvHeads * d, &rng), scale = 1 / Float(d).squareRoot()
                    func run(_ k: Kernels, threads: Int) -> [Float] {
                        var scores = [Float](repeating: .nan, count: heads * positions)
                        var out = [Float](repeating: .nan, count: heads * d)
                        k.attentionDecode(q, keys: keys, values: values, positions: positions, heads: heads, kvHeads: kvHeads,
                                          dimension: d, positionStride: kvHeads * d, headStride: d, scale: scale,
                                          scores: &scores, out: &out, threads: threads)
                        return out
                    }
                    let expected = run(reference, threads: 1)
                    let shape = "d \(d) heads \(heads)/\(kvHeads) positions \(positions)"
                    #expect(Self.bits(run(kernels, threads: 1)) == Self.bits(expected), "\(isa) attention \(shape)")
                    #expect(Self.bits(run(kernels, threads: 2)) == Self.bits(expected), "\(isa) attention, 2 threads, \(shape)")
                    guard isa == .scalar else { continue }
                    for h in 0..<heads {
                        let kv = h / (heads / kvHeads)
                        let s = (0..<positions).map { p in
                            (0..<d).reduce(0.0) { $0 + Double(q[h * d + $1]) * Double(keys[(p * kvHeads + kv) * d + $1]) } * Double(scale)
                        }
                        let top = s.max()!, e = s.map { Foundation.exp($0 - top) }, total = e.reduce(0, +)
                        for i in 0..<d {
                            let want = (0..<positions).reduce(0.0) { $0 + e[$1] / total * Double(values[($1 * kvHeads + kv) * d + i]) }
                            #expect(abs(Double(expected[h * d + i]) - want) < 1e-5, "\(shape) head \(h) [\(i)]: \(expected[h * d + i]) vs \(want)")
                        }
                    }
                }
            }
        }
    }

    @Test(arguments: ISA.supported)
    func ropeRotationMatchesTheReferenceAndTheDefinition(isa: ISA) throws {
        let kernels = try Kernels.variant(isa), reference = try Kernels.variant(.scalar)
        var rng = SplitMix64(seed: 29)
        for d in [2, 6, 30, 32, 34, 64, 66, 128] {
            for heads in [1, 3] {
                let x = Self.values(heads * d, &rng), half = d / 2
                let angles = (0..<half).map { _ in Float(rng.next() % 10000) / 1000 }
                let cos = angles.map { Foundation.cos($0) }, sin = angles.map { Foundation.sin($0) }
                for inverse in [false, true] {
                    var a = x, b = x
                    kernels.ropeRotate(&a, heads: heads, dimension: d, cos: cos, sin: sin, inverse: inverse)
                    reference.ropeRotate(&b, heads: heads, dimension: d, cos: cos, sin: sin, inverse: inverse)
                    #expect(Self.bits(a) == Self.bits(b), "\(isa) rope_rotate d \(d) heads \(heads) inverse \(inverse)")
                    for h in 0..<heads {
                        for i in 0..<half {
                            let p = h * d + i, q = p + half, s = inverse ? -sin[i] : sin[i]
                            #expect(b[p] == x[p] * cos[i] - x[q] * s && b[q] == x[q] * cos[i] + x[p] * s, "d \(d) head \(h) [\(i)]")
                        }
                    }
                }
                var c = x
                kernels.ropeRotate(&c, heads: heads, dimension: d, cos: cos, sin: sin, inverse: false)
                kernels.ropeRotate(&c, heads: heads, dimension: d, cos: cos, sin: sin, inverse: true)
                #expect(zip(c, x).allSatisfy { abs($0 - $1) <= 1e-5 }, "d \(d): the inverse rotation undoes the rotation")
            }
        }
    }

    @Test func softmaxRowMatchesTheDefinition() throws {
        let kernels = try Kernels.variant(.scalar)
        var rng = SplitMix64(seed: 7)
        for count in [1, 5, 8, 9, 16, 17, 33, 64, 70] {
            for last in Set([0, count / 2, count - 1]) {
                let values = (0..<count).map { _ in Float(Int(rng.next() % 2001) - 1000) / 100 }
                var row = values
                kernels.softmaxRow(&row, last: last, count: count)
                let best = values[0...last].max()!
                let e = values[0...last].map { Foundation.exp(Double($0 - best)) }
                let total = e.reduce(0, +)
                for j in 0..<count {
                    let expected = j <= last ? e[j] / total : 0
                    #expect(abs(Double(row[j]) - expected) <= 1e-6 * max(expected, 1e-30) + 1e-12,
                            "count \(count) last \(last) [\(j)]: \(row[j]) vs \(expected)")
                }
            }
        }
        // Far below the range: the exponential is a tiny non-negative value, never NaN or infinite.
        var far: [Float] = [0, -1e4, -1e30, -.infinity, 0, -200, -90, -88, -87]
        kernels.softmaxRow(&far, last: far.count - 1, count: far.count)
        #expect(far.allSatisfy { $0.isFinite && $0 >= 0 } && abs(far[0] - 0.5) < 1e-6 && abs(far[4] - 0.5) < 1e-6)
    }

    @Test func elementwiseKernelsMatchTheDefinitions() throws {
        let kernels = try Kernels.variant(.scalar)
        var rng = SplitMix64(seed: 11)
        let n = 333
        let x = Self.values(n, &rng), g = Self.values(n, &rng), u = Self.values(n, &rng)
        let squares = x.reduce(0.0) { $0 + Double($1) * Double($1) }
        #expect(abs(kernels.sumOfSquares(x, count: n) - squares) <= 1e-12 * squares)

        // AdamW in double from the same state.
        var k = Self.step()
        var w = x, m = u, v = g.map { $0 * $0 }
        kernels.adamWUpdate(weights: &w, gradients: g, m: &m, v: &v, count: n, step: &k)
        for i in 0..<n {
            let gi = Double(g[i]) * Double(k.factor)
            let mi = Double(u[i]) + (gi - Double(u[i])) * (1 - Double(k.beta1))
            let vi = Double(g[i] * g[i]) * Double(k.beta2) + (1 - Double(k.beta2)) * gi * gi
            let wi = Double(x[i]) * Double(k.decay) - Double(k.step_size) * mi / (vi.squareRoot() / Double(k.bias2_root) + Double(k.epsilon))
            #expect(abs(Double(m[i]) - mi) <= 1e-6 * max(abs(mi), 1e-3) && abs(Double(v[i]) - vi) <= 1e-6 * max(vi, 1e-6), "moments [\(i)]")
            #expect(abs(Double(w[i]) - wi) <= 1e-5 * max(abs(wi), 1e-2), "adamw [\(i)]: \(w[i]) vs \(wi)")
        }

        // Re-quantization: the scale is mean |w| (at least 1e-5), the codes follow the rule with it.
        let mean = x.reduce(0.0) { $0 + abs(Double($1)) } / Double(n), centreExact = x.reduce(0.0) { $0 + Double($1) } / Double(n)
        for binary in [false, true] {
            let previous = [Int8](repeating: 1, count: n)
            var codes = [Int8](repeating: 0, count: n), dq = [Float](repeating: 0, count: n), scale: Float = 0, centre: Float = 0
            let flips = kernels.requantize(x, count: n, binary: binary, previous: previous, codes: &codes, dequantized: &dq, scale: &scale, centre: &centre)
            #expect(abs(Double(scale) - mean) <= 1e-6 * mean)
            #expect(binary ? abs(Double(centre) - centreExact) <= 1e-6 : centre == 0)
            let want: [Int8] = x.map { xi in
                if binary { return xi >= centre ? 1 : -1 }
                let s = xi * (1 / scale)
                return s > 0.5 ? 1 : s < -0.5 ? -1 : 0
            }
            #expect(codes == want && dq == want.map { Float($0) * scale }, "binary \(binary)")
            #expect(flips == want.filter { $0 != 1 }.count)
            #expect(Set(codes) == (binary ? [-1, 1] : [-1, 0, 1]))
        }
        var tiny: [Float] = [0, 0, 0], codes = [Int8](repeating: 5, count: 3), dq = tiny, scale: Float = 0, centre: Float = 0
        _ = kernels.requantize(&tiny, count: 3, binary: false, previous: nil, codes: &codes, dequantized: &dq, scale: &scale, centre: &centre)
        #expect(scale == 1e-5 && codes == [0, 0, 0])

        var out = [Float](repeating: 0, count: n), du = out, dg = out
        kernels.reluSquaredTimes(g, u, into: &out, count: n)
        kernels.reluSquaredBackward(g, u, x, dg: &dg, du: &du, count: n)
        for i in 0..<n {
            let r = max(g[i], 0)
            #expect(out[i] == r * r * u[i] && du[i] == x[i] * r * r && dg[i] == x[i] * u[i] * 2 * r, "relu² [\(i)]")
        }
        let q: [Int8] = [-128, -1, 0, 1, 127] + (0..<20).map { Int8($0) }
        kernels.dequantizeToken(q, count: q.count, scale: 12.5, into: &out)
        #expect(Array(out[0..<q.count]) == q.map { Float($0) / 12.5 })
    }
}
