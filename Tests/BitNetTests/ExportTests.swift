import BitKernels
import BitNet
import Foundation
import TestSupport
import Testing

extension Tokenizer {
    /// `encode` for expectations: a thrown error is recorded as a test failure.
    func ids(_ text: String) -> [Int] {
        do { return try encode(text) } catch {
            Issue.record("encode failed: \(error)")
            return [-1]
        }
    }
}

func remove(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

/// Logits of `tokens` from an empty cache, one thread.
func logits(_ m: BitNetModel, _ tokens: [Int]) throws -> [Float] {
    try m.forward(tokens, cache: m.makeCache(capacity: tokens.count), threads: 1)
}

/// A small random model in float32 (values that are not bf16), untied head, one scale per tensor.
func randomWeights(seed: UInt64, hidden: Int = 256, intermediate: Int = 384, layers: Int = 2, vocab: Int = 96,
                   heads: Int = 4, kvHeads: Int = 2, tied: Bool = false) -> BitNetWeights {
    var state = seed
    func uniform() -> Float {  // SplitMix64
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Float((z ^ (z >> 31)) >> 40) / Float(1 << 24) * 2 - 1
    }
    let c = BitNetConfig(vocabularySize: vocab, hiddenSize: hidden, intermediateSize: intermediate, layerCount: layers,
                         headCount: heads, kvHeadCount: kvHeads, ropeTheta: 10_000, rmsNormEpsilon: 1e-5, maxPositions: 64,
                         tiedEmbeddings: tied)
    var t: [String: BitNetTensor] = [:]
    for (name, shape, isTernary) in BitNetWeights.tensorShapes(for: c) {
        let n = shape.reduce(1, *)
        if isTernary {
            t[name] = .ternary(TernaryMatrix.quantizing((0..<n).map { _ in uniform() }, rows: shape[0], columns: shape[1]))
        } else if shape.count == 1 {
            t[name] = .float(shape: shape, values: (0..<n).map { _ in 1 + 0.25 * uniform() })
        } else {
            t[name] = .float(shape: shape, values: (0..<n).map { _ in 0.5 * uniform() })
        }
    }
    return BitNetWeights(config: c, tensors: t)
}

@Suite(.serialized) struct ExportTests {
    static let prompts = [Fixture.sequences["A"]!, Fixture.sequences["C"]!, [5, 17, 999, 0, 42, 42, 7]]

    @Test func weightsRebuildTheSameModel() throws {
        let w = Fixture.safetensors.weights
        #expect(w.tensors.count == BitNetWeights.tensorShapes(for: w.config).count)
        let m = try BitNetModel(weights: w)
        for p in Self.prompts { #expect(try logits(m, p) == logits(Fixture.safetensors, p)) }
    }

    @Test func huggingFaceRoundTrip() throws {
        try withTemporaryDirectory("bitnet-hf") { dir in
            try Fixture.safetensors.weights.writeHuggingFace(to: dir, tokenizer: nil)
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir)) == ["config.json", "model.safetensors"])
            let m = try BitNetModel.load(path: dir)
            #expect(m.config == Fixture.safetensors.config)
            for p in Self.prompts { #expect(try logits(m, p) == logits(Fixture.safetensors, p)) }
            // The fixture's tensors are bf16 and stay bf16: the file is the original's size.
            let size = { (p: String) in (try FileManager.default.attributesOfItem(atPath: p)[.size] as! NSNumber).intValue }
            #expect(try size(dir + "/model.safetensors") <= size(Fixture.directory + "/model.safetensors"))
        }
    }

    @Test(arguments: GGUFTernaryFormat.allCases)
    func ggufRoundTrip(format: GGUFTernaryFormat) throws {
        try withTemporaryDirectory("bitnet-gguf") { dir in
            let path = dir + "/model-\(format.rawValue).gguf"
            try Fixture.safetensors.weights.writeGGUF(to: path, format: format, tokenizer: nil)
            let m = try BitNetModel.load(path: path)
            var expected = Fixture.safetensors.config
            expected.maxPositions = m.config.maxPositions
            #expect(m.config == expected && m.config.maxPositions == 512)
            for p in Self.prompts {
                let d = maxAbsDiff(try logits(m, p)[...], try logits(Fixture.safetensors, p)[...])
                #expect(d <= 1e-5, "\(format): max |diff| \(d)")
            }
            #expect(try Tokenizer.load(modelPath: path) == nil)
        }
    }

    /// Float32 values (not bf16), an untied head: every format keeps them exactly.
    @Test func randomFloat32ModelRoundTrips() throws {
        let w = randomWeights(seed: 7)
        let original = try BitNetModel(weights: w)
        try withTemporaryDirectory("bitnet-random") { dir in
            let prompt = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]
            let reference = try logits(original, prompt)
            try w.writeHuggingFace(to: dir + "/hf", tokenizer: nil)
            #expect(try logits(BitNetModel.load(path: dir + "/hf"), prompt) == reference)
            // TQ2_0 keeps fp16 block scales: a float32 scale goes into llama.cpp's `.scale` tensor.
            for weights in [w, halfScales(w)] {
                let expected = try logits(BitNetModel(weights: weights), prompt)
                for format in GGUFTernaryFormat.allCases {
                    try weights.writeGGUF(to: dir + "/m.gguf", format: format, tokenizer: nil)
                    #expect(try logits(BitNetModel.load(path: dir + "/m.gguf"), prompt) == expected, "\(format)")
                }
            }
        }
    }

    /// The weights with every ternary scale rounded to fp16.
    func halfScales(_ w: BitNetWeights) -> BitNetWeights {
        var out = w
        for (name, t) in w.tensors {
            guard case .ternary(let m) = t else { continue }
            out.tensors[name] = .ternary(try! TernaryMatrix(values: m.values, rows: m.rows, columns: m.columns,
                                                            rowScales: m.rowScales.map { Float(Float16($0)) }))
        }
        return out
    }

    /// Loaders give an all-zero row scale 0 (TQ2_0, float fallbacks); such a row still counts
    /// as one per-tensor scale for the Hugging Face layout and I2_S.
    @Test func zeroRowsTakeAnyScale() throws {
        let w = randomWeights(seed: 5, layers: 1)
        var z = w
        let q = "model.layers.0.self_attn.q_proj.weight"
        guard case .ternary(let m) = w.tensors[q]! else { return }
        var values = m.values
        for c in 0..<m.columns { values[c] = 0 }
        z.tensors[q] = .ternary(try TernaryMatrix(values: values, rows: m.rows, columns: m.columns,
                                                  rowScales: [0] + m.rowScales.dropFirst()))
        try withTemporaryDirectory("bitnet-zero") { dir in
            let expected = try logits(BitNetModel(weights: z), [1, 2, 3])
            try z.writeHuggingFace(to: dir + "/hf", tokenizer: nil)
            #expect(try logits(BitNetModel.load(path: dir + "/hf"), [1, 2, 3]) == expected)
            let size = { (p: String) in (try FileManager.default.attributesOfItem(atPath: p)[.size] as! NSNumber).intValue }
            for format in GGUFTernaryFormat.allCases {
                try z.writeGGUF(to: dir + "/z.gguf", format: format, tokenizer: nil)
                try w.writeGGUF(to: dir + "/w.gguf", format: format, tokenizer: nil)
                #expect(try logits(BitNetModel.load(path: dir + "/z.gguf"), [1, 2, 3]) == expected, "\(format)")
                #expect(try size(dir + "/z.gguf") == size(dir + "/w.gguf"), "\(format): no F32 fallback")
            }
        }
    }

    static let pieces: [[UInt8]] = {
        var chars = Array("\n !',.:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".unicodeScalars).map { Array(String($0).utf8) }
        chars += ["é", "ß", "€", "😀", "\r\n"].map { Array($0.utf8) }
        chars += [[0xC3], [0xE2], [0x80], [0xFF]]  // lone bytes
        return chars
    }()
    static let texts = ["ROMEO: O, she doth teach the torches to burn bright!", "Café € 😀 straße\r\nok", "é€😀ß", "naïve ☃"]

    @Test func piecesTokenizerEncodesCharacters() {
        let tok = Tokenizer(pieces: Self.pieces)
        #expect(tok.vocabularySize == Self.pieces.count)
        let ids = tok.ids("Hé€😀\r\n")
        #expect(ids == ["H", "é", "€", "😀", "\r\n"].map { s in Self.pieces.firstIndex(of: Array(s.utf8))! })
        #expect(tok.decode(ids) == "Hé€😀\r\n")
        // "ï" (C3 AF) has no piece: its lead byte is one, the other byte is dropped.
        #expect(tok.ids("ï") == [Self.pieces.firstIndex(of: [0xC3])!])
        for t in Self.texts.prefix(3) { #expect(tok.decode(tok.ids(t)) == t) }
    }

    @Test(arguments: ["pieces", "bytes", "characters"])
    func tokenizerRoundTripsThroughBothFormats(kind: String) throws {
        let tok = switch kind {
        case "pieces": Tokenizer(pieces: Self.pieces)
        case "bytes": Tokenizer.bytes
        default: Tokenizer(charactersOf: Self.texts.joined())
        }
        try withTemporaryDirectory("bitnet-tok") { dir in
            let w = Fixture.safetensors.weights
            try w.writeHuggingFace(to: dir + "/hf", tokenizer: tok)
            try w.writeGGUF(to: dir + "/m.gguf", format: .i2_s, tokenizer: tok)
            for path in [dir + "/hf", dir + "/m.gguf"] {
                let loaded = try #require(try Tokenizer.load(modelPath: path))
                #expect(loaded.vocabularySize == tok.vocabularySize, "\(path): GGUF padding ids are not tokens")
                #expect(loaded.decode([999]) == "")
                for t in Self.texts + ["ROMEO:"] {
                    #expect(loaded.ids(t) == tok.ids(t), "\(kind), \(path): \(t)")
                    #expect(loaded.decode(tok.ids(t)) == tok.decode(tok.ids(t)))
                }
            }
            #expect(tok.decode(tok.ids("ROMEO:")) == "ROMEO:" && tok.ids("ROMEO:").count == 6)
            #expect(FileManager.default.fileExists(atPath: dir + "/hf/tokenizer_config.json"))
            // Written again from what was read back (dictionaries filled in another order): the same
            // bytes, so no hash order leaks into the files.
            try BitNetModel.load(path: dir + "/hf").weights.writeHuggingFace(to: dir + "/hf2", tokenizer: Tokenizer.load(modelPath: dir + "/hf"))
            try BitNetModel.load(path: dir + "/m.gguf").weights.writeGGUF(to: dir + "/m2.gguf", format: .i2_s,
                                                                         tokenizer: Tokenizer.load(modelPath: dir + "/m.gguf"))
            for name in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"] {
                #expect(FileManager.default.contents(atPath: dir + "/hf/" + name) == FileManager.default.contents(atPath: dir + "/hf2/" + name), "\(name)")
            }
            #expect(FileManager.default.contents(atPath: dir + "/m.gguf") == FileManager.default.contents(atPath: dir + "/m2.gguf"))
        }
    }

    @Test func characterAndByteTokenizers() {
        let tok = Tokenizer(charactersOf: "hello")  // e h l o
        #expect(tok.vocabularySize == 4 && tok.ids("hole") == [1, 3, 2, 0] && tok.decode([1, 0, 2, 2, 3]) == "hello")
        #expect(Tokenizer.bytes.ids("é!") == [0xC3, 0xA9, 0x21] && Tokenizer.bytes.decode([0xC3, 0xA9]) == "é")
        // Characters (Unicode scalars) whole, even multi-byte ones, ordered by code point.
        let multi = Tokenizer(charactersOf: "€a😀é")
        #expect(multi.ids("é€😀a") == [1, 2, 3, 0] && multi.decode([3, 1]) == "😀é")
    }

    @Test func tokenizerJSONRoundTrips() throws {
        // A tokenizer read from a tokenizer.json (merges, special tokens) written and read again.
        try withTemporaryDirectory("bitnet-tokjson") { dir in
            let json = #"""
                {"added_tokens": [{"id": 9, "content": "<|end|>", "special": true}],
                 "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "c": 3, "abc": 4, "Ġ": 5, "Ġab": 6, "Ġa": 7, "d": 8},
                           "merges": ["a b", "ab c", "Ġ a", "Ġa b"]}}
                """#
            try json.write(toFile: dir + "/in.json", atomically: false, encoding: .utf8)
            let tok = try Tokenizer(tokenizerJSON: dir + "/in.json")
            var w = randomWeights(seed: 3, vocab: 16)
            w.config.tiedEmbeddings = true
            w.tensors["lm_head.weight"] = nil
            try w.writeHuggingFace(to: dir + "/hf", tokenizer: tok)
            try w.writeGGUF(to: dir + "/m.gguf", format: .tq2_0, tokenizer: tok)
            for path in [dir + "/hf", dir + "/m.gguf"] {
                let loaded = try #require(try Tokenizer.load(modelPath: path))
                for t in ["abc ab abcd<|end|>a", "cab ba", " abc"] { #expect(loaded.ids(t) == tok.ids(t), "\(path): \(t)") }
                #expect(loaded.specialTokens == ["<|end|>": 9])
            }
        }
    }

    @Test func badWeightsAreOneLineErrorsNamingTheTensor() throws {
        let good = randomWeights(seed: 1, layers: 1)
        func error(_ change: (inout BitNetWeights) -> Void) -> String {
            var w = good
            change(&w)
            do { _ = try BitNetModel(weights: w); return "no error" } catch { return error.description }
        }
        let q = "model.layers.0.self_attn.q_proj.weight", norm = "model.layers.0.mlp.ffn_sub_norm.weight"
        let cases: [(String, (inout BitNetWeights) -> Void, [String])] = [
            ("missing", { $0.tensors[q] = nil }, [q, "no tensor"]),
            ("shape", { $0.tensors[norm] = .float(shape: [255], values: [Float](repeating: 1, count: 255)) }, [norm, "[255]", "[384]"]),
            ("NaN", { w in
                guard case .float(let s, var v) = w.tensors[norm]! else { return }
                v[7] = .nan
                w.tensors[norm] = .float(shape: s, values: v)
            }, [norm, "nan", "index 7"]),
            ("float for ternary", { $0.tensors[q] = .float(shape: [256, 256], values: [Float](repeating: 0, count: 65536)) }, [q, ".ternary"]),
            ("values count", { $0.tensors[norm] = .float(shape: [384], values: [1]) }, [norm, "1 values"]),
            ("extra", { $0.tensors["model.layers.1.input_layernorm.weight"] = .float(shape: [256], values: [Float](repeating: 1, count: 256)) },
             ["model.layers.1.input_layernorm.weight", "not a tensor"]),
            ("config", { $0.config.kvHeadCount = 3 }, ["kvHeadCount 3"]),
            ("ternary scale", { $0.tensors[q] = .ternary(try! TernaryMatrix(values: [Int8](repeating: 1, count: 65536), rows: 256, columns: 256, scale: .infinity)) },
             [q, "inf"]),
        ]
        for (label, change, needles) in cases {
            let message = error(change)
            #expect(!message.contains("\n") && message != "no error", "\(label): \(message)")
            for n in needles { #expect(message.contains(n), "\(label): '\(message)' lacks '\(n)'") }
        }
        // The writers validate the same way, and write nothing.
        try withTemporaryDirectory("bitnet-bad") { dir in
            var w = good
            w.tensors[q] = nil
            #expect(throws: BitNetError.missingTensor(q)) { try w.writeHuggingFace(to: dir + "/hf", tokenizer: nil) }
            #expect(throws: BitNetError.missingTensor(q)) { try w.writeGGUF(to: dir + "/m.gguf", format: .tq2_0, tokenizer: nil) }
            #expect(!FileManager.default.fileExists(atPath: dir + "/m.gguf") && !FileManager.default.fileExists(atPath: dir + "/hf"))
            // A layout that cannot hold the matrix: one scale per row in the Hugging Face layout.
            var perRow = good
            perRow.tensors[q] = .ternary(TernaryMatrix.quantizing((0..<65536).map { Float($0 % 7) - 3 }, rows: 256, columns: 256, perRow: true))
            do throws(BitNetError) { try perRow.writeHuggingFace(to: dir + "/hf", tokenizer: nil); Issue.record("no error") } catch {
                #expect(error.description.contains(q) && error.description.contains("scale per row"))
            }
            // …which GGUF keeps: TQ2_0 per row (fp16 scales) or as F32 (float32 scales), I2_S as F32.
            for format in GGUFTernaryFormat.allCases {
                for weights in [perRow, halfScales(perRow)] {
                    try weights.writeGGUF(to: dir + "/m.gguf", format: format, tokenizer: nil)
                    #expect(try logits(BitNetModel.load(path: dir + "/m.gguf"), [1, 2, 3]) == logits(BitNetModel(weights: weights), [1, 2, 3]))
                }
            }
            // A tokenizer larger than the vocabulary.
            let big = Tokenizer(pieces: (0..<200).map { [UInt8($0)] })
            #expect(throws: BitNetError.self) { try good.writeGGUF(to: dir + "/t.gguf", format: .i2_s, tokenizer: big) }
        }
    }
}
