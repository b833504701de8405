import BitKernels
import Testing

/// Image encoders: every variant bit-identical to the scalar reference, on random images with many
/// ties, dark images (fewer non-zero pixels than k), saturated images, and lengths around 16/32/64.
@Suite struct EncodeTests {
    @Test(arguments: ISA.supported)
    func encodersMatchReference(isa: ISA) {
        let k = table(isa)
        var rng = SplitMix64(seed: 21)
        for n in Array(0...70) + [127, 128, 129, 783, 784, 785, 1000] {
            let words = (n + 63) / 64
            for style in 0..<4 {
                let image: [UInt8] = (0..<n).map { _ in
                    switch style {
                    case 0: UInt8(truncatingIfNeeded: rng.next())
                    case 1: UInt8(rng.next() % 4) * 85           // 4 levels: many ties
                    case 2: rng.next() % 10 == 0 ? 200 : 0        // mostly dark
                    default: rng.next() % 3 == 0 ? 255 : 254      // saturated
                    }
                }
                for level: UInt8 in [0, 127, 254, 255] {
                    var fast = [UInt64](repeating: ~0, count: words + 1), ref = fast
                    k.encodeThreshold(image, count: n, level: level, into: &fast)
                    reference.encodeThreshold(image, count: n, level: level, into: &ref)
                    #expect(fast == ref, "threshold isa \(isa) n \(n) style \(style) level \(level)")
                }
                for kk in Set([0, 1, n / 7, n / 2, max(n - 1, 0), n]) where kk <= n {
                    var fast = [UInt64](repeating: ~0, count: words + 1), ref = fast
                    k.encodeRank(image, count: n, k: kk, into: &fast)
                    reference.encodeRank(image, count: n, k: kk, into: &ref)
                    #expect(fast == ref, "rank isa \(isa) n \(n) style \(style) k \(kk)")
                    let set = ref.prefix(words).reduce(0) { $0 + $1.nonzeroBitCount }
                    #expect(set == kk, "rank sets exactly k bits")
                }
            }
        }
    }

    /// The public BitVector entry points call the same kernels, in place.
    @Test(arguments: ISA.supported)
    func bitVectorEncodingMatchesTheKernels(isa: ISA) throws {
        let kernels = try Kernels.variant(isa)
        var v = BitVector(width: 4)
        v.encode(pixels: [0, 200, 90, 255], above: 127, using: kernels)
        #expect(v.setBitIndices == [1, 3])
        v.encode(pixels: [0, 200, 90, 255], brightest: 3, using: kernels)
        #expect(v.setBitIndices == [1, 2, 3])
        var rng = SplitMix64(seed: 5)
        for n in [0, 1, 63, 64, 65, 784, 1000] {
            let image = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next() % 7 * 40) }
            var w = BitVector(width: n)
            var words = [UInt64](repeating: 0, count: (n + 63) / 64 + 1)
            w.encode(pixels: image[...], above: 100, using: kernels)
            reference.encodeThreshold(image, count: n, level: 100, into: &words)
            #expect(w.words == Array(words.prefix(w.wordCount)), "threshold n \(n)")
            w.encode(pixels: image[...], brightest: n / 3, using: kernels)
            reference.encodeRank(image, count: n, k: n / 3, into: &words)
            #expect(w.words == Array(words.prefix(w.wordCount)) && w.setBitCount == n / 3, "rank n \(n)")
        }
    }
}
