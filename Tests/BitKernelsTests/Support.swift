import BitKernels

/// The optimized variants this CPU can run (the scalar reference is what they are checked against).
let optimizedISAs: [ISA] = ISA.supported.filter { $0 != .scalar }

/// The scalar reference table.
let reference = try! Kernels.variant(.scalar)

/// The table of a variant this CPU runs (test arguments come from `ISA.supported`).
func table(_ isa: ISA) -> Kernels { try! Kernels.variant(isa) }

/// Random words with a chosen density of set bits (0.5 = uniform); dense and sparse data reach
/// different carry paths in the Harley–Seal adders.
func randomWords(_ count: Int, density: Double = 0.5, rng: inout SplitMix64) -> [UInt64] {
    (0..<count).map { _ in
        if density == 0.5 { return rng.next() }
        var w: UInt64 = 0
        for b in 0..<64 where Double.random(in: 0..<1, using: &rng) < density { w |= 1 << UInt64(b) }
        return w
    }
}

/// A matrix buffer of `rows` rows of `width` bits with `stride` words per row, starting
/// `offset` words into the returned array (to test unaligned starts). Padding bits are zero;
/// words between the row's end and the stride are garbage on purpose (kernels must not read them).
func randomRows(width: Int, rows: Int, stride: Int, offset: Int, rng: inout SplitMix64) -> [UInt64] {
    let words = (width + 63) / 64
    var buffer = (0..<(offset + rows * stride)).map { _ in rng.next() }
    for r in 0..<rows where words > 0 {
        let last = offset + r * stride + words - 1
        if width % 64 != 0 { buffer[last] &= (1 << UInt64(width % 64)) - 1 }
    }
    return buffer
}

/// Widths that cluster around word and vector boundaries, plus odd ones up to 2,100 bits.
let edgeWidths: [Int] = Array(0...130) + [191, 192, 193, 255, 256, 257, 511, 512, 513, 767, 768, 784, 785,
    1023, 1024, 1025, 1983, 1984, 1985, 1999, 2047, 2048, 2049, 2099, 2100]

/// Word counts around 1-, 4-, 8- and 16/32-word vector and block boundaries.
let edgeWordCounts: [Int] = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1000, 4099]
