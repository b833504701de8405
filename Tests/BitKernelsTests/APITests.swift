import BitKernels
import Testing

@Suite struct BitVectorTests {
    @Test func bitsWordsAndKnownCounts() {
        var v = BitVector(width: 70, setBits: [0, 3, 69])
        #expect(v.words == [0b1001, 1 << 5])
        #expect(v.setBitCount == 3)
        #expect(v.setBitIndices == [0, 3, 69])
        v[3] = false
        v[64] = true
        #expect(v.setBitIndices == [0, 64, 69])
        #expect(BitVector([true, false, true]).setBitIndices == [0, 2])
        #expect(BitVector(width: 0).setBitCount == 0)
        let ones = BitVector(width: 2100, setBits: 0..<2100)
        #expect(ones.setBitCount == 2100)
        #expect(ones.words[ones.words.count - 1] == (1 << 52) - 1, "padding bits stay zero")  // not Optional: ASan flags Testing's AnyHashable copy of a UInt64?
    }

    @Test(arguments: ISA.supported)
    func pairCountsKnownAnswers(isa: ISA) throws {
        let k = try Kernels.variant(isa)
        let a = BitVector(width: 8, setBits: [1, 2]), b = BitVector(width: 8, setBits: [2, 3])
        #expect(a.pairCounts(with: b, using: k) == PairCounts(shared: 1, differing: 2, union: 3))
        #expect(a.jaccard(with: b, using: k) == 1.0 / 3.0)
        #expect(BitVector(width: 9).jaccard(with: BitVector(width: 9), using: k) == 1)
        let x = BitVector(width: 1000, setBits: Swift.stride(from: 0, to: 1000, by: 2))
        let y = BitVector(width: 1000, setBits: Swift.stride(from: 0, to: 1000, by: 3))
        // multiples of 2: 500, of 3: 334, of 6: 167
        #expect(x.sharedBits(with: y, using: k) == 167)
        #expect(x.unionBits(with: y, using: k) == 667)
        #expect(x.differingBits(from: y, using: k) == 500)
    }

    @Test func copyOnWrite() {
        let a = BitVector(width: 100, setBits: [5])
        var b = a
        b[6] = true
        #expect(a.setBitIndices == [5])
        #expect(b.setBitIndices == [5, 6])
        #expect(a != b)
        b[6] = false
        #expect(a == b && a.hashValue == b.hashValue)
    }

    @Test(arguments: ISA.supported)
    func flipCopiesTargetBitsUnderMask(isa: ISA) throws {
        let k = try Kernels.variant(isa)
        var cur = BitVector(width: 130, setBits: [0, 64, 129])
        let target = BitVector(width: 130, setBits: [1, 64, 128])
        let mask = BitVector(width: 130, setBits: [0, 1, 128])
        cur.flip(toward: target, where: mask, using: k)
        #expect(cur.setBitIndices == [1, 64, 128, 129])
        #expect(cur.flipped(toward: target, where: BitVector(width: 130, setBits: 0..<130), using: k) == target)
    }

    @Test(arguments: ISA.supported)
    func masksAreSeededAndHaveTheirDensity(isa: ISA) throws {
        let k = try Kernels.variant(isa)
        let a = BitMask.random(width: 100_003, density: 0.1, seed: 42, using: k)
        #expect(a == BitMask.random(width: 100_003, density: 0.1, seed: 42, using: .default), "same bits in every variant")
        #expect(a != BitMask.random(width: 100_003, density: 0.1, seed: 43, using: k))
        // Binomial(100003, 0.1): sd ≈ 95; 6 sd is a bound a correct generator never crosses in practice.
        #expect(abs(a.setBitCount - 10_000) < 570, "density: \(a.setBitCount) of 100003")
        for density in [0.5, 0.9, 0.013] {
            let n = BitMask.random(width: 64_000, density: density, seed: 1, using: k).setBitCount
            let expected = 64_000 * density, sd = (64_000 * density * (1 - density)).squareRoot()
            #expect(abs(Double(n) - expected) < 6 * sd, "density \(density): \(n)")
        }
        #expect(BitMask.random(width: 77, density: 0, seed: 1, using: k).setBitCount == 0)
        #expect(BitMask.random(width: 77, density: 1, seed: 1, using: k).setBitCount == 77, "padding stays clear")
        var gen = BitMask(seed: 9)
        let m1 = gen.next(width: 256, density: 0.5, using: k), m2 = gen.next(width: 256, density: 0.5, using: k)
        #expect(m1 != m2, "a generator advances")
    }

    @Test func widthMismatchIsAPreconditionNamingBothSizes() async {
        await #expect(processExitsWith: .failure) {
            _ = BitVector(width: 10).sharedBits(with: BitVector(width: 11))
        }
        await #expect(processExitsWith: .failure) {
            var m = BitMatrix(width: 10)
            m.append(BitVector(width: 12))
        }
        await #expect(processExitsWith: .failure) {
            _ = BitMatrix(width: 10, zeroRows: 2)[2]
        }
        await #expect(processExitsWith: .failure) {
            _ = BitVector(width: 70, words: [0, 1 << 7])  // a padding bit set
        }
    }
}

@Suite struct BitMatrixTests {
    @Test func appendRemoveReplaceKeepPopcounts() {
        var m = BitMatrix(width: 100)
        for i in 0..<50 { m.append(BitVector(width: 100, setBits: 0...i)) }
        #expect(m.rowCount == 50)
        #expect(m.setBitCount(ofRow: 49) == 50)
        let removed = m.remove(at: 10)
        #expect(removed.setBitCount == 11)
        #expect(m.rowCount == 49 && m.setBitCount(ofRow: 10) == 12 && m[10].setBitCount == 12)
        m[0] = BitVector(width: 100, setBits: [99])
        #expect(m.setBitCount(ofRow: 0) == 1)
        let copy = m
        m.flipRow(0, toward: BitVector(width: 100, setBits: 0..<100), where: BitVector(width: 100, setBits: 0..<10))
        #expect(m.setBitCount(ofRow: 0) == 11 && m[0].setBitCount == 11)
        #expect(copy.setBitCount(ofRow: 0) == 1 && copy[0].setBitIndices == [99], "copy-on-write")
        #expect(m.rows.count == 49)
        // The kept popcounts drive scoring: a winner after flips must match a fresh matrix.
        let fresh = BitMatrix(width: 100, rows: m.rows)
        let q = BitVector(width: 100, setBits: 0..<15)
        #expect(m.winner(for: q, score: .jaccard) == fresh.winner(for: q, score: .jaccard))
        #expect(m == fresh)
    }
}

@Suite struct DispatchTests {
    @Test func forcingAnUnsupportedVariantIsAnErrorNotACrash() {
        for isa in ISA.allCases where !isa.isSupported {
            #expect(throws: BitKernelsError.unsupportedISA(isa)) { try Kernels.variant(isa) }
            #expect(throws: BitKernelsError.invalidOverride(
                "BITKERNELS_ISA=\(isa.rawValue): this CPU (or its OS) cannot run the \(isa.rawValue) variant")) {
                try Kernels.resolve(override: isa.rawValue)
            }
        }
        #expect(throws: BitKernelsError.unknownISA("sse9")) { try Kernels.variant(named: "sse9") }
        #expect(throws: BitKernelsError.invalidOverride("BITKERNELS_ISA=bogus is not a variant; use scalar, avx2, avxvnni, avx512 or neon")) {
            try Kernels.resolve(override: "bogus")
        }
        // On x86-64 NEON can never run; on aarch64 AVX2 never can: one of them is always absent.
        #expect(!(ISA.neon.isSupported && ISA.avx2.isSupported))
    }

    @Test func bestIsTheHighestSupportedUnlessOverridden() throws {
        let expected: ISA = [.avx512, .avxVNNI, .avx2, .neon].first { $0.isSupported } ?? .scalar
        #expect(try Kernels.resolve(override: nil).isa == expected)
        #expect(try Kernels.resolve(override: "").isa == expected)
        #expect(try Kernels.resolve(override: "SCALAR").isa == .scalar)
        #expect(try Kernels.variant(.scalar).isa == .scalar)
        #expect(ISA.supported.contains(try Kernels.best().isa))
    }

    /// `entries` lists every function pointer of the C table, by its C name, with the variant whose
    /// code runs it: each table holds its own variant's code, except avxvnni, which is the AVX2 table
    /// with its own ternary_matmul, and encode_rank_blur, which NEON takes from scalar.
    @Test(arguments: ISA.supported)
    func everyTableEntryIsListed(isa: ISA) throws {
        let entries = try Kernels.variant(isa).entries
        #expect(entries.count == Kernels.tableEntryCount && entries.count == 26)
        #expect(entries.map(\.name) == ["popcount", "pair_counts", "and_counts", "row_popcounts", "masked_flip", "random_bits",
                                        "quantize_token", "ternary_matmul", "bf16_dots", "bf16_dots_tokens", "i8_dots", "encode_threshold", "encode_rank", "encode_rank_blur",
                                        "rmsnorm", "rmsnorm_backward", "rmsnorm_weight_sums", "sum_squares", "adamw_update", "requantize",
                                        "softmax_row", "relu2_times", "relu2_backward", "dequantize_token", "rope_rotate", "attention_token"])
        for e in entries {
            var owner: ISA = isa == .avxVNNI && e.name != "ternary_matmul" ? .avx2 : isa
            if e.name == "encode_rank_blur" && isa == .neon { owner = .scalar }  // no NEON variant
            #expect(e.isa == owner, "\(isa): \(e.name) runs \(e.isa) code")
        }
    }

    @Test func cpuFeaturesAreConsistent() {
        let cpu = CPUFeatures.current
        if ISA.avx2.isSupported { #expect(cpu.has("avx2") && cpu.has("popcnt")) }
        if ISA.avx512.isSupported { #expect(cpu.has("avx512f") && cpu.has("avx512_vpopcntdq")) }
        #expect(ISA.avxVNNI.isSupported == (ISA.avx2.isSupported && cpu.has("avx_vnni")))
        #expect(!cpu.has("no-such-feature"))
    }
}

@Suite struct ReadmeExampleTests {
    /// The README's Swift example, with the values its comments state.
    @Test func readmeExampleHoldsAsDocumented() {
        var a = BitVector(width: 784, setBits: [1, 2, 3, 400])
        let b = BitVector(width: 784, setBits: [2, 3, 4])
        #expect(a.sharedBits(with: b) == 2)
        #expect(a.differingBits(from: b) == 3)
        #expect(a.jaccard(with: b) == 0.4)
        let mask = BitMask.random(width: 784, density: 0.1, seed: 42)
        let before = a
        a.flip(toward: b, where: mask)
        // Independently of the kernel: b's bit where the mask is set, the old bit elsewhere.
        let masked = Set(mask.setBitIndices)
        let expected = BitVector((0..<784).map { masked.contains($0) ? b[$0] : before[$0] })
        #expect(a == expected)
        #expect(before.flipped(toward: b, where: mask) == expected)
        var neurons = BitMatrix(width: 784)
        neurons.append(a)
        neurons.append(b)
        let best = neurons.winner(for: b, score: .jaccard)
        #expect(best?.row == 1 && best?.score == 1)
        #expect(neurons.top(2, for: b, score: .differing).map(\.row) == [1, 0])
        #expect(neurons.winners(for: neurons, score: .jaccard, threads: 2).map { $0?.row } == [0, 1])
    }
}
