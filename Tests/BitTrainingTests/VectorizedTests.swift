import BitKernels
@testable import BitTraining
import Foundation
import Testing

/// The vectorized loops of a training step against one-at-a-time references in double.
@Suite struct VectorizedTests {
    @Test func exponentialIsWithinTwoUlpOfExpf() {
        var worst: Float = 0
        var x: Float = -87
        while x <= 0 {
            let lanes = SIMD8<Float>((0..<8).map { x + Float($0) * 1e-3 })
            let e = expNonPositive(lanes)
            for i in 0..<8 {
                let reference = Foundation.exp(lanes[i])
                worst = max(worst, abs(e[i] - reference) / reference.ulp)
            }
            x += 0.0137
        }
        #expect(worst <= 2, "expNonPositive is \(worst) ulp from expf")
        let far = expNonPositive(SIMD8<Float>(repeating: -1e4))
        #expect(far.max() < 1e-37 && far.min() >= 0)
    }

    @Test func softmaxRowMatchesDoubleReference() {
        var generator = SplitMix64(seed: 7)
        for count in [1, 5, 8, 9, 16, 17, 33, 64, 70] {
            for last in Set([0, count / 2, count - 1]) {
                let values = (0..<count).map { _ in Float(Int(generator.next() % 2001) - 1000) / 100 }
                var row = values
                row.withUnsafeMutableBufferPointer { softmaxRow($0.baseAddress!, last: last, count: count) }
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
    }

    @Test func dotAndSumOfSquaresMatchDoubleReference() {
        var generator = SplitMix64(seed: 3)
        for n in [0, 1, 7, 8, 15, 16, 17, 100, 344] {
            let a = (0..<n).map { _ in Float(Int(generator.next() % 2001) - 1000) / 997 }
            let b = (0..<n).map { _ in Float(Int(generator.next() % 2001) - 1000) / 991 }
            let d = a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in dot(ap.baseAddress!, bp.baseAddress!, count: n) } }
            let s = a.withUnsafeBufferPointer { sumOfSquares($0.baseAddress!, count: n) }
            let refDot = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let refSquares = a.reduce(0.0) { $0 + Double($1) * Double($1) }
            let size = zip(a, b).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) }
            #expect(abs(Double(d) - refDot) <= 1e-6 * max(size, 1), "dot, n = \(n): \(d) vs \(refDot)")
            #expect(abs(s - refSquares) <= 1e-12 * max(refSquares, 1), "sum of squares, n = \(n)")
        }
    }
}
