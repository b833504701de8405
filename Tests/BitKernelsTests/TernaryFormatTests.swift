import BitKernels
import Foundation
import Testing

/// A file under Tests/BitKernelsTests/Fixtures (written by make_ternary_fixtures.py there).
func fixture(_ name: String) throws -> [UInt8] {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)")
    return [UInt8](try Data(contentsOf: url))
}

@Suite struct TernaryFormatTests {
    /// Shapes the block formats accept, including rows of all zeros.
    func randomMatrix(rows: Int, columns: Int, seed: UInt64, perRowScales: Bool) throws -> TernaryMatrix {
        var rng = SplitMix64(seed: seed)
        var w = randomTernary(rows * columns, rng: &rng)
        if rows > 1 { for c in 0..<columns { w[columns + c] = 0 } }  // row 1 all zero
        let scales: [Float] = (0..<rows).map { perRowScales ? Float(1 + $0 % 5) / 8 : 0.375 }
        return try TernaryMatrix(values: w, rows: rows, columns: columns, rowScales: scales)
    }

    @Test(arguments: [(1, 256), (3, 512), (7, 2560)])
    func blockFormatsRoundTrip(rows: Int, columns: Int) throws {
        let m = try randomMatrix(rows: rows, columns: columns, seed: UInt64(rows * columns), perRowScales: true)
        let tq2 = try m.tq2_0(), tq1 = try m.tq1_0()
        #expect(tq2.count == rows * columns / 256 * 66 && tq1.count == rows * columns / 256 * 54)
        for decoded in [try TernaryMatrix(tq2_0: tq2, rows: rows, columns: columns),
                        try TernaryMatrix(tq1_0: tq1, rows: rows, columns: columns)] {
            #expect(decoded.values == m.values)
            // an all-zero row has no scale to recover; every other row keeps its (fp16-exact) scale
            #expect((0..<rows).allSatisfy { r in r == 1 || decoded.rowScales[r] == m.rowScales[r] })
        }
    }

    @Test(arguments: [(1, 128), (4, 96), (8, 2560)])
    func i2sAndHuggingFaceRoundTrip(rows: Int, columns: Int) throws {
        let m = try randomMatrix(rows: rows, columns: columns, seed: 3, perRowScales: false)
        let i2s = try m.i2_s()
        #expect(i2s.count == rows * columns / 4 + 32)
        let fromI2S = try TernaryMatrix(i2_s: i2s, rows: rows, columns: columns)
        #expect(fromI2S.values == m.values && fromI2S.rowScales == m.rowScales)
        if rows % 4 == 0 {
            let hf = try m.huggingFacePacked()
            let fromHF = try TernaryMatrix(huggingFacePacked: hf, rows: rows, columns: columns, scale: 0.375)
            #expect(fromHF.values == m.values)
        }
    }

    /// Known answers from the layouts' definitions (bitkernels.h).
    @Test func knownBytes() throws {
        // I2_S: byte 0 holds weights 0, 32, 64, 96 in bit pairs 6-7, 4-5, 2-3, 0-1 as w + 1.
        var w = [Int8](repeating: 0, count: 128)
        w[0] = -1; w[32] = 1; w[64] = 0; w[96] = 1
        let i2s = try TernaryMatrix(values: w, rows: 1, columns: 128, scale: 2).i2_s()
        #expect(i2s[0] == 0b00_10_01_10)
        #expect(i2s[1] == 0b01_01_01_01)
        #expect(Array(i2s[32..<36]) == [0, 0, 0, 0x40])  // float32 2.0, little-endian
        // HF: byte [r, c] holds rows r, R + r, 2R + r, 3R + r (R = rows / 4) in pairs 0-1 .. 6-7.
        let hf = try TernaryMatrix(values: [1, -1, 0, 1], rows: 4, columns: 1).huggingFacePacked()
        #expect(hf == [0b10_01_00_10])
        // TQ2_0: byte m holds weights m, m+32, m+64, m+96; d (fp16) follows the 64 code bytes.
        var t = [Int8](repeating: 0, count: 256)
        t[0] = 1; t[32] = -1; t[96] = 1; t[128] = -1
        let tq2 = try TernaryMatrix(values: t, rows: 1, columns: 256, scale: 0.5).tq2_0()
        #expect(tq2[0] == 0b10_01_00_10 && tq2[32] == 0b01_01_01_00 && tq2[64] == 0x00 && tq2[65] == 0x38)
    }

    /// Bytes written by llama.cpp's own Python quantizer (gguf.quants, see make_ternary_fixtures.py).
    @Test func ggufWrittenFixturesDecode() throws {
        let values = try fixture("random.i8").map { Int8(bitPattern: $0) }
        let scales = try fixture("random_scales.f32").withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let rows = 6, columns = 512
        let expected = try TernaryMatrix(values: values, rows: rows, columns: columns, rowScales: scales)
        let tq2 = try fixture("random.tq2_0"), tq1 = try fixture("random.tq1_0")
        for decoded in [try TernaryMatrix(tq2_0: tq2, rows: rows, columns: columns),
                        try TernaryMatrix(tq1_0: tq1, rows: rows, columns: columns)] {
            #expect(decoded.values == values)
            #expect(decoded.rowScales == scales)
        }
        // and our encoders write the same bytes llama.cpp's does
        #expect(try expected.tq2_0() == tq2)
        #expect(try expected.tq1_0() == tq1)
    }

    /// The bitnet-tiny checkpoint's layer-0 k_proj in its two real-world layouts: the Hugging Face
    /// safetensors packing and the model.gguf TQ2_0 tensor decode to the same weights and scale.
    @Test func bitnetCheckpointLayoutsAgree() throws {
        let hf = try fixture("bitnet_tiny_k_proj.hf"), tq2 = try fixture("bitnet_tiny_k_proj.tq2_0")
        let scaleBits = try fixture("bitnet_tiny_k_proj_scale.bf16")
        let scale = Float(bfloat16Bits: UInt16(scaleBits[0]) | UInt16(scaleBits[1]) << 8)
        let fromHF = try TernaryMatrix(huggingFacePacked: hf, rows: 64, columns: 256, scale: scale)
        let fromGGUF = try TernaryMatrix(tq2_0: tq2, rows: 64, columns: 256)
        #expect(fromHF.values == fromGGUF.values)
        #expect(fromGGUF.rowScales.allSatisfy { $0 == scale })
        #expect(fromHF.values.contains(-1) && fromHF.values.contains(1) && fromHF.values.contains(0))
    }

    @Test func badInputIsAClearError() throws {
        #expect(throws: TernaryFormatError.invalidWeight(index: 2, value: 2)) {
            try TernaryMatrix(values: [0, 1, 2, -1], rows: 2, columns: 2)
        }
        #expect(throws: TernaryFormatError.sizeMismatch(what: "weights of a 2 × 3 matrix", expected: 6, actual: 4)) {
            try TernaryMatrix(values: [0, 1, 1, -1], rows: 2, columns: 3)
        }
        let m = try randomMatrix(rows: 2, columns: 256, seed: 1, perRowScales: false)
        var tq2 = try m.tq2_0()
        tq2[5] = 0xff  // code 3 in every pair
        #expect(throws: TernaryFormatError.corruptCode(format: "TQ2_0", weightIndex: 5)) {
            try TernaryMatrix(tq2_0: tq2, rows: 2, columns: 256)
        }
        #expect(throws: TernaryFormatError.self) { try TernaryMatrix(tq2_0: Array(tq2.dropLast()), rows: 2, columns: 256) }
        var tq1 = try m.tq1_0()
        tq1[0] = 1  // ceil(v · 256 / 243) skips 1: no base-3 value encodes to it
        #expect(throws: TernaryFormatError.corruptCode(format: "TQ1_0", weightIndex: 0)) {
            try TernaryMatrix(tq1_0: tq1, rows: 2, columns: 256)
        }
        #expect(throws: TernaryFormatError.self) { try TernaryMatrix(values: [Int8](repeating: 0, count: 300), rows: 1, columns: 300).tq2_0() }
        let mixed = try TernaryMatrix(values: [Int8](repeating: 1, count: 256), rows: 2, columns: 128, rowScales: [1, 2])
        #expect(throws: TernaryFormatError.mixedScales(row: 1, first: 1, other: 2)) { try mixed.i2_s() }
    }

    @Test func storageIsTwoBitsPerWeight() throws {
        #expect(try TernaryMatrix(values: [Int8](repeating: 0, count: 2560 * 4), rows: 4, columns: 2560).bitsPerWeight == 2)
        // Padding counts: 300 columns take two 256-weight blocks, 5 rows two groups of four.
        #expect(try TernaryMatrix(values: [Int8](repeating: 0, count: 5 * 300), rows: 5, columns: 300).bitsPerWeight
                == Double(8 * 2 * 64 * 8) / Double(5 * 300))
    }
}
