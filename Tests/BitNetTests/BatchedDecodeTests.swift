import BitNet
import Foundation
import Testing

@Suite struct BatchedDecodeTests {
    /// Three sequences of different lengths decoded together give, row for row, the logits each
    /// gives decoded alone (the GEMM path quantizes and multiplies each token as the GEMV does; the
    /// head's row blocks compute each row as the per-token product does), with the bf16 and the
    /// int8 head.
    @Test(arguments: [1, 2], [false, true])
    func batchedStepEqualsOneAtATime(threads: Int, int8Head: Bool) throws {
        let m = int8Head ? try BitNetModel.load(path: Fixture.directory, int8Head: true) : Fixture.safetensors
        let vocab = m.config.vocabularySize
        let prompts = [Fixture.sequences["A"]!, Array(Fixture.sequences["B"]!.prefix(5)), Fixture.sequences["C"]!]
        let batched = prompts.map { _ in m.makeCache(capacity: 64) }, alone = prompts.map { _ in m.makeCache(capacity: 64) }
        var next: [Int] = []
        for (i, p) in prompts.enumerated() {
            _ = try m.forward(p, cache: batched[i], threads: threads)
            let l = try m.forward(p, cache: alone[i], threads: threads, lastOnly: true)
            next.append(argmax(l[...]))
        }
        for _ in 0..<6 {
            let together = try m.forward(steps: Array(zip(next, batched)), threads: threads)
            #expect(together.count == prompts.count * vocab)
            for i in prompts.indices {
                let single = try m.forward([next[i]], cache: alone[i], threads: threads)
                let row = Array(together[(i * vocab)..<((i + 1) * vocab)])
                #expect(row == single, "sequence \(i): max |diff| \(maxAbsDiff(row[...], single[...]))")
                next[i] = argmax(single[...])
            }
        }
        #expect(batched.map(\.count) == alone.map(\.count))
    }

    /// Greedy decoding of the fixture's sequence A, batched with another sequence, reproduces
    /// transformers' greedy continuation.
    @Test func batchedGreedyMatchesFixture() throws {
        let m = Fixture.safetensors, vocab = m.config.vocabularySize
        let a = m.makeCache(), b = m.makeCache()
        var la = try m.forward(Fixture.sequences["A"]!, cache: a, lastOnly: true)
        var lb = try m.forward(Fixture.sequences["C"]!, cache: b, lastOnly: true)
        var out: [Int] = []
        for _ in 0..<16 {
            let ta = argmax(la[...]), tb = argmax(lb[...])
            out.append(ta)
            let l = try m.forward(steps: [(ta, a), (tb, b)])
            la = Array(l[0..<vocab])
            lb = Array(l[vocab...])
        }
        #expect(out == Fixture.greedy)
    }

    /// Prompts of new sequences and next tokens of running ones in one pass: each segment's row
    /// equals that segment run alone (`lastOnly`), bit for bit, for one and two threads; the caches
    /// advance by their segments' lengths.
    @Test(arguments: [1, 2])
    func segmentsEqualEachAlone(threads: Int) throws {
        let m = Fixture.safetensors, vocab = m.config.vocabularySize
        let a = Fixture.sequences["A"]!, b = Array(Fixture.sequences["B"]!.prefix(5)), c = Fixture.sequences["C"]!
        let together = [m.makeCache(capacity: 64), m.makeCache(capacity: 64), m.makeCache(capacity: 64)]
        let alone = [m.makeCache(capacity: 64), m.makeCache(capacity: 64), m.makeCache(capacity: 64)]
        _ = try m.forward(a, cache: together[0], threads: threads)
        _ = try m.forward(a, cache: alone[0], threads: threads)
        // a running sequence's next token, a new prompt, and a second new prompt
        var rounds: [[[Int]]] = [[[5], b, c], [[7], [3], [9, 2, 4]], [[1], [2], [3]]]
        for segments in rounds {
            let rows = try m.forward(segments: Array(zip(segments, together)), threads: threads)
            #expect(rows.count == 3 * vocab)
            for i in 0..<3 {
                let single = try m.forward(segments[i], cache: alone[i], threads: threads, lastOnly: true)
                #expect(Array(rows[(i * vocab)..<((i + 1) * vocab)]) == single, "segment \(i) of \(segments)")
            }
            #expect(together.map(\.count) == alone.map(\.count))
        }
        rounds.removeAll()
        // Nothing runs when one segment has a bad token or would overflow its cache.
        let before = together.map(\.count)
        #expect(throws: BitNetError.badToken(id: vocab, vocabulary: vocab)) {
            try m.forward(segments: [([1], together[0]), ([2, vocab], together[1])])
        }
        let small = m.makeCache(capacity: 2)
        #expect(throws: BitNetError.contextFull(limit: 2)) { try m.forward(segments: [([1], together[0]), ([1, 2, 3], small)]) }
        #expect(together.map(\.count) == before && small.count == 0)
    }

    @Test func fullCacheIsAnError() throws {
        let m = Fixture.safetensors
        let small = m.makeCache(capacity: 2), big = m.makeCache()
        _ = try m.forward([1, 2], cache: small)
        #expect(throws: BitNetError.contextFull(limit: 2)) { try m.forward(steps: [(3, big), (3, small)]) }
        #expect(big.count == 0)  // nothing ran
        #expect(try m.forward(steps: []).isEmpty)
    }
}
