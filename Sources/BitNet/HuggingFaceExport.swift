import BitKernels
import Foundation

extension BitNetWeights {
    /// Writes the released Hugging Face layout (microsoft/bitnet-b1.58-2B-4T's) into `directory`
    /// (created if missing), each file atomically: `model.safetensors` with every BitLinear weight
    /// packed four output rows per byte (U8 `[out / 4, in]`) and its `weight_scale` `[1]`, the
    /// other tensors in BF16 when every value is exactly a bf16 and F32 otherwise (so trained
    /// weights stay exact); with a tokenizer, `tokenizer.json` and `tokenizer_config.json`; then
    /// `config.json` (`BitNetForCausalLM`, `autobitlinear` offline quantization, `weight_scale`
    /// multiplying), last, so a directory with a config is complete. `BitNetModel.load` and
    /// transformers read the result. Throws if a matrix has more than one scale or a row count
    /// that is not a multiple of 4 (the layout cannot hold them), naming the tensor. Other files in
    /// the directory stay as they are (so does a `tokenizer.json` when `tokenizer` is nil).
    ///
    /// ```swift
    /// let tok = Tokenizer(pieces: chars.map { Array(String($0).utf8) })
    /// try weights.writeHuggingFace(to: "out/bitnet-shakespeare", tokenizer: tok)
    /// ```
    public func writeHuggingFace(to directory: String, tokenizer: Tokenizer?) throws(BitNetError) {
        try validate()
        if let tokenizer { try checkVocabulary(of: tokenizer) }
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw .cannotWrite(path: directory, reason: "cannot create the directory (\(error.localizedDescription))")
        }
        var entries: [SafeTensorsEntry] = []
        var anyFloat32 = false
        for (name, shape, isTernary) in Self.tensorShapes(for: config) {
            if isTernary {
                let m = ternary(name)
                guard m.rows % 4 == 0 else {
                    throw .unsupported("tensor '\(name)' has \(m.rows) rows; the Hugging Face layout packs 4 rows per byte")
                }
                guard let scale = m.commonScale else {
                    throw .unsupported("tensor '\(name)' has a scale per row; the Hugging Face layout keeps one per tensor")
                }
                let packed: [UInt8]
                do { packed = try m.withScale(scale).huggingFacePacked() } catch { throw .unsupported("tensor '\(name)': \(error)") }
                entries.append(SafeTensorsEntry(name: name, dtype: .u8, shape: [m.rows / 4, m.columns], data: packed))
                entries.append(.floats(name + "_scale", shape: [1], [scale]))
            } else {
                let e = SafeTensorsEntry.floats(name, shape: shape, floats(name))
                anyFloat32 = anyFloat32 || e.dtype == .f32
                entries.append(e)
            }
        }
        let path = directory + "/model.safetensors"
        try write(safeTensorsBytes(&entries), to: path)
        if let tokenizer {
            try write(Array((tokenizer.huggingFaceJSON().text() + "\n").utf8), to: directory + "/tokenizer.json")
            try write(Array((tokenizer.huggingFaceConfigJSON(maxLength: config.maxPositions).text() + "\n").utf8),
                      to: directory + "/tokenizer_config.json")
        }
        try write(Array((config.huggingFaceJSON(dtype: anyFloat32 ? "float32" : "bfloat16").text() + "\n").utf8),
                  to: directory + "/config.json")
    }

    /// The tokenizer's ids must fit the embedding.
    func checkVocabulary(of tokenizer: Tokenizer) throws(BitNetError) {
        guard tokenizer.vocabularySize <= config.vocabularySize else {
            throw .invalidConfig("the tokenizer has \(tokenizer.vocabularySize) ids but the model's vocabulary is \(config.vocabularySize)")
        }
    }
}

extension TernaryMatrix {
    /// The scale shared by every row that has a nonzero weight (an all-zero row computes 0 with
    /// any scale, and loaders give such rows 0), 1 for an all-zero matrix, nil when rows differ.
    var commonScale: Float? {
        if let first = rowScales.first, rowScales.allSatisfy({ $0 == first }) { return first }
        let v = values
        var common: Float?
        for r in 0..<rows where v[(r * columns)..<((r + 1) * columns)].contains(where: { $0 != 0 }) {
            if common == nil { common = rowScales[r] } else if common != rowScales[r] { return nil }
        }
        return common ?? 1
    }

    /// The same weights with `scale` for every row (self when it already has it).
    func withScale(_ scale: Float) -> TernaryMatrix {
        if rowScales.allSatisfy({ $0 == scale }) { return self }
        return try! TernaryMatrix(values: values, rows: rows, columns: columns, scale: scale)  // values from a valid matrix
    }
}

/// Writes a file atomically (`writeAtomically`), as a `BitNetError`.
func write(_ bytes: [UInt8], to path: String) throws(BitNetError) {
    do { try writeAtomically(bytes, to: path) } catch { throw .cannotWrite(path: path, reason: error.reason) }
}

/// One tensor of a safetensors file being written.
struct SafeTensorsEntry {
    let name: String
    let dtype: DType
    let shape: [Int]
    var data: [UInt8]

    /// BF16 when every value is exactly a bf16, else F32; little-endian.
    static func floats(_ name: String, shape: [Int], _ values: [Float]) -> SafeTensorsEntry {
        if values.allSatisfy(\.isExactBFloat16) {
            return SafeTensorsEntry(name: name, dtype: .bf16, shape: shape, data: littleEndianBytes(values.map { UInt16($0.bitPattern >> 16) }))
        }
        return SafeTensorsEntry(name: name, dtype: .f32, shape: shape, data: littleEndianBytes(values.map(\.bitPattern)))
    }
}

/// The words' bytes, little-endian (a plain copy on little-endian machines).
func littleEndianBytes<T: FixedWidthInteger>(_ words: [T]) -> [UInt8] {
    if 1.littleEndian == 1 { return words.withUnsafeBytes { Array($0) } }
    var out = [UInt8]()
    out.reserveCapacity(words.count * MemoryLayout<T>.size)
    for w in words {
        var v = w.littleEndian
        withUnsafeBytes(of: &v) { out.append(contentsOf: $0) }
    }
    return out
}

/// The bytes of a safetensors file: the 8-byte header length, the JSON header (padded with spaces
/// to a multiple of 8), the data with no holes. Tensors go widest dtype first so each stays
/// aligned to its element size, then in the given order. Each entry's data is released once
/// copied (`entries` ends empty), so the file and the entries are not both held whole.
func safeTensorsBytes(_ entries: inout [SafeTensorsEntry]) -> [UInt8] {
    entries = entries.enumerated().sorted { ($0.element.dtype.size, -$0.offset) > ($1.element.dtype.size, -$1.offset) }.map(\.element)
    var members: [(String, JSONText)] = [("__metadata__", .object([("format", .string("pt"))]))]
    var offset = 0
    for e in entries {
        members.append((e.name, .object([("dtype", .string(e.dtype.rawValue)), ("shape", .array(e.shape.map { .int($0) })),
                                         ("data_offsets", .array([.int(offset), .int(offset + e.data.count)]))])))
        offset += e.data.count
    }
    var header = Array(JSONText.object(members).text(pretty: false).utf8)
    while header.count % 8 != 0 { header.append(0x20) }
    var out = littleEndianBytes([UInt64(header.count)])
    out.reserveCapacity(8 + header.count + offset)
    out += header
    for i in entries.indices {
        out += entries[i].data
        entries[i].data = []
    }
    entries = []
    return out
}

extension BitNetConfig {
    /// `config.json` as transformers' `BitNetConfig` writes it, with the top-level `rope_theta` and
    /// `torch_dtype` the released checkpoint's config also carries. Always `autobitlinear`: the
    /// exported `weight_scale` multiplies.
    func huggingFaceJSON(dtype: String) -> JSONText {
        .object([
            ("architectures", .array([.string("BitNetForCausalLM")])),
            ("attention_bias", .bool(false)), ("attention_dropout", .double(0)),
            ("bos_token_id", .null), ("eos_token_id", .null),
            ("hidden_act", .string("relu2")), ("hidden_size", .int(hiddenSize)), ("initializer_range", .double(0.02)),
            ("intermediate_size", .int(intermediateSize)), ("max_position_embeddings", .int(maxPositions)),
            ("model_type", .string("bitnet")), ("num_attention_heads", .int(headCount)), ("num_hidden_layers", .int(layerCount)),
            ("num_key_value_heads", .int(kvHeadCount)), ("pad_token_id", .null),
            ("quantization_config", .object([("linear_class", .string("autobitlinear")), ("quant_method", .string("bitnet")),
                                              ("quantization_mode", .string("offline"))])),
            ("rms_norm_eps", .double(Double(shortestOf: rmsNormEpsilon))),
            ("rope_parameters", .object([("rope_theta", .double(ropeTheta)), ("rope_type", .string("default"))])),
            ("rope_theta", .double(ropeTheta)),
            ("tie_word_embeddings", .bool(tiedEmbeddings)), ("torch_dtype", .string(dtype)), ("use_cache", .bool(true)),
            ("vocab_size", .int(vocabularySize)),
        ])
    }
}
