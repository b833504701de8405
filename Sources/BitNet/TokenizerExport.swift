import Foundation

extension Tokenizer {
    /// A tokenizer whose id `i` stands for `pieces[i]`: a character's UTF-8 bytes (a character
    /// tokenizer), one byte (a byte tokenizer), or any mix. `encode` splits text into characters,
    /// taking multi-character pieces first (longest match), and maps each to its id; a character
    /// with no piece of its own becomes the ids of its bytes where those are pieces, and is dropped
    /// otherwise. `decode` joins the pieces' bytes. Pieces must be non-empty and distinct.
    ///
    /// ```swift
    /// let chars = Array(Set(text)).sorted()
    /// let tok = Tokenizer(pieces: chars.map { Array(String($0).utf8) })
    /// tok.decode(tok.encode("ROMEO:")) == "ROMEO:"     // one id per character
    /// ```
    public convenience init(pieces: [[UInt8]]) {
        var ids: [[UInt8]: Int] = [:]
        for (i, p) in pieces.enumerated() {
            precondition(!p.isEmpty, "piece \(i) is empty")
            precondition(ids[p] == nil, "pieces \(ids[p] ?? 0) and \(i) are the same bytes \(p)")
            ids[p] = i
        }
        // BPE merges that build each multi-byte piece from its first byte, one byte at a time,
        // shorter prefixes first: what a file format without this tokenizer's split pattern
        // (GGUF) needs to turn a character's bytes back into its id.
        var ranks: [[UInt8]: Int] = [:]
        let longest = pieces.map(\.count).max() ?? 0
        if longest >= 2 {
            for k in 2...longest {
                for p in pieces where p.count >= k && ranks[Array(p[..<k])] == nil { ranks[Array(p[..<k])] = ranks.count }
            }
        }
        // Multi-character pieces, longest first, then any one character (code point).
        let multi = pieces.compactMap { String(validating: $0, as: UTF8.self) }.filter { $0.unicodeScalars.count > 1 }
            .sorted { ($0.utf8.count, $0) > ($1.utf8.count, $1) }
        let pattern = (multi.map { NSRegularExpression.escapedPattern(for: $0) } + [#"[\s\S]"#]).joined(separator: "|")
        // The pattern is escaped text and one class: always a valid regular expression.
        try! self.init(ranks: ranks, ids: ids, special: [:], pattern: pattern, source: "pieces")
    }

    /// A character tokenizer for `text`, as nanoGPT makes one: its distinct Unicode scalars
    /// sorted by code point, id i the i-th (Python's `sorted(set(text))`).
    ///
    /// ```swift
    /// let tok = Tokenizer(charactersOf: "hello")     // ids: e 0, h 1, l 2, o 3
    /// tok.encode("hole")                             // [1, 3, 2, 0]
    /// ```
    public convenience init(charactersOf text: String) {
        self.init(pieces: Set(text.unicodeScalars).sorted { $0.value < $1.value }.map { Array(String($0).utf8) })
    }

    /// The byte tokenizer: id i is the byte i (256 ids; a character becomes its UTF-8 bytes).
    ///
    /// ```swift
    /// Tokenizer.bytes.encode("é")     // [195, 169]
    /// ```
    public static let bytes = Tokenizer(pieces: (0...255).map { [UInt8($0)] })

    /// GPT-2's byte-to-character map (the inverse of `byteLevelDecoder`): how byte-level BPE files
    /// spell token bytes.
    static let byteLevelEncoder: [Character] = {
        var out = [Character](repeating: " ", count: 256)
        for (scalar, byte) in byteLevelDecoder { out[Int(byte)] = Character(scalar) }
        return out
    }()

    static func byteLevelText(_ bytes: [UInt8]) -> String { String(bytes.map { byteLevelEncoder[Int($0)] }) }

    /// The merges as pairs, in rank order: each merged token split into the two parts BPE joins
    /// last, found by running the lower-ranked merges on its bytes (as tiktoken-to-Hugging-Face
    /// converters do). Tokens that lower ranks cannot bring to two parts are left out.
    func mergePairs() -> [(first: [UInt8], second: [UInt8])] {
        ranks.sorted { $0.value < $1.value || ($0.value == $1.value && $0.key.lexicographicallyPrecedes($1.key)) }
            .compactMap { merged, rank in
                var parts = merged.map { [$0] }
                while parts.count > 2 {
                    var best: (rank: Int, index: Int)?
                    for i in 0..<(parts.count - 1) {
                        if let r = ranks[parts[i] + parts[i + 1]], r < rank, best == nil || r < best!.rank { best = (r, i) }
                    }
                    guard let (_, i) = best else { break }
                    parts[i] += parts[i + 1]
                    parts.remove(at: i + 1)
                }
                return parts.count == 2 ? (parts[0], parts[1]) : nil
            }
    }

    /// Ordinary (non-special) tokens by id.
    var ordinaryTokens: [(id: Int, bytes: [UInt8])] { ids.map { ($0.value, $0.key) }.sorted { $0.id < $1.id } }

    /// A Hugging Face `tokenizer.json` for this tokenizer: byte-level BPE with `ignore_merges`
    /// (a split piece that is a token is taken whole, as `encode` does), the split pattern as a
    /// `Split` pre-tokenizer, and only the merges whose parts and result are tokens (the library
    /// requires that). `PreTrainedTokenizerFast` and `Tokenizer(tokenizerJSON:)` read it.
    func huggingFaceJSON() -> JSONText {
        let vocab = ordinaryTokens.map { (Self.byteLevelText($0.bytes), JSONText.int($0.id)) }
        let merges: [JSONText] = mergePairs().compactMap { a, b in
            guard ids[a] != nil, ids[b] != nil, ids[a + b] != nil else { return nil }
            return .string(Self.byteLevelText(a) + " " + Self.byteLevelText(b))
        }
        let added: [JSONText] = specialTokens.sorted { $0.value < $1.value }.map { text, id in
            .object([("id", .int(id)), ("content", .string(text)), ("single_word", .bool(false)), ("lstrip", .bool(false)),
                     ("rstrip", .bool(false)), ("normalized", .bool(false)), ("special", .bool(true))])
        }
        let byteLevel: (Bool) -> JSONText = { prefix in
            .object([("type", .string("ByteLevel")), ("add_prefix_space", .bool(false)), ("trim_offsets", .bool(true)),
                     ("use_regex", .bool(prefix))])
        }
        return .object([
            ("version", .string("1.0")), ("truncation", .null), ("padding", .null), ("added_tokens", .array(added)),
            ("normalizer", .null),
            ("pre_tokenizer", .object([
                ("type", .string("Sequence")),
                ("pretokenizers", .array([
                    .object([("type", .string("Split")), ("pattern", .object([("Regex", .string(pattern))])),
                             ("behavior", .string("Isolated")), ("invert", .bool(false))]),
                    byteLevel(false),
                ])),
            ])),
            ("post_processor", byteLevel(false)),
            ("decoder", byteLevel(false)),
            ("model", .object([
                ("type", .string("BPE")), ("dropout", .null), ("unk_token", .null), ("continuing_subword_prefix", .null),
                ("end_of_word_suffix", .null), ("fuse_unk", .bool(false)), ("byte_fallback", .bool(false)),
                ("ignore_merges", .bool(true)), ("vocab", .object(vocab)), ("merges", .array(merges)),
            ])),
        ])
    }

    /// `tokenizer_config.json`: the class transformers' `AutoTokenizer` should build.
    func huggingFaceConfigJSON(maxLength: Int) -> JSONText {
        .object([
            ("tokenizer_class", .string("PreTrainedTokenizerFast")), ("clean_up_tokenization_spaces", .bool(false)),
            ("model_max_length", .int(maxLength)),
            ("added_tokens_decoder", .object(specialTokens.sorted { $0.value < $1.value }.map { text, id in
                (String(id), .object([("content", .string(text)), ("lstrip", .bool(false)), ("normalized", .bool(false)),
                                      ("rstrip", .bool(false)), ("single_word", .bool(false)), ("special", .bool(true))]))
            })),
        ])
    }
}
