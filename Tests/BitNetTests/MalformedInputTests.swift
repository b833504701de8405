import BitNet
import Foundation
import TestSupport
import Testing

/// A GGUF file taken apart and put back together, so a test can change one key or one tensor's
/// offset and write the result (metadata payloads are kept as raw bytes).
struct GGUFBuilder {
    var version: UInt32
    var metadata: [(key: String, type: UInt32, payload: [UInt8])] = []
    var tensors: [(name: String, dims: [UInt64], type: UInt32, offset: UInt64)] = []
    var data: [UInt8] = []
    var alignment = 32
    /// Where the parsed file keeps its integers (counts, lengths, types, dimensions, offsets).
    var integerFields: [(offset: Int, size: Int)] = []

    init(parsing b: [UInt8]) {
        var o = 4
        var fields: [(offset: Int, size: Int)] = []
        func u32() -> UInt32 { fields.append((o, 4)); defer { o += 4 }; return b[o..<(o + 4)].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
        func u64() -> UInt64 { fields.append((o, 8)); defer { o += 8 }; return b[o..<(o + 8)].reversed().reduce(0) { $0 << 8 | UInt64($1) } }
        func string() -> String { let n = Int(u64()); defer { o += n }; return String(decoding: b[o..<(o + n)], as: UTF8.self) }
        func skip(_ type: UInt32) {
            switch type {
            case 0, 1, 7: o += 1
            case 2, 3: o += 2
            case 4, 5, 6: o += 4
            case 10, 11, 12: o += 8
            case 8: _ = string()
            default:
                let t = u32(), n = u64()
                for _ in 0..<n { skip(t) }
            }
        }
        version = u32()
        let tensorCount = u64(), kvCount = u64()
        for _ in 0..<kvCount {
            let key = string(), type = u32(), start = o
            skip(type)
            metadata.append((key, type, Array(b[start..<o])))
        }
        for _ in 0..<tensorCount {
            let name = string(), n = u32()
            let dims = (0..<n).map { _ in u64() }
            tensors.append((name, dims, u32(), u64()))
        }
        data = Array(b[((o + 31) / 32 * 32)...])
        integerFields = fields
    }

    mutating func set(_ key: String, type: UInt32, _ payload: [UInt8]) {
        if let i = metadata.firstIndex(where: { $0.key == key }) { metadata[i] = (key, type, payload) } else { metadata.append((key, type, payload)) }
    }
    mutating func set(_ key: String, uint64 v: UInt64) { set(key, type: 10, le(v)) }
    mutating func set(_ key: String, float32 v: Float) { set(key, type: 6, le(v.bitPattern)) }
    mutating func set(_ key: String, int32 v: Int32) { set(key, type: 5, le(UInt32(bitPattern: v))) }

    func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    func bytes() -> [UInt8] {
        var out = Array("GGUF".utf8) + le(version) + le(UInt64(tensors.count)) + le(UInt64(metadata.count))
        func string(_ s: String) { out += le(UInt64(s.utf8.count)) + Array(s.utf8) }
        for m in metadata { string(m.key); out += le(m.type) + m.payload }
        for t in tensors {
            string(t.name)
            out += le(UInt32(t.dims.count))
            for d in t.dims { out += le(d) }
            out += le(t.type) + le(t.offset)
        }
        out += [UInt8](repeating: 0, count: (alignment - out.count % alignment) % alignment)
        return out + data
    }

    /// Where tensor `name`'s bytes start in `data`.
    func dataOffset(_ name: String) -> Int { Int(tensors.first { $0.name == name }!.offset) }
}

func write(_ bytes: [UInt8], to path: String) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

/// The error a load gives, as text (or a note that it loaded).
func loadError(_ path: String) -> String {
    do {
        _ = try BitNetModel.load(path: path)
        return "loaded"
    } catch { return error.description }
}

/// One test per class of issue 15's malformed files: each builds the bad input, expects the
/// specific one-line error, and removes its files.
@Suite struct MalformedModelTests {
    static let fixtureGGUF = try! [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixture.directory + "/model.gguf")))
    static let fixtureSafetensors = try! [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixture.directory + "/model.safetensors")))
    static let config = try! String(contentsOfFile: Fixture.directory + "/config.json", encoding: .utf8)

    func gguf(_ name: String, in dir: String, _ change: (inout GGUFBuilder) -> Void) throws -> String {
        var g = GGUFBuilder(parsing: Self.fixtureGGUF)
        change(&g)
        let path = "\(dir)/\(name).gguf"
        try write(g.bytes(), to: path)
        return path
    }

    @Test func builderRoundTripsTheFixture() throws {
        #expect(GGUFBuilder(parsing: Self.fixtureGGUF).bytes() == Self.fixtureGGUF)
    }

    /// Class 1: a NaN or infinity in any float tensor (f32 norm, bf16 embedding, safetensors
    /// weight_scale) names the tensor; out-of-range rope theta and epsilon name the key.
    @Test func nonFiniteWeightsAndBadRangesAreNamed() throws {
        try withTemporaryDirectory("bitnet-finite") { dir in
            let nanNorm = try gguf("nan-norm", in: dir) { g in
                let at = g.dataOffset("output_norm.weight") + 4 * 7
                g.data.replaceSubrange(at..<(at + 4), with: g.le(Float.nan.bitPattern))
            }
            #expect(loadError(nanNorm) == "\(nanNorm) is malformed: tensor 'output_norm.weight': element 7 is nan (weights must be finite)")
            let infEmbedding = try gguf("inf-embedding", in: dir) { g in
                let at = g.dataOffset("token_embd.weight") + 2 * 300
                g.data.replaceSubrange(at..<(at + 2), with: [0x80, 0x7f])  // bf16 +inf
            }
            #expect(loadError(infEmbedding).contains("tensor 'token_embd.weight': element 300 is inf"))
            for (key, value, expected) in [("bitnet.rope.freq_base", Float(0), "must be a finite number ≥ 1e-6"),
                                           ("bitnet.rope.freq_base", -Float.infinity, "must be a finite number ≥ 1e-6"),
                                           ("bitnet.attention.layer_norm_rms_epsilon", -1, "must be a finite number > 0"),
                                           ("bitnet.attention.layer_norm_rms_epsilon", 0, "must be a finite number > 0"),
                                           ("bitnet.attention.layer_norm_rms_epsilon", .nan, "must be a finite number > 0")] {
                let path = try gguf("range", in: dir) { $0.set(key, float32: value) }
                #expect(loadError(path) == "\(path) is malformed: '\(key)' = \(value) \(expected)")
            }
            let tinyTheta = try gguf("theta", in: dir) { $0.set("bitnet.rope.freq_base", float32: 1e-30) }
            #expect(loadError(tinyTheta).contains("'bitnet.rope.freq_base' = 1.0000000031710769e-30 must be a finite number ≥ 1e-6"))
            let negativeContext = try gguf("context", in: dir) { $0.set("bitnet.context_length", int32: -1) }
            #expect(loadError(negativeContext).contains("'bitnet.context_length' = -1 is outside 1..."))

            // safetensors + config.json
            try Self.config.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
            let st = try SafetensorsLayout(Self.fixtureSafetensors)
            for (tensor, value) in [("model.norm.weight", Float.nan), ("model.layers.1.self_attn.q_proj.weight_scale", .infinity),
                                    ("model.embed_tokens.weight", .nan)] {
                var bytes = Self.fixtureSafetensors
                st.poke(&bytes, tensor: tensor, element: 0, value: value)
                try write(bytes, to: dir + "/model.safetensors")
                #expect(loadError(dir).contains("tensor '\(tensor)': element 0 is \(value)"), "\(loadError(dir))")
            }
            try write(Self.fixtureSafetensors, to: dir + "/model.safetensors")
            #expect(loadError(dir) == "loaded")
            for (key, value, expected) in [("rope_theta", "0", "'rope_theta' = 0.0 must be a finite number ≥ 1e-6"),
                                           ("rms_norm_eps", "-1", "'rms_norm_eps' = -1.0 must be a finite number > 0"),
                                           ("max_position_embeddings", "-1", "'max_position_embeddings' = -1 is outside 1...4194304"),
                                           ("max_position_embeddings", "4000000", "'max_position_embeddings' = 4000000 needs a 7 GiB KV cache (limit 4 GiB)"),
                                           ("vocab_size", "100000000000", "'vocab_size' = 100000000000 is outside 1...4194304"),
                                           ("num_key_value_heads", "3", "'num_key_value_heads' = 3 does not divide"),
                                           ("rope_theta", "\"big\"", "'rope_theta' = big is not a number")] {
                let edited = Self.config.replacingOccurrences(
                    of: #""\#(key)": [^,}\n]*"#, with: "\"\(key)\": \(value)", options: .regularExpression)
                #expect(edited != Self.config, "\(key) not in the fixture config")
                try edited.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
                let e = loadError(dir)
                #expect(e.hasPrefix("\(dir)/config.json is malformed: ") && e.contains(expected), "\(e)")
            }
        }
    }

    /// Class 1: finite weights so large that activations would overflow (a norm weight of 1e30)
    /// are refused at load, naming the layer part; the fixture's own magnitudes load.
    @Test func weightsTooLargeForFiniteActivations() throws {
        try withTemporaryDirectory("bitnet-huge") { dir in
            for (tensor, part) in [("blk.0.attn_norm.weight", "layer 0 input norm"), ("blk.1.ffn_sub_norm.weight", "layer 1 FFN sub-norm"),
                                   ("output_norm.weight", "the final norm")] {
                let path = try gguf("huge", in: dir) { g in
                    let at = g.dataOffset(tensor) + 4
                    g.data.replaceSubrange(at..<(at + 4), with: g.le(Float(1e30).bitPattern))
                }
                #expect(loadError(path).contains("weights too large to keep activations finite: \(part) reaches 1e+30"), "\(loadError(path))")
            }
            let head = try gguf("huge-embedding", in: dir) { g in
                let at = g.dataOffset("token_embd.weight") + 2 * 5
                g.data.replaceSubrange(at..<(at + 2), with: [0x7f, 0x7f])  // bf16 3.4e38, finite
            }
            #expect(loadError(head).contains("weights too large to keep logits finite: the LM head reaches"), "\(loadError(head))")
            let m = try BitNetModel.load(path: try gguf("fine", in: dir) { _ in })
            #expect(try m.forward([1, 2, 3], cache: m.makeCache(capacity: 4)).allSatisfy(\.isFinite))
        }
    }

    /// Class 2: integers outside Int (GGUF UINT64 ≥ 2^63, safetensors header lengths near 2^64).
    @Test func integersOutsideIntAreErrors() throws {
        try withTemporaryDirectory("bitnet-ints") { dir in
            for key in ["bitnet.embedding_length", "bitnet.vocab_size", "bitnet.attention.head_count", "bitnet.context_length",
                        "bitnet.attention.head_count_kv", "bitnet.block_count"] {
                for v: UInt64 in [1 << 63, .max] {
                    let path = try gguf("u64", in: dir) { $0.set(key, uint64: v) }
                    #expect(loadError(path) == "\(path) is malformed: metadata '\(key)' = \(v) is not an integer in range")
                }
            }
            let alignment = try gguf("align", in: dir) { $0.set("general.alignment", uint64: .max) }
            #expect(loadError(alignment) == "\(alignment) is malformed: general.alignment \(UInt64.max) is not a power of two up to 2^20")
            // A token type ≥ 2^63 in a GGUF vocabulary.
            var g = GGUFBuilder(parsing: try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixture.directory + "/../bitnet-tiny-i2s.gguf"))))
            g.set("tokenizer.ggml.token_type", type: 9, g.le(UInt32(10)) + g.le(UInt64(2)) + g.le(UInt64(1)) + g.le(UInt64.max))
            try write(g.bytes(), to: dir + "/types.gguf")
            #expect(throws: BitNetError.malformed(file: dir + "/types.gguf", reason: "metadata 'tokenizer.ggml.token_type'[1] = \(UInt64.max) is not a token type")) {
                try Tokenizer.load(modelPath: dir + "/types.gguf")
            }

            try Self.config.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
            for length: UInt64 in [.max, .max - 7, 1 << 63 - 1, 1 << 63] {
                var bytes = Self.fixtureSafetensors
                bytes.replaceSubrange(0..<8, with: withUnsafeBytes(of: length.littleEndian) { Array($0) })
                try write(bytes, to: dir + "/model.safetensors")
                #expect(loadError(dir) == "\(dir)/model.safetensors is malformed: header length \(length) exceeds the file (\(bytes.count) bytes): truncated?")
            }
        }
    }

    /// Class 3: metadata arrays nested 100,000 deep (1.2 MB) are an error, not a stack overflow.
    @Test func deeplyNestedArraysAreAnError() throws {
        try withTemporaryDirectory("bitnet-nested") { dir in
            for depth in [9, 100_000] {
                let path = try gguf("nested", in: dir) { g in
                    var payload: [UInt8] = []
                    for _ in 0..<depth { payload += g.le(UInt32(9)) + g.le(UInt64(1)) }
                    payload += g.le(UInt32(4)) + g.le(UInt64(0))
                    g.metadata.insert(("evil", 9, payload), at: 0)
                }
                #expect(loadError(path) == "\(path) is malformed: metadata 'evil': arrays nested deeper than 8")
            }
            let ok = try gguf("nested8", in: dir) { g in
                var payload: [UInt8] = []
                for _ in 0..<7 { payload += g.le(UInt32(9)) + g.le(UInt64(1)) }
                payload += g.le(UInt32(4)) + g.le(UInt64(0))
                g.set("fine", type: 9, payload)
            }
            #expect(loadError(ok) == "loaded")
            // An array declaring more elements than the bytes left.
            let huge = try gguf("huge", in: dir) { $0.set("huge", type: 9, $0.le(UInt32(0)) + $0.le(UInt64.max)) }
            #expect(loadError(huge).contains("metadata 'huge': an array of \(UInt64.max) elements does not fit in the file"))
        }
    }

    /// Class 4: misaligned tensor offsets name the tensor and the offset.
    @Test func misalignedOffsetsAreNamed() throws {
        try withTemporaryDirectory("bitnet-align") { dir in
            for shift: UInt64 in [1, 2, 31, 33] {
                let path = try gguf("misaligned", in: dir) { g in
                    let i = g.tensors.firstIndex { $0.name == "blk.3.attn_q.weight" }!
                    g.tensors[i].offset += shift
                }
                let original = GGUFBuilder(parsing: Self.fixtureGGUF).dataOffset("blk.3.attn_q.weight")
                #expect(loadError(path) == "\(path) is malformed: tensor 'blk.3.attn_q.weight': offset \(UInt64(original) + shift) not aligned to 32")
            }
        }
    }

    /// Classes 7 and 9 (file side): sizes beyond the file, and inputs that are not regular files.
    @Test func nonRegularFilesAreRefusedWithoutBlocking() throws {
        try withTemporaryDirectory("bitnet-fifo") { dir in
            let fifo = dir + "/fifo"
            #expect(mkfifo(fifo, 0o600) == 0)
            #expect(loadError(fifo) == "\(fifo): not a regular file (a FIFO)")
            #expect(throws: BitNetError.unreadable(file: fifo, reason: "not a regular file (a FIFO)")) { try Tokenizer.load(file: fifo) }
            #expect(throws: BitNetError.unreadable(file: fifo, reason: "not a regular file (a FIFO)")) { try Tokenizer(tokenizerJSON: fifo) }
            #expect(throws: BitNetError.unreadable(file: fifo, reason: "not a regular file (a FIFO)")) { try Tokenizer(tiktokenFile: fifo) }
            #expect(throws: BitNetError.unreadable(file: "/dev/null", reason: "not a regular file (a character device)")) {
                try BitNetModel.load(path: "/dev/null")
            }
            // A checkpoint directory whose config.json and model.safetensors are FIFOs.
            let model = dir + "/model"
            try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
            #expect(mkfifo(model + "/config.json", 0o600) == 0)
            #expect(loadError(model) == "\(model)/config.json: not a regular file (a FIFO)")
            try FileManager.default.removeItem(atPath: model + "/config.json")
            try Self.config.write(toFile: model + "/config.json", atomically: true, encoding: .utf8)
            #expect(mkfifo(model + "/model.safetensors", 0o600) == 0)
            #expect(loadError(model) == "\(model)/model.safetensors: not a regular file (a FIFO)")
            try FileManager.default.createDirectory(atPath: model + "/tokenizer.json", withIntermediateDirectories: true)
            #expect(throws: BitNetError.unreadable(file: model + "/tokenizer.json", reason: "not a regular file (a directory)")) {
                try Tokenizer.load(modelPath: model)
            }
            // The chat template's files too: a FIFO there is an error at once, a missing one is fine.
            #expect(try SpecialTokens(modelPath: model, tokenizer: nil).eos.isEmpty)
            #expect(mkfifo(model + "/tokenizer_config.json", 0o600) == 0)
            #expect(throws: BitNetError.unreadable(file: model + "/tokenizer_config.json", reason: "not a regular file (a FIFO)")) {
                try SpecialTokens(modelPath: model, tokenizer: nil)
            }
        }
    }

    /// Class 11 (file side): negative offsets are named as such, not as a size mismatch.
    @Test func negativeSafetensorsOffsetsAreNamed() throws {
        try withTemporaryDirectory("bitnet-offsets") { dir in
            try Self.config.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
            let st = try SafetensorsLayout(Self.fixtureSafetensors)
            let (name, range) = st.offsets.first { $0.key == "model.embed_tokens.weight" }!
            let header = String(decoding: Self.fixtureSafetensors[8..<st.dataStart], as: UTF8.self)
            let original = "[\(range.lowerBound),\(range.upperBound)]", replacement = "[-2,\(range.upperBound - 2)]"
            #expect(header.contains(original) || header.contains("[\(range.lowerBound), \(range.upperBound)]"))
            var edited = header.replacingOccurrences(of: original, with: replacement)
            edited = edited.replacingOccurrences(of: "[\(range.lowerBound), \(range.upperBound)]", with: replacement)
            edited += String(repeating: " ", count: max(0, header.utf8.count - edited.utf8.count))
            var bytes = Self.fixtureSafetensors
            bytes.replaceSubrange(8..<st.dataStart, with: Array(edited.utf8))
            bytes.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(edited.utf8.count).littleEndian) { Array($0) })
            try write(bytes, to: dir + "/model.safetensors")
            #expect(loadError(dir).contains("tensor '\(name)' has data_offsets [-2, \(range.upperBound - 2)]: negative or reversed"), "\(loadError(dir))")
        }
    }
}

/// The header of a safetensors file, enough to find a tensor's bytes.
struct SafetensorsLayout {
    let dataStart: Int
    let offsets: [String: Range<Int>]
    let dtypes: [String: String]

    init(_ b: [UInt8]) throws {
        let n = Int(b[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        dataStart = 8 + n
        let json = try JSONSerialization.jsonObject(with: Data(b[8..<(8 + n)])) as! [String: Any]
        var offsets: [String: Range<Int>] = [:], dtypes: [String: String] = [:]
        for (k, v) in json where k != "__metadata__" {
            let info = v as! [String: Any], o = info["data_offsets"] as! [Int]
            offsets[k] = o[0]..<o[1]
            dtypes[k] = info["dtype"] as? String
        }
        self.offsets = offsets
        self.dtypes = dtypes
    }

    /// Writes `value` as element `element` of a float tensor, in its dtype.
    func poke(_ b: inout [UInt8], tensor: String, element: Int, value: Float) {
        let start = dataStart + offsets[tensor]!.lowerBound
        switch dtypes[tensor] {
        case "F32": b.replaceSubrange((start + 4 * element)..<(start + 4 * element + 4), with: withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) })
        default:  // BF16 (F16 has no tensor in the fixture)
            let half = UInt16(value.bitPattern >> 16)
            b.replaceSubrange((start + 2 * element)..<(start + 2 * element + 2), with: withUnsafeBytes(of: half.littleEndian) { Array($0) })
        }
    }
}

@Suite struct MalformedTokenizerTests {
    static let tokenizerJSON = Fixture.directory + "/../tokenizer/tokenizer.json"

    /// Class 9: a split pattern that backtracks catastrophically stops with an error, quickly.
    @Test func catastrophicSplitPatternIsAnError() throws {
        try withTemporaryDirectory("bitnet-regex") { dir in
            var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.tokenizerJSON))) as! [String: Any]
            json["pre_tokenizer"] = ["type": "Split", "pattern": ["Regex": "(a+)+$"]]
            try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: dir + "/tokenizer.json"))
            let tok = try Tokenizer(tokenizerJSON: dir + "/tokenizer.json")
            #expect(try tok.encode("aaaa") == tok.encode("aaaa"))  // short text: fine
            let start = Date()
            #expect(throws: BitNetError.self) { try tok.encode(String(repeating: "a", count: 40) + "!") }
            #expect(Date().timeIntervalSince(start) < 10)
            do throws(BitNetError) { _ = try tok.encode(String(repeating: "a", count: 40) + "!") } catch {
                #expect(error.description.contains("the split pattern backtracks without bound"))
            }
        }
    }

    /// Class 11 (file side): a GGUF given as a tokenizer file, and a non-UTF-8 tiktoken file.
    @Test func wrongKindsOfTokenizerFilesAreNamed() throws {
        try withTemporaryDirectory("bitnet-tokfiles") { dir in
            let i2s = Fixture.directory + "/../bitnet-tiny-i2s.gguf"
            #expect(try Tokenizer.load(file: i2s).vocabularySize == 1000)  // its own vocabulary
            #expect(throws: BitNetError.malformed(file: Fixture.directory + "/model.gguf",
                                                  reason: "is a GGUF model without a GPT-2 style tokenizer (tokenizer.ggml.*)")) {
                try Tokenizer.load(file: Fixture.directory + "/model.gguf")
            }
            #expect(throws: BitNetError.malformed(file: i2s, reason: "is a GGUF model, not a tiktoken ranks file (a GGUF's tokenizer is read from the model itself)")) {
                try Tokenizer(tiktokenFile: i2s)
            }
            try write(Array("QQ== 9223372036854775807\n".utf8), to: dir + "/huge.tiktoken")
            #expect(throws: BitNetError.malformed(file: dir + "/huge.tiktoken", reason: "a token has id 9223372036854775807, outside 0...2147483647")) {
                try Tokenizer.load(file: dir + "/huge.tiktoken")
            }
            try write([0xff, 0xfe, 0x41, 0x20, 0x31, 0x0a], to: dir + "/latin1.tiktoken")
            #expect(throws: BitNetError.malformed(file: dir + "/latin1.tiktoken", reason: "not UTF-8 text: not a tiktoken ranks file")) {
                try Tokenizer.load(file: dir + "/latin1.tiktoken")
            }
        }
    }
}
