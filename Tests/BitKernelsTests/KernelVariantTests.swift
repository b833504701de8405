import BitKernels
import Testing

/// Every optimized variant against the scalar reference, bit-exactly, on random and edge shapes.
@Suite struct KernelVariantTests {
    @Test(arguments: optimizedISAs, edgeWordCounts)
    func popcountMatchesReference(isa: ISA, words: Int) {
        let k = table(isa)
        var rng = SplitMix64(seed: UInt64(words) &* 31 &+ 1)
        for density in [0.5, 0.02, 0.98] {
            let buffer = randomWords(words + 3, density: density, rng: &rng)
            buffer.withUnsafeBufferPointer { b in
                for offset in 0..<4 where offset + words <= buffer.count {  // every start alignment
                    let start = b.baseAddress! + offset
                    #expect(k.popcount(start, count: words) == reference.popcount(start, count: words),
                            "isa \(isa) words \(words) offset \(offset) density \(density)")
                }
            }
        }
        let ones = [UInt64](repeating: ~0, count: words), zeros = [UInt64](repeating: 0, count: words)
        #expect(k.popcount(ones, count: words) == UInt64(64 * words))
        #expect(k.popcount(zeros, count: words) == 0)
    }

    @Test(arguments: optimizedISAs, edgeWordCounts)
    func pairCountsMatchReference(isa: ISA, words: Int) {
        let k = table(isa)
        var rng = SplitMix64(seed: UInt64(words) &* 77 &+ 5)
        for (da, db) in [(0.5, 0.5), (0.03, 0.9), (0.97, 0.97)] {
            let a = randomWords(words + 1, density: da, rng: &rng), b = randomWords(words + 2, density: db, rng: &rng)
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    for (oa, ob) in [(0, 0), (1, 0), (0, 1), (1, 2)] {
                        let fast = k.pairCounts(pa.baseAddress! + oa, pb.baseAddress! + ob, count: words)
                        let ref = reference.pairCounts(pa.baseAddress! + oa, pb.baseAddress! + ob, count: words)
                        #expect(fast == ref,
                                "isa \(isa) words \(words) offsets \(oa),\(ob): \(fast) vs \(ref)")
                    }
                }
            }
        }
    }

    @Test(arguments: optimizedISAs, [0, 1, 7, 1000])
    func rowCountsMatchReference(isa: ISA, rows: Int) {
        let k = table(isa)
        var rng = SplitMix64(seed: UInt64(rows) &+ 11)
        // Long rows too: AVX-512 keeps the query in V = 4…16 registers for rows of 32 … 128 words
        // (one copy per V, rows of 8·(V−1) + 1 … 8·V words; each V = 5…16 is run with a full and a
        // one-bit last vector, V = 4 only ever sees 32 words), beyond that a two-accumulator loop of
        // 16 words a step with tails of 1–15 words.
        let registerQueryWidths = (4...16).flatMap { v in [512 * v, 512 * (v - 1) + 1] }
        let widths = (rows == 1000 ? edgeWidths.filter { $0 % 7 == 0 || $0 > 128 } : edgeWidths)
            + registerQueryWidths + [2560, 4097, 6912, 6913, 8193, 16_449]
        for width in widths {
            let words = (width + 63) / 64
            for (strideExtra, offset) in [(0, 0), (1, 1), (3, 2)] {
                let stride = words + strideExtra
                let buffer = randomRows(width: width, rows: rows, stride: stride, offset: offset, rng: &rng)
                var query = randomRows(width: width, rows: 1, stride: words, offset: 1, rng: &rng)
                query.append(0xdead_beef)  // a neighbour the kernels must not read
                var fast = [UInt32](repeating: 7, count: rows), ref = [UInt32](repeating: 9, count: rows)
                buffer.withUnsafeBufferPointer { b in
                    query.withUnsafeBufferPointer { q in
                        let start = b.baseAddress! + offset, qs = q.baseAddress! + 1
                        k.andCounts(query: qs, rows: start, strideWords: stride, wordCount: words, rowCount: rows, into: &fast)
                        reference.andCounts(query: qs, rows: start, strideWords: stride, wordCount: words, rowCount: rows, into: &ref)
                        #expect(fast == ref, "and_counts isa \(isa) width \(width) rows \(rows) stride \(stride)")
                        k.rowPopcounts(rows: start, strideWords: stride, wordCount: words, rowCount: rows, into: &fast)
                        reference.rowPopcounts(rows: start, strideWords: stride, wordCount: words, rowCount: rows, into: &ref)
                        #expect(fast == ref, "row_popcounts isa \(isa) width \(width) rows \(rows) stride \(stride)")
                    }
                }
            }
        }
    }

    @Test(arguments: optimizedISAs, edgeWordCounts)
    func maskedFlipMatchesReference(isa: ISA, words: Int) {
        var rng = SplitMix64(seed: UInt64(words) &+ 3)
        let target = randomWords(words, rng: &rng), mask = randomWords(words, density: 0.1, rng: &rng)
        let start = randomWords(words + 1, rng: &rng)
        var fast = start, ref = start
        fast.withUnsafeMutableBufferPointer { f in
            table(isa).maskedFlip(f.baseAddress! + 1, toward: target, where: mask, count: words)
        }
        ref.withUnsafeMutableBufferPointer { r in
            reference.maskedFlip(r.baseAddress! + 1, toward: target, where: mask, count: words)
        }
        #expect(fast == ref)
        #expect(fast[0] == start[0], "the word before the buffer must not change")
        // Known answer: the definition, word by word.
        for i in 0..<words { #expect(ref[i + 1] == start[i + 1] ^ ((target[i] ^ start[i + 1]) & mask[i])) }
    }

    @Test(arguments: optimizedISAs, [0, 1, 2, 3, 4, 5, 13, 16, 17, 100])
    func randomBitsMatchReference(isa: ISA, words: Int) {
        for threshold: UInt32 in [0, 1, 6554, 32768, 49152, 65535, 65536] {
            var rngFast = BitMask(seed: 1234), rngRef = BitMask(seed: 1234)
            // Two calls in a row: the generator state must advance identically too.
            for call in 0..<2 {
                var fast = [UInt64](repeating: 0x5555, count: words + 1)
                var ref = [UInt64](repeating: 0x5555, count: words + 1)
                table(isa).randomBits(&rngFast, into: &fast, count: words, threshold: threshold)
                reference.randomBits(&rngRef, into: &ref, count: words, threshold: threshold)
                #expect(fast == ref, "isa \(isa) words \(words) threshold \(threshold) call \(call)")
                #expect(fast[words] == 0x5555, "random_bits wrote past the end")
            }
        }
    }
}
