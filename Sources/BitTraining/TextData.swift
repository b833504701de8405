import BitKernels
import BitNet
import Foundation

/// Text turned into token ids, split into a training part (the first 90% by default) and a
/// validation part (the rest).
///
/// ```swift
/// let data = try TextData(path: "input.txt", tokenizer: "chars", context: 64)
/// data.vocabularySize   // 65 for Tiny Shakespeare
/// ```
public struct TextData: Sendable {
    /// All tokens, training part first.
    public let tokens: [Int32]
    /// Tokens in the training part.
    public let trainCount: Int
    /// Piece i: the UTF-8 bytes of token i (one character, one byte, or a tokenizer's piece).
    public let pieces: [[UInt8]]
    /// "chars", "bytes" or the tokenizer file.
    public let tokenizerName: String

    /// Token ids in the vocabulary.
    public var vocabularySize: Int { pieces.count }
    /// Tokens of the validation part (the tail of the text).
    public var validationCount: Int { tokens.count - trainCount }

    /// Reads `path` and tokenizes it: `chars` (the sorted unique Unicode scalars, as nanoGPT's
    /// shakespeare_char), `bytes` (256 ids), or a `tokenizer.json` path. Both parts must hold more
    /// than `context + 1` tokens.
    public init(path: String, tokenizer: String = "chars", validationFraction: Double = 0.1, context: Int) throws(TrainingError) {
        // 1 GiB of text at most: its tokens take four bytes each in memory.
        let data: [UInt8]
        do { data = try readRegularFile(path, limit: 1 << 30) } catch { throw .badFile(path: path, reason: error.reason) }
        guard !data.isEmpty else { throw .badFile(path: path, reason: "the file is empty") }
        var ids: [Int32]
        var pieces: [[UInt8]]
        switch tokenizer {
        case "bytes":
            ids = data.map { Int32($0) }
            pieces = (0..<256).map { [UInt8($0)] }
        case "chars":
            guard let text = String(validating: data, as: UTF8.self) else { throw .badFile(path: path, reason: "not UTF-8 text (use --tokenizer bytes)") }
            let scalars = Array(text.unicodeScalars)
            let alphabet = Set(scalars).sorted { $0.value < $1.value }
            var index: [UInt32: Int32] = [:]
            for (i, s) in alphabet.enumerated() { index[s.value] = Int32(i) }
            ids = scalars.map { index[$0.value]! }
            pieces = alphabet.map { Array(String($0).utf8) }
        default:
            let tok: Tokenizer
            do { tok = try Tokenizer(tokenizerJSON: tokenizer) } catch { throw .badFile(path: tokenizer, reason: "\(error)") }
            guard let text = String(validating: data, as: UTF8.self) else { throw .badFile(path: path, reason: "not UTF-8 text") }
            do { ids = try tok.encode(text, allowSpecial: false).map { Int32($0) } } catch { throw .badFile(path: path, reason: "\(error)") }
            pieces = (0..<tok.vocabularySize).map { tok.bytes(of: $0) }
        }
        guard pieces.count >= 2 else { throw .badFile(path: path, reason: "only \(pieces.count) distinct token(s); nothing to learn") }
        guard validationFraction >= 0 && validationFraction < 1 else { throw .invalid("validation fraction \(validationFraction) must be in [0, 1)") }
        let train = Int(Double(ids.count) * (1 - validationFraction))
        guard train > context + 1 else {
            throw .badFile(path: path, reason: "\(train) training tokens: too few for context \(context) (need more than \(context + 1))")
        }
        guard validationFraction == 0 || ids.count - train > context + 1 else {
            throw .badFile(path: path, reason: "\(ids.count - train) validation tokens: too few for context \(context) (need more than \(context + 1))")
        }
        self.tokens = ids
        self.trainCount = train
        self.pieces = pieces
        self.tokenizerName = tokenizer
    }

    /// Data from token ids already made (tests).
    public init(tokens: [Int32], pieces: [[UInt8]], trainCount: Int) {
        self.tokens = tokens
        self.pieces = pieces
        self.trainCount = trainCount
        tokenizerName = "ids"
    }

    /// `count` random windows of `context + 1` tokens from the training (or validation) part, their
    /// starts drawn from `generator`.
    func batch(count: Int, context: Int, validation: Bool, generator: inout SplitMix64) -> Batch {
        let lo = validation ? trainCount : 0, hi = validation ? tokens.count : trainCount
        let span = UInt64(hi - lo - context - 1)
        let windows = (0..<count).map { _ -> [Int32] in
            let s = lo + Int(generator.next() % (span + 1))
            return Array(tokens[s..<(s + context + 1)])
        }
        return Batch(windows: windows)
    }

    /// Decodes ids to text (pieces joined, invalid UTF-8 replaced).
    public func decode(_ ids: [Int]) -> String {
        String(decoding: ids.flatMap { $0 >= 0 && $0 < pieces.count ? pieces[$0] : [] }, as: UTF8.self)
    }

    /// FNV-1a over the token ids: a checkpoint's data must be the same data.
    var fingerprint: UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for t in tokens {
            h = (h ^ UInt64(UInt32(bitPattern: t))) &* 0x100_0000_01b3
        }
        return h
    }
}
