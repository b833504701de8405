// libFuzzer target: a Hugging Face tokenizer.json (vocabulary, merges, split pattern), then an encode.
import BitNet
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizerJSON(_ data: UnsafeRawPointer?, _ count: Int) -> Int32 {
    let path = fuzzFile("tokenizer.json", data, count)
    if let t = try? Tokenizer(tokenizerJSON: path), let ids = try? t.encode("Hello, world! It's 2024:\n  aaaa1234 <|end|> ünïcödé") {
        _ = t.decode(ids)
    }
    return 0
}

@_cdecl("FuzzTokenizerJSON_main")
public func fuzzTokenizerJSONMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 { runFuzzer(fuzzTokenizerJSON) }
