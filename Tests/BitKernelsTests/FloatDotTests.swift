import BitKernels
import CBitKernels
import Testing

/// bf16 and int8 row products: every variant bit-identical to the scalar reference (they follow
/// one summation order), and the reference within float error of a float64 dot product.
@Suite struct FloatDotTests {
    static let lengths = Array(0...40) + [63, 64, 65, 255, 256, 257, 2560, 2563]

    @Test(arguments: ISA.supported)
    func bf16AndInt8DotsMatchReference(isa: ISA) {
        let k = table(isa)
        var rng = SplitMix64(seed: 17)
        for n in Self.lengths {
            for rows in [1, 3, 4, 5, 9] {
                let stride = n + Int(rng.next() % 3)
                // bf16 of random floats in [-2, 2); int8 anything
                let bf: [UInt16] = (0..<(rows * stride)).map { _ in
                    let v = Float(Double(rng.next() % 4000) / 1000 - 2)
                    return UInt16(v.bitPattern >> 16)
                }
                let w8 = (0..<(rows * stride)).map { _ in Int8(truncatingIfNeeded: rng.next()) }
                let x = (0..<n).map { _ in Float(Double(rng.next() % 2000) / 1000 - 1) }
                var fast = [Float](repeating: .nan, count: rows), ref = fast
                k.pointee.bf16_dots(bf, stride, n, rows, x, &fast)
                reference.pointee.bf16_dots(bf, stride, n, rows, x, &ref)
                #expect(fast.map(\.bitPattern) == ref.map(\.bitPattern), "bf16 isa \(isa) n \(n) rows \(rows)")
                for r in 0..<rows {
                    let exact = (0..<n).reduce(0.0) { $0 + Double(bk_bf16_to_f32(bf[r * stride + $1])) * Double(x[$1]) }
                    #expect(abs(Double(ref[r]) - exact) <= 1e-5 * Double(max(n, 1)), "bf16 reference n \(n)")
                }
                k.pointee.i8_dots(w8, stride, n, rows, x, &fast)
                reference.pointee.i8_dots(w8, stride, n, rows, x, &ref)
                #expect(fast.map(\.bitPattern) == ref.map(\.bitPattern), "int8 isa \(isa) n \(n) rows \(rows)")
            }
        }
    }
}
