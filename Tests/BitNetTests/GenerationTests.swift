import BitKernels
import BitNet
import Foundation
import TestSupport
import Testing

@Suite struct GenerationTests {
    @Test func greedyGenerateMatchesFixture() throws {
        let m = Fixture.safetensors
        let (ids, stats) = try m.generate(prompt: Fixture.sequences["A"]!, maxNewTokens: 16, threads: 1)
        #expect(ids == Fixture.greedy)
        #expect(stats.promptTokens == 16 && stats.generatedTokens == 16)
        // The first token comes from the prompt pass and the last is not fed back: 15 passes.
        #expect(stats.decodingPasses == 15)
        var shown: [Int] = []
        _ = try m.generate(prompt: Fixture.sequences["A"]!, maxNewTokens: 16, onToken: { shown.append($0); return true })
        #expect(shown == Fixture.greedy, "onToken sees every new token, the last one too")
        #expect(try m.generate(prompt: [1, 2], maxNewTokens: 1).stats.decodingPasses == 0)
        #expect(try m.generate(prompt: [1, 2, 3], maxNewTokens: 50, contextLimit: 6).stats.decodingPasses == 2)
        // A stop token ends generation after emitting it; onToken can stop it too.
        #expect(try m.generate(prompt: Fixture.sequences["A"]!, maxNewTokens: 16, stopTokens: [476]).tokens == [141, 993, 476])
        var seen = 0
        #expect(try m.generate(prompt: Fixture.sequences["A"]!, maxNewTokens: 16, onToken: { _ in seen += 1; return seen < 2 }).tokens.count == 2)
    }

    @Test func contextLimitIsAClearError() throws {
        let m = Fixture.safetensors
        #expect(throws: BitNetError.contextFull(limit: 8)) {
            try m.generate(prompt: Array(repeating: 1, count: 8), maxNewTokens: 4, contextLimit: 8)
        }
        // Generation stops (without error) when the context fills.
        #expect(try m.generate(prompt: [1, 2, 3], maxNewTokens: 50, contextLimit: 6).tokens.count == 3)
        let cache = m.makeCache(capacity: 4)
        #expect(throws: BitNetError.contextFull(limit: 4)) { try m.forward([1, 2, 3, 4, 5], cache: cache) }
        #expect(throws: BitNetError.badToken(id: 1000, vocabulary: 1000)) { try m.forward([1000], cache: m.makeCache()) }
    }

    @Test func samplingIsSeededAndRespectsTopKTopP() {
        let logits: [Float] = [0, 5, 1, 4.5, -2, 3]
        var a = Sampler(temperature: 1, topK: 0, topP: 1, seed: 7), b = Sampler(temperature: 1, topK: 0, topP: 1, seed: 7)
        let xs = (0..<200).map { _ in a.next(logits[...]) }
        #expect(xs == (0..<200).map { _ in b.next(logits[...]) })
        #expect(Set(xs).count >= 3)  // genuinely random at temperature 1
        var k2 = Sampler(temperature: 1, topK: 2, topP: 1, seed: 1)
        #expect(Set((0..<200).map { _ in k2.next(logits[...]) }) == [1, 3])
        var p = Sampler(temperature: 1, topK: 0, topP: 0.5, seed: 1)   // token 1 alone holds > 50%
        #expect(Set((0..<100).map { _ in p.next(logits[...]) }) == [1])
        var g = Sampler.greedy
        #expect(g.next(logits[...]) == 1 && g.next(logits[2...]) == 1)  // index within the slice
    }
}

@Suite struct Int8HeadTests {
    /// The int8 head (row-wise absmax) halves the head's bytes; its effect on the fixture's logits
    /// is measured here and reported in bench/RESULTS.md.
    @Test func int8HeadStaysCloseToTransformers() throws {
        let m = try BitNetModel.load(path: Fixture.directory, int8Head: true)
        let vocab = m.config.vocabularySize
        let expected = try Fixture.floats("logits_A.f32")
        let got = try m.forward(Fixture.sequences["A"]!, cache: m.makeCache())
        let d = maxAbsDiff(got[...], expected[...])
        let agree = (0..<16).filter { argmax(got[($0 * vocab)..<(($0 + 1) * vocab)]) == argmax(expected[($0 * vocab)..<(($0 + 1) * vocab)]) }.count
        print("bitnet-tiny int8 head: logits A max |diff| \(d), argmax equal in \(agree) of 16")
        #expect(d < 0.35 && agree >= 15)  // 1% of the largest logit (32.8); the ranking holds
        #expect(m.bytesPerToken < Fixture.safetensors.bytesPerToken)
    }
}

@Suite struct LoadingErrorTests {
    /// A fresh, empty directory `name` in `root`.
    func scratch(_ name: String, in root: String) throws -> String {
        let dir = root + "/" + name
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func copyFixture(to dir: String, truncateSafetensorsTo: Int? = nil, config: String? = nil) throws {
        let src = Fixture.directory
        let cfg = try config ?? String(contentsOfFile: src + "/config.json", encoding: .utf8)
        try cfg.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        var st = try Data(contentsOf: URL(fileURLWithPath: src + "/model.safetensors"))
        if let n = truncateSafetensorsTo { st = st.prefix(n) }
        try st.write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
    }

    @Test func badCheckpointsAreClearErrors() throws {
        #expect(throws: BitNetError.missingFile("/nonexistent/model")) { try BitNetModel.load(path: "/nonexistent/model") }
        try withTemporaryDirectory("bitnet-loading") { root in
            let noConfig = try scratch("noconfig", in: root)
            #expect(throws: BitNetError.missingFile(noConfig + "/config.json")) { try BitNetModel.load(path: noConfig) }

            let badJSON = try scratch("badjson", in: root)
            try copyFixture(to: badJSON, config: "{ not json")
            #expect(throws: BitNetError.self) { try BitNetModel.load(path: badJSON) }

            let llama = try scratch("llama", in: root)
            try copyFixture(to: llama, config: #"{"model_type": "llama", "hidden_size": 256}"#)
            #expect(throws: BitNetError.unsupported("model_type 'llama' in \(llama)/config.json; this engine runs BitNet b1.58 ('bitnet')")) {
                try BitNetModel.load(path: llama)
            }

            let truncated = try scratch("truncated", in: root)
            try copyFixture(to: truncated, truncateSafetensorsTo: 500_000)
            do throws(BitNetError) {
                _ = try BitNetModel.load(path: truncated)
                Issue.record("a truncated checkpoint loaded")
            } catch {
                #expect(error.description.contains("truncated"), "\(error)")
            }

            // A config whose shapes disagree with the tensors: the tensor and both shapes are named.
            let wrong = try scratch("wrongshape", in: root)
            let cfg = try String(contentsOfFile: Fixture.directory + "/config.json", encoding: .utf8)
                .replacingOccurrences(of: "\"intermediate_size\": 640", with: "\"intermediate_size\": 512")
            try copyFixture(to: wrong, config: cfg)
            #expect(throws: BitNetError.wrongShape(tensor: "model.layers.0.mlp.ffn_sub_norm.weight", expected: [512], actual: [640])) {
                try BitNetModel.load(path: wrong)
            }
        }
    }

    @Test func badGGUFIsAClearError() throws {
        try withTemporaryDirectory("bitnet-loading") { root in
            let dir = try scratch("gguf", in: root)
            let gguf = try Data(contentsOf: URL(fileURLWithPath: Fixture.directory + "/model.gguf"))
            try gguf.prefix(gguf.count / 2).write(to: URL(fileURLWithPath: dir + "/half.gguf"))
            do throws(BitNetError) {
                _ = try BitNetModel.load(path: dir + "/half.gguf")
                Issue.record("a truncated GGUF loaded")
            } catch {
                #expect(error.description.contains("truncated"), "\(error)")
            }
            try Data("not a gguf file at all, just text".utf8).write(to: URL(fileURLWithPath: dir + "/text.gguf"))
            #expect(throws: BitNetError.malformed(file: dir + "/text.gguf", reason: "not a GGUF file (no GGUF magic)")) {
                try BitNetModel.load(path: dir + "/text.gguf")
            }
        }
    }
}

/// bitnet-tiny re-stored as bitnet.cpp's I2_S by an independent packer (Fixtures/make_i2s_gguf.py),
/// with an untied output head and a GPT-2 style GGUF vocabulary.
@Suite struct I2SGGUFTests {
    static let path = Fixture.directory + "/../bitnet-tiny-i2s.gguf"

    @Test func i2sCheckpointGivesTheSameLogits() throws {
        let m = try BitNetModel.load(path: Self.path)
        #expect(!m.config.tiedEmbeddings)
        let expected = try Fixture.floats("logits_A.f32")
        let got = try m.forward(Fixture.sequences["A"]!, cache: m.makeCache(), threads: 2)
        let d = maxAbsDiff(got[...], expected[...])
        print("bitnet-tiny as I2_S GGUF, untied f16 head: logits A max |diff| \(d)")
        #expect(d < 1e-4)  // the untied f16 head holds the bf16 embedding exactly
        #expect(try m.generate(prompt: Fixture.sequences["A"]!, maxNewTokens: 16).tokens == Fixture.greedy)
    }

    @Test func ggufVocabularyLoads() throws {
        let tok = try #require(try Tokenizer.load(modelPath: Self.path))
        #expect(tok.vocabularySize == 1000)
        #expect(try tok.encode("A") == [65])  // the byte tokens are ids 0..<256
        let ids = try tok.encode("hello, world!!")
        #expect(tok.decode(ids) == "hello, world!!")
        #expect(ids.last! >= 256)  // "!!" is one of the vocabulary's merges
    }
}

/// Corrupt checkpoints fail with an error, never a crash: seeded byte flips and truncations of the
/// fixture's GGUF and safetensors files (headers included, where sizes and counts live).
@Suite struct CorruptFileTests {
    func mutations(of original: [UInt8], seed: UInt64, count: Int, headerBytes: Int) -> [[UInt8]] {
        var state = seed
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        return (0..<count).map { i in
            var b = original
            if i % 4 == 0 { return Array(b.prefix(next() % b.count)) }  // truncated
            for _ in 0..<(1 + next() % 4) {
                let at = next() % min(headerBytes, b.count)  // mostly header: sizes, counts, offsets
                b[at] = UInt8(truncatingIfNeeded: next())
            }
            return b
        }
    }

    @Test func corruptGGUFNeverCrashes() throws {
        let original = try [UInt8](Foundation.Data(contentsOf: URL(fileURLWithPath: Fixture.directory + "/model.gguf")))
        try withTemporaryDirectory("bitnet-corrupt-gguf") { dir in
            var failures = 0, loads = 0
            for (i, bytes) in mutations(of: original, seed: 11, count: 60, headerBytes: 6000).enumerated() {
                let path = "\(dir)/m\(i).gguf"
                try Foundation.Data(bytes).write(to: URL(fileURLWithPath: path))
                do { _ = try BitNetModel.load(path: path); loads += 1 } catch { failures += 1 }
                try? FileManager.default.removeItem(atPath: path)
            }
            #expect(failures > 30, "\(failures) of 60 corrupt files rejected, \(loads) loaded")
        }
    }

    @Test func corruptSafetensorsNeverCrashes() throws {
        let original = try [UInt8](Foundation.Data(contentsOf: URL(fileURLWithPath: Fixture.directory + "/model.safetensors")))
        let config = try String(contentsOfFile: Fixture.directory + "/config.json", encoding: .utf8)
        try withTemporaryDirectory("bitnet-corrupt-st") { dir in
            try config.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
            var failures = 0
            for bytes in mutations(of: original, seed: 12, count: 80, headerBytes: 8000) {
                try Foundation.Data(bytes).write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
                do { _ = try BitNetModel.load(path: dir) } catch { failures += 1 }
            }
            #expect(failures > 30)
        }
    }
}

@Suite struct ThreadingTests {
    /// Threads split rows (ternary kernels, head) and (token, head) attention pairs, never a sum:
    /// the 64-token sequence's logits are bit-identical at 1 and 2 threads.
    @Test func threadsChangeNoBit() throws {
        let m = Fixture.safetensors
        let one = try m.forward(Fixture.sequences["B"]!, cache: m.makeCache(), threads: 1)
        let two = try m.forward(Fixture.sequences["B"]!, cache: m.makeCache(), threads: 2)
        #expect(one.map(\.bitPattern) == two.map(\.bitPattern))
    }
}

@Suite struct KernelChoiceTests {
    /// A model loaded `using:` a variant keeps that one handle for every layer and the head, and
    /// every variant gives the same logits bit for bit (the kernels agree exactly), int8 head too.
    @Test(arguments: ISA.supported, [false, true])
    func chosenVariantRunsTheWholeModel(isa: ISA, int8Head: Bool) throws {
        let kernels = try Kernels.variant(isa)
        let m = try BitNetModel.load(path: Fixture.directory, int8Head: int8Head, using: kernels)
        #expect(m.kernels == kernels)
        let reference = try BitNetModel.load(path: Fixture.directory, int8Head: int8Head, using: try Kernels.variant(.scalar))
        let tokens = Fixture.sequences["A"]!
        let got = try m.forward(tokens, cache: m.makeCache(), threads: 1)
        let want = try reference.forward(tokens, cache: reference.makeCache(), threads: 1)
        #expect(got.map(\.bitPattern) == want.map(\.bitPattern))
    }
}
