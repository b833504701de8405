import BitKernels
import Foundation

/// How `writeGGUF` stores the ternary matrices.
///
/// ```swift
/// for format in GGUFTernaryFormat.allCases { try weights.writeGGUF(to: "m-\(format).gguf", format: format, tokenizer: nil) }
/// ```
public enum GGUFTernaryFormat: String, Sendable, CaseIterable {
    /// llama.cpp's TQ2_0: blocks of 256 weights with an fp16 scale (2.06 bits per weight). A
    /// per-tensor scale that is no fp16 goes, exactly, into llama.cpp's optional F32
    /// `blk.{i}.{name}.scale` tensor (the blocks then hold 1). Rows whose length is not a multiple
    /// of 256 are stored as F16 (F32 for per-row scales that are no fp16), as llama.cpp's
    /// converter falls back to a float type.
    case tq2_0
    /// bitnet.cpp's I2_S: 2 bits per weight and one float32 scale per tensor (exact). A matrix
    /// whose nonzero rows have different scales, or whose size is not a multiple of 128, is
    /// stored as a float tensor instead, as TQ2_0's fallback.
    case i2_s
}

extension Float {
    /// True when the value converts to fp16 and back unchanged.
    var isExactHalf: Bool { Float(Float16(self)) == self }
}

extension DecoderLayer {
    /// GGUF names of a layer's parts, between `blk.{i}.` and `.weight`.
    static let ggufNames: [Part: String] = [
        .inputNorm: "attn_norm", .attentionSubNorm: "attn_sub_norm", .postAttentionNorm: "ffn_norm",
        .ffnSubNorm: "ffn_sub_norm", .q: "attn_q", .k: "attn_k", .v: "attn_v", .o: "attn_output",
        .gate: "ffn_gate", .up: "ffn_up", .down: "ffn_down",
    ]
}

extension BitNetWeights {
    /// Writes a GGUF file (version 3) atomically: `general.architecture` "bitnet" and the
    /// `bitnet.*` hyperparameters, the ternary matrices in `format`, norms in F32, the embedding
    /// (and an untied `output.weight`) in BF16 when every value is exactly a bf16 and F32
    /// otherwise; with a tokenizer, its vocabulary as `tokenizer.ggml.*` (model "gpt2", byte-level
    /// tokens padded to the model's vocabulary with unused `[PADi]` entries, merges), which
    /// `Tokenizer.load(modelPath:)` reads back. `BitNetModel.load` reads the file.
    ///
    /// ```swift
    /// try weights.writeGGUF(to: "out/model-i2_s.gguf", format: .i2_s, tokenizer: tok)
    /// let model = try BitNetModel.load(path: "out/model-i2_s.gguf")
    /// ```
    public func writeGGUF(to path: String, format: GGUFTernaryFormat, tokenizer: Tokenizer?) throws(BitNetError) {
        try validate()
        if let tokenizer { try checkVocabulary(of: tokenizer) }
        let c = config
        var g = GGUFWriter()
        g.string("general.architecture", "bitnet")
        g.string("general.name", "bitnet")
        g.uint32("general.alignment", UInt32(GGUFWriter.alignment))
        for (key, value) in [("vocab_size", c.vocabularySize), ("context_length", c.maxPositions), ("embedding_length", c.hiddenSize),
                             ("block_count", c.layerCount), ("feed_forward_length", c.intermediateSize),
                             ("attention.head_count", c.headCount), ("attention.head_count_kv", c.kvHeadCount),
                             ("rope.dimension_count", c.headDimension)] {
            guard let v = UInt32(exactly: value) else { throw .invalidConfig("\(key) \(value) does not fit GGUF's uint32") }
            g.uint32("bitnet." + key, v)
        }
        g.float32("bitnet.rope.freq_base", Float(c.ropeTheta))
        g.float32("bitnet.attention.layer_norm_rms_epsilon", c.rmsNormEpsilon)
        if let tokenizer { tokenizer.writeGGUFMetadata(into: &g, vocabularySize: c.vocabularySize) } else {
            g.string("tokenizer.ggml.model", "none")
        }

        for (name, shape, isTernary) in Self.tensorShapes(for: c) {
            let ggufName = Self.ggufName(name)
            let dims = Array(shape.reversed())  // ggml: the fastest-varying dimension first
            if isTernary {
                let (type, data, scale) = try Self.ggufTernary(ternary(name), name: name, format: format)
                g.tensor(ggufName, dims: dims, type: type, data: data)
                if let scale {  // llama.cpp's optional per-tensor multiplier of a BitNet projection
                    g.tensor(String(ggufName.dropLast(".weight".count)) + ".scale", dims: [1], type: GGUFFile.f32,
                             data: littleEndianBytes([scale.bitPattern]))
                }
            } else if shape.count == 1 {
                g.tensor(ggufName, dims: dims, type: GGUFFile.f32, data: littleEndianBytes(floats(name).map(\.bitPattern)))
            } else {
                let e = SafeTensorsEntry.floats(name, shape: shape, floats(name))
                g.tensor(ggufName, dims: dims, type: e.dtype == .bf16 ? GGUFFile.bf16 : GGUFFile.f32, data: e.data)
            }
        }
        try write(g.takeBytes(), to: path)
    }

    /// The GGUF name of a Hugging Face tensor name.
    static func ggufName(_ name: String) -> String {
        switch name {
        case "model.embed_tokens.weight": return "token_embd.weight"
        case "model.norm.weight": return "output_norm.weight"
        case "lm_head.weight": return "output.weight"
        default:
            let fields = name.split(separator: ".")  // model.layers.{i}.…
            for (part, hf) in DecoderLayer.huggingFaceNames where name.hasSuffix("." + hf + (part.isLinear ? ".weight" : "")) {
                return "blk.\(fields[2]).\(DecoderLayer.ggufNames[part]!).weight"
            }
            preconditionFailure("no GGUF name for '\(name)'")
        }
    }

    /// A ternary matrix in `format`, exactly, and the per-tensor multiplier to write as llama.cpp's
    /// optional `.scale` tensor (F32 [1]) when the blocks cannot carry the scale: TQ2_0 blocks hold
    /// an fp16 scale, so a float32 one goes there with unit blocks. Where the format cannot hold
    /// the matrix (TQ2_0 rows not a multiple of 256, I2_S sizes not a multiple of 128, different
    /// scales on nonzero rows), a float tensor as llama.cpp's converter falls back to: F16 holding
    /// scale × {-1, 0, 1} (fp16 scales), F16 {-1, 0, 1} and a `.scale` (one float32 scale), or
    /// F32 (float32 scales per row).
    static func ggufTernary(_ m: TernaryMatrix, name: String, format: GGUFTernaryFormat) throws(BitNetError)
        -> (type: UInt32, data: [UInt8], scale: Float?)
    {
        let common = m.commonScale, halfScales = m.rowScales.allSatisfy(\.isExactHalf)
        do {
            switch format {
            case .tq2_0 where m.columns % 256 == 0 && halfScales:
                return (GGUFFile.tq2_0, try m.tq2_0(), nil)
            case .tq2_0 where m.columns % 256 == 0 && common != nil:
                return (GGUFFile.tq2_0, try m.withScale(1).tq2_0(), common!)
            case .i2_s where (m.rows * m.columns) % 128 == 0 && common != nil:
                return (GGUFFile.i2_s, try m.withScale(common!).i2_s(), nil)
            default:
                break
            }
        } catch { throw .unsupported("tensor '\(name)' as \(format.rawValue): \(error)") }
        let v = m.values
        func floats(_ scales: [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: v.count)
            for r in 0..<m.rows {
                for c in 0..<m.columns { out[r * m.columns + c] = scales[r] * Float(v[r * m.columns + c]) }
            }
            return out
        }
        if halfScales {
            return (GGUFFile.f16, littleEndianBytes(floats(m.rowScales).map { Float16($0).bitPattern }), nil)
        }
        if let common {
            return (GGUFFile.f16, littleEndianBytes(floats([Float](repeating: 1, count: m.rows)).map { Float16($0).bitPattern }), common)
        }
        return (GGUFFile.f32, littleEndianBytes(floats(m.rowScales).map(\.bitPattern)), nil)
    }
}

extension Tokenizer {
    /// `tokenizer.ggml.*` for a byte-level BPE: tokens 0 ..< `vocabularySize` (byte-level text;
    /// special tokens as their text with type 3, ids the tokenizer lacks as `[PADi]` of type 5,
    /// unused, which `Tokenizer.load(modelPath:)` skips), and
    /// every merge as "a b". `pre` is "llama-bpe" for LLaMA-3's split pattern, "default" otherwise.
    func writeGGUFMetadata(into g: inout GGUFWriter, vocabularySize: Int) {
        var tokens = (0..<vocabularySize).map { "[PAD\($0)]" }
        var types = [Int32](repeating: 5, count: vocabularySize)  // llama.cpp: 1 normal, 3 control, 5 unused
        for (id, bytes) in ordinaryTokens where id < vocabularySize {
            tokens[id] = Self.byteLevelText(bytes)
            types[id] = 1
        }
        for (text, id) in specialTokens where id < vocabularySize {
            tokens[id] = text
            types[id] = 3
        }
        g.string("tokenizer.ggml.model", "gpt2")
        g.string("tokenizer.ggml.pre", pattern == Self.llama3Pattern ? "llama-bpe" : "default")
        g.stringArray("tokenizer.ggml.tokens", tokens)
        g.int32Array("tokenizer.ggml.token_type", types)
        g.stringArray("tokenizer.ggml.merges", mergePairs().map { Self.byteLevelText($0.first) + " " + Self.byteLevelText($0.second) })
    }
}

/// Builds a GGUF file in memory: metadata in the order added, then the tensor directory and the
/// data, each tensor at an offset aligned to `alignment`.
struct GGUFWriter {
    static let alignment = 32
    private var metadata: [UInt8] = []
    private var metadataCount = 0
    private var tensors: [(name: String, dims: [Int], type: UInt32, data: [UInt8])] = []

    private static func append<T: FixedWidthInteger>(_ v: T, to out: inout [UInt8]) {
        var le = v.littleEndian
        withUnsafeBytes(of: &le) { out.append(contentsOf: $0) }
    }
    private static func append(_ s: String, to out: inout [UInt8]) {
        append(UInt64(s.utf8.count), to: &out)
        out.append(contentsOf: s.utf8)
    }
    private mutating func key(_ k: String, type: UInt32) {
        Self.append(k, to: &metadata)
        Self.append(type, to: &metadata)
        metadataCount += 1
    }

    mutating func string(_ k: String, _ v: String) { key(k, type: 8); Self.append(v, to: &metadata) }
    mutating func uint32(_ k: String, _ v: UInt32) { key(k, type: 4); Self.append(v, to: &metadata) }
    mutating func float32(_ k: String, _ v: Float) { key(k, type: 6); Self.append(v.bitPattern, to: &metadata) }
    mutating func stringArray(_ k: String, _ v: [String]) {
        key(k, type: 9)
        Self.append(UInt32(8), to: &metadata)
        Self.append(UInt64(v.count), to: &metadata)
        for s in v { Self.append(s, to: &metadata) }
    }
    mutating func int32Array(_ k: String, _ v: [Int32]) {
        key(k, type: 9)
        Self.append(UInt32(5), to: &metadata)
        Self.append(UInt64(v.count), to: &metadata)
        for x in v { Self.append(x, to: &metadata) }
    }
    mutating func tensor(_ name: String, dims: [Int], type: UInt32, data: [UInt8]) { tensors.append((name, dims, type, data)) }

    private static func padded(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    /// The file; each tensor's data is released once copied (the writer ends without tensors).
    mutating func takeBytes() -> [UInt8] {
        var out: [UInt8] = []
        Self.append(UInt32(0x4655_4747), to: &out)  // "GGUF"
        Self.append(UInt32(3), to: &out)
        Self.append(UInt64(tensors.count), to: &out)
        Self.append(UInt64(metadataCount), to: &out)
        out += metadata
        var offset = 0
        for t in tensors {
            Self.append(t.name, to: &out)
            Self.append(UInt32(t.dims.count), to: &out)
            for d in t.dims { Self.append(UInt64(d), to: &out) }
            Self.append(t.type, to: &out)
            Self.append(UInt64(offset), to: &out)
            offset = Self.padded(offset + t.data.count)
        }
        out += [UInt8](repeating: 0, count: Self.padded(out.count) - out.count)
        out.reserveCapacity(out.count + offset)
        for i in tensors.indices {
            out += tensors[i].data
            out += [UInt8](repeating: 0, count: Self.padded(tensors[i].data.count) - tensors[i].data.count)
            tensors[i].data = []
        }
        tensors = []
        return out
    }
}
