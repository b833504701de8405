import Foundation

/// Byte-level BPE (GPT-2 / tiktoken / LLaMA-3 style): text is split by a regular expression, each
/// piece's UTF-8 bytes are merged pair by pair, always the pair whose merged bytes rank lowest, and
/// the final parts map to ids. Reads tiktoken ranks files, Hugging Face `tokenizer.json` (BPE with a
/// ByteLevel pre-tokenizer) and GGUF tokenizer metadata.
///
/// ```swift
/// let tok = try Tokenizer(tiktokenFile: "cl100k_base.tiktoken")
/// let ids = tok.encode("Hello, world!")      // [9906, 11, 1917, 0]
/// tok.decode(ids)                            // "Hello, world!"
/// ```
public final class Tokenizer: @unchecked Sendable {
    // Immutable after init; NSRegularExpression is documented thread-safe for matching.
    let ranks: [[UInt8]: Int]  // merged bytes → merge priority (lower first)
    let ids: [[UInt8]: Int]  // token bytes → id
    let bytesOf: [Int: [UInt8]]  // id → bytes
    /// Special tokens (`<|begin_of_text|>`, …) by text.
    public let specialTokens: [String: Int]
    private let splitter: NSRegularExpression
    /// The split pattern (kept so that exporters can write it).
    let pattern: String

    /// cl100k_base's split pattern (tiktoken 0.14): also LLaMA-3's, written with possessive quantifiers.
    public static let cl100kPattern = #"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"#
    /// LLaMA-3's pattern as its tokenizer.json and llama.cpp's `llama-bpe` pre-tokenizer write it.
    public static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// Number of ids (the largest id + 1).
    public var vocabularySize: Int { (bytesOf.keys.max() ?? -1) + 1 }

    init(ranks: [[UInt8]: Int], ids: [[UInt8]: Int], special: [String: Int], pattern: String, source: String) throws(BitNetError) {
        self.ranks = ranks
        self.ids = ids
        specialTokens = special
        var inverse: [Int: [UInt8]] = [:]
        for (bytes, id) in ids { inverse[id] = bytes }
        for (text, id) in special { inverse[id] = Array(text.utf8) }
        bytesOf = inverse
        self.pattern = pattern
        do { splitter = try NSRegularExpression(pattern: pattern) } catch {
            throw .malformed(file: source, reason: "the split pattern is not a valid regular expression")
        }
    }

    /// A tiktoken ranks file: one `base64(token bytes) rank` per line; the rank is the id.
    public convenience init(tiktokenFile path: String, pattern: String = Tokenizer.cl100kPattern,
                            specialTokens: [String: Int] = [:]) throws(BitNetError) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw .missingFile(path) }
        var ranks: [[UInt8]: Int] = [:]
        for (n, line) in text.split(separator: "\n").enumerated() {
            let fields = line.split(separator: " ")
            guard fields.count == 2, let data = Data(base64Encoded: String(fields[0])), let rank = Int(fields[1]) else {
                throw .malformed(file: path, reason: "line \(n + 1) is not 'base64 rank'")
            }
            ranks[[UInt8](data)] = rank
        }
        try self.init(ranks: ranks, ids: ranks, special: specialTokens, pattern: pattern, source: path)
    }

    /// A Hugging Face `tokenizer.json` with a byte-level BPE model.
    public convenience init(tokenizerJSON path: String) throws(BitNetError) {
        guard let data = FileManager.default.contents(atPath: path) else { throw .missingFile(path) }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let model = json["model"] as? [String: Any] else { throw .malformed(file: path, reason: "no 'model' object") }
        guard (model["type"] as? String) == "BPE", let vocab = model["vocab"] as? [String: Int] else {
            throw .unsupported("tokenizer model '\(model["type"] as? String ?? "?")' in \(path); byte-level BPE is supported")
        }
        let merges: [String] = (model["merges"] as? [Any] ?? []).compactMap {
            if let s = $0 as? String { return s }
            if let pair = $0 as? [String], pair.count == 2 { return pair[0] + " " + pair[1] }  // newer format
            return nil
        }
        var special: [String: Int] = [:]
        for t in json["added_tokens"] as? [[String: Any]] ?? [] {
            if let content = t["content"] as? String, let id = t["id"] as? Int { special[content] = id }
        }
        try self.init(byteLevelVocab: vocab, merges: merges, special: special,
                      pattern: Self.splitPattern(json["pre_tokenizer"]) ?? Self.llama3Pattern, source: path)
    }

    /// GPT-2 style vocabularies: token strings in the byte-to-character mapping, merges "a b".
    convenience init(byteLevelVocab vocab: [String: Int], merges: [String], special: [String: Int], pattern: String,
                     source: String) throws(BitNetError) {
        let decodeChar = Self.byteLevelDecoder
        func bytes(_ s: Substring) throws(BitNetError) -> [UInt8] {
            var out: [UInt8] = []
            for ch in s.unicodeScalars {
                guard let b = decodeChar[ch] else { throw .malformed(file: source, reason: "token '\(s)' is not byte-level text") }
                out.append(b)
            }
            return out
        }
        var ids: [[UInt8]: Int] = [:]
        for (token, id) in vocab where special[token] == nil { ids[try bytes(token[...])] = id }
        var ranks: [[UInt8]: Int] = [:]
        for (i, merge) in merges.enumerated() {
            let pair = merge.split(separator: " ", maxSplits: 1)
            guard pair.count == 2 else { throw .malformed(file: source, reason: "merge \(i) '\(merge)' is not 'a b'") }
            let merged = try bytes(pair[0]) + bytes(pair[1])
            if ranks[merged] == nil { ranks[merged] = i }
        }
        try self.init(ranks: ranks, ids: ids, special: special, pattern: pattern, source: source)
    }

    /// GPT-2's reversible map from bytes to printable characters, inverted.
    static let byteLevelDecoder: [Unicode.Scalar: UInt8] = {
        var printable = Array(33...126) + Array(161...172) + Array(174...255)
        var chars = printable
        var n = 0
        for b in 0..<256 where !printable.contains(b) {
            printable.append(b)
            chars.append(256 + n)
            n += 1
        }
        var map: [Unicode.Scalar: UInt8] = [:]
        for (b, c) in zip(printable, chars) { map[Unicode.Scalar(UInt32(c))!] = UInt8(b) }
        return map
    }()

    static func splitPattern(_ preTokenizer: Any?) -> String? {
        guard let p = preTokenizer as? [String: Any] else { return nil }
        if let pattern = (p["pattern"] as? [String: Any])?["Regex"] as? String { return pattern }
        for inner in p["pretokenizers"] as? [Any] ?? [] {
            if let found = splitPattern(inner) { return found }
        }
        return nil
    }

    /// Token ids of `text`. Special-token texts become their ids when `allowSpecial`, else plain text.
    public func encode(_ text: String, allowSpecial: Bool = true) -> [Int] {
        var out: [Int] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            // The earliest special token, if any, ends the ordinary stretch.
            var cut: (Range<Substring.Index>, Int)?
            if allowSpecial {
                for (s, id) in specialTokens {
                    if let r = rest.range(of: s), cut == nil || r.lowerBound < cut!.0.lowerBound { cut = (r, id) }
                }
            }
            let ordinary = cut.map { rest[..<$0.0.lowerBound] } ?? rest
            encodeOrdinary(String(ordinary), into: &out)
            guard let (range, id) = cut else { break }
            out.append(id)
            rest = rest[range.upperBound...]
        }
        return out
    }

    private func encodeOrdinary(_ text: String, into out: inout [Int]) {
        let ns = text as NSString
        for match in splitter.matches(in: text, range: NSRange(location: 0, length: ns.length)) {
            let piece = Array(ns.substring(with: match.range).utf8)
            if let id = ids[piece] {
                out.append(id)
                continue
            }
            var parts = piece.map { [$0] }
            while parts.count > 1 {
                var best: (rank: Int, index: Int)?
                for i in 0..<(parts.count - 1) {
                    if let r = ranks[parts[i] + parts[i + 1]], best == nil || r < best!.rank { best = (r, i) }
                }
                guard let (_, i) = best else { break }
                parts[i] += parts[i + 1]
                parts.remove(at: i + 1)
            }
            for p in parts {
                if let id = ids[p] { out.append(id) } else { out.append(contentsOf: p.compactMap { ids[[$0]] }) }
            }
        }
    }

    /// The bytes a token stands for (empty for unknown ids).
    public func bytes(of id: Int) -> [UInt8] { bytesOf[id] ?? [] }

    /// The text of `ids` (invalid UTF-8, e.g. half a character, becomes U+FFFD).
    public func decode(_ ids: [Int]) -> String { String(decoding: ids.flatMap { bytes(of: $0) }, as: UTF8.self) }
}

extension Tokenizer {
    /// The tokenizer that comes with a model: `tokenizer.json` in a checkpoint directory, or the
    /// GGUF file's `tokenizer.ggml.*` metadata (GPT-2 style BPE). nil when the model has none.
    public static func load(modelPath path: String) throws(BitNetError) -> Tokenizer? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw .missingFile(path) }
        if isDirectory.boolValue {
            let json = path + "/tokenizer.json"
            return FileManager.default.fileExists(atPath: json) ? try Tokenizer(tokenizerJSON: json) : nil
        }
        let g = try GGUFFile(path: path)
        guard g.metadata["tokenizer.ggml.model"]?.string == "gpt2",
              case .array(let tokenValues)? = g.metadata["tokenizer.ggml.tokens"] else { return nil }
        var vocab: [String: Int] = [:], special: [String: Int] = [:]
        var types: [Int] = []
        if case .array(let t)? = g.metadata["tokenizer.ggml.token_type"] { types = t.compactMap(\.int) }
        for (id, v) in tokenValues.enumerated() {
            guard let s = v.string else { continue }
            // llama.cpp token types: 1 normal, 3 control, 4 user-defined, 5 unused (padding)
            if id < types.count, types[id] == 5 { continue }
            if id < types.count, types[id] == 3 || types[id] == 4 { special[s] = id } else { vocab[s] = id }
        }
        var merges: [String] = []
        if case .array(let m)? = g.metadata["tokenizer.ggml.merges"] { merges = m.compactMap(\.string) }
        let pre = g.metadata["tokenizer.ggml.pre"]?.string ?? "llama-bpe"
        let pattern = pre == "llama-bpe" || pre == "llama3" ? llama3Pattern : cl100kPattern
        return try Tokenizer(byteLevelVocab: vocab, merges: merges, special: special, pattern: pattern, source: path)
    }

    /// A tokenizer file: `tokenizer.json`, or a tiktoken ranks file (`.tiktoken`).
    public static func load(file path: String) throws(BitNetError) -> Tokenizer {
        path.hasSuffix(".json") ? try Tokenizer(tokenizerJSON: path) : try Tokenizer(tiktokenFile: path)
    }
}
