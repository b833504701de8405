@testable import BitKernels
import Foundation
import Testing

/// RMSNorm and its gradients (training.c): every variant against the scalar reference bit for bit,
/// and the reference against the definition in double.
@Suite struct RMSNormKernelTests {
    static let counts = [1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 64, 128, 129, 344, 1000]

    static func values(_ n: Int, _ rng: inout SplitMix64, scale: Float = 1) -> [Float] {
        (0..<n).map { _ in scale * (Float(Int(rng.next() % 20001) - 10000) / 5000) }
    }

    @Test(arguments: ISA.supported)
    func variantsMatchTheReferenceBitForBit(isa: ISA) throws {
        let kernels = try Kernels.variant(isa), reference = try Kernels.variant(.scalar)
        var rng = SplitMix64(seed: 17)
        for n in Self.counts {
            let x = Self.values(n, &rng), w = Self.values(n, &rng), g = Self.values(n, &rng, scale: 0.01), base = Self.values(n, &rng)
            var y = [Float](repeating: 0, count: n), yRef = y
            let r = kernels.rmsNorm(x, weight: w, count: n, epsilon: 1e-5, into: &y)
            let rRef = reference.rmsNorm(x, weight: w, count: n, epsilon: 1e-5, into: &yRef)
            #expect(r.bitPattern == rRef.bitPattern && y.map(\.bitPattern) == yRef.map(\.bitPattern), "\(isa) rmsnorm n \(n)")
            for accumulate in [false, true] {
                var dx = base, dxRef = base
                kernels.rmsNormBackward(x, weight: w, upstream: g, r: r, count: n, accumulate: accumulate, into: &dx)
                reference.rmsNormBackward(x, weight: w, upstream: g, r: r, count: n, accumulate: accumulate, into: &dxRef)
                #expect(dx.map(\.bitPattern) == dxRef.map(\.bitPattern), "\(isa) backward n \(n) accumulate \(accumulate)")
            }
            let tokens = 5, stride = n + 3
            let xs = Self.values(tokens * stride, &rng), gs = Self.values(tokens * stride, &rng), rs = Self.values(tokens, &rng)
            var acc = (0..<n).map { Double($0) }, accRef = acc
            kernels.rmsNormWeightSums(xs, upstream: gs, stride: stride, r: rs, tokens: tokens, width: n, into: &acc)
            reference.rmsNormWeightSums(xs, upstream: gs, stride: stride, r: rs, tokens: tokens, width: n, into: &accRef)
            #expect(acc.map(\.bitPattern) == accRef.map(\.bitPattern), "\(isa) weight sums n \(n)")
        }
    }

    @Test func referenceMatchesTheDefinition() throws {
        let kernels = try Kernels.variant(.scalar)
        var rng = SplitMix64(seed: 5)
        for n in Self.counts {
            let x = Self.values(n, &rng), w = Self.values(n, &rng), g = Self.values(n, &rng)
            var y = [Float](repeating: 0, count: n), dx = [Float](repeating: 7, count: n)
            let r = kernels.rmsNorm(x, weight: w, count: n, epsilon: 1e-5, into: &y)
            let ss = x.reduce(0.0) { $0 + Double($1) * Double($1) }
            let rExact = 1 / (ss / Double(n) + 1e-5).squareRoot()
            #expect(abs(Double(r) - rExact) <= 1e-6 * rExact, "r, n \(n)")
            for i in 0..<n {
                let want: Double = Double(w[i]) * Double(x[i]) * rExact
                #expect(abs(Double(y[i]) - want) <= 1e-5 * max(1, abs(want)), "y[\(i)], n \(n)")
            }
            kernels.rmsNormBackward(x, weight: w, upstream: g, r: r, count: n, accumulate: false, into: &dx)
            let rd = Double(r)
            var sum = 0.0
            for i in 0..<n {
                let wg: Double = Double(w[i]) * Double(g[i])
                sum += wg * (Double(x[i]) * rd)
            }
            let m = sum / Double(n)
            for i in 0..<n {
                let wg: Double = Double(w[i]) * Double(g[i])
                let want: Double = rd * (wg - Double(x[i]) * rd * m)
                #expect(abs(Double(dx[i]) - want) <= 1e-4 * max(1, abs(want)), "dx[\(i)], n \(n): \(dx[i]) vs \(want)")
            }
        }
    }
}
