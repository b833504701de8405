@testable import BitKernels
import Testing

/// Weights stored on huge pages (`WordStorage(hugePagesCapacity:)`) and a model's ternary
/// matrices stored together (`TernaryMatrix.storedTogether`): same values and products as the
/// matrices they copy, whatever the storage's size or alignment.
@Suite struct HugePageStorageTests {
    @Test func hugePageStorageIsZeroedAlignedAndFreed() {
        for words in [0, 1, 1000, (2 << 20) / 8 - 1, (2 << 20) / 8, (5 << 20) / 8 + 3] {
            let s = WordStorage(hugePagesCapacity: words)
            #expect(Int(bitPattern: s.base) % 64 == 0)
            #if os(Linux)
            if words * 8 >= 2 << 20 { #expect(Int(bitPattern: s.base) % (2 << 20) == 0, "\(words) words") }
            #endif
            #expect((0..<max(words, 1)).allSatisfy { s.base[$0] == 0 }, "\(words) words")
            for i in 0..<words { s.base[i] = UInt64(i) }  // every word is writable
            if words > 0 { #expect(s.base[words - 1] == UInt64(words - 1)) }
        }
        let s = WordStorage(hugePagesCapacity: (3 << 20) / 8)
        s.base[7] = 42
        s.grow(to: (4 << 20) / 8, keeping: 8)  // a mapped storage grows into the allocator's memory
        #expect(s.base[7] == 42 && s.base[(4 << 20) / 8 - 1] == 0)
    }

    @Test(arguments: ISA.supported)
    func matricesStoredTogetherMultiplyAsBefore(isa: ISA) throws {
        let kernels = try Kernels.variant(isa)
        var rng = SplitMix64(seed: 2024)
        // Rows around the 4-row groups (padding slots), columns around the 256-weight block; over
        // 2 MiB in all, so the shared storage is on huge pages where the OS has them.
        let shapes = [(5, 300), (8, 2560), (640, 2560), (1, 1), (17, 4353), (1024, 2560)]
        var originals: [TernaryMatrix] = [], weights: [[Int8]] = []
        for (rows, columns) in shapes {
            let w = randomTernary(rows * columns, rng: &rng)
            weights.append(w)
            originals.append(try TernaryMatrix(values: w, rows: rows, columns: columns,
                                               rowScales: (0..<rows).map { _ in Float(rng.next() % 100 + 1) / 64 }))
        }
        var stored = TernaryMatrix.storedTogether(originals)
        #expect(stored.count == originals.count)
        for (a, b) in zip(originals, stored) {
            #expect(a.rows == b.rows && a.columns == b.columns && a.rowScales == b.rowScales)
            #expect(a.packedByteCount == b.packedByteCount && a.values == b.values)
            #expect(Int(bitPattern: b.storage.base) % 64 == 0)
        }
        let copies = stored
        originals = []  // the stored matrices keep their shared storage alive on their own
        stored = copies
        for (i, (rows, columns)) in shapes.enumerated() {
            for tokens in [1, 3, 8] {
                let x = randomInt8(tokens * columns, rng: &rng)
                let q = QuantizedTokens(values: x, scales: (0..<tokens).map { Float($0 + 1) }, columns: columns)
                let expected = naiveProducts(weights[i], rows: rows, columns: columns, x, tokens: tokens)
                for threads in [1, 2] {
                    #expect(stored[i].integerProducts(q, threads: threads, using: kernels) == expected,
                            "isa \(isa) \(rows) × \(columns), \(tokens) token(s), \(threads) thread(s)")
                    let reference = try TernaryMatrix(values: weights[i], rows: rows, columns: columns,
                                                      rowScales: stored[i].rowScales)
                    let y = stored[i].multiply(q, threads: threads, using: kernels)
                    #expect(y.map(\.bitPattern) == reference.multiply(q, threads: 1, using: kernels).map(\.bitPattern))
                }
            }
        }
    }

    @Test func largeBFloat16MatrixKeepsItsBits() throws {
        var rng = SplitMix64(seed: 77)
        let rows = 1100, columns = 1000  // 2.2 MB: on huge pages
        let bits = (0..<(rows * columns)).map { _ in UInt16(Float(Double(rng.next() % 4000) / 1000 - 2).bitPattern >> 16) }
        let m = BFloat16Matrix(bits: bits, rows: rows, columns: columns)
        #expect(m.bits == bits)
        let x = (0..<columns).map { Float($0 % 7) - 3 }
        let y = m.products(x, threads: 2, using: try Kernels.variant(.scalar))
        for r in stride(from: 0, to: rows, by: 97) {
            var s = 0.0
            for c in 0..<columns { s += Double(Float(bitPattern: UInt32(bits[r * columns + c]) << 16)) * Double(x[c]) }
            #expect(abs(Double(y[r]) - s) <= 1e-3 * max(1, abs(s)), "row \(r)")
        }
    }
}
