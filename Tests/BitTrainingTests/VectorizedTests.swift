import BitKernels
@testable import BitTraining
import Foundation
import Testing

/// The Swift-side vectorized loops of a training step against references in double (the
/// element-wise kernels are tested in BitKernelsTests' TrainingKernelTests).
@Suite struct VectorizedTests {
    @Test func dotMatchesDoubleReference() {
        var generator = SplitMix64(seed: 3)
        for n in [0, 1, 7, 8, 15, 16, 17, 100, 344] {
            let a = (0..<n).map { _ in Float(Int(generator.next() % 2001) - 1000) / 997 }
            let b = (0..<n).map { _ in Float(Int(generator.next() % 2001) - 1000) / 991 }
            let d = a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in dot(ap.baseAddress!, bp.baseAddress!, count: n) } }
            let refDot = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let size = zip(a, b).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) }
            #expect(abs(Double(d) - refDot) <= 1e-6 * max(size, 1), "dot, n = \(n): \(d) vs \(refDot)")
        }
    }
}
