// libFuzzer target: a tiktoken ranks file, then an encode.
import BitNet
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTiktoken(_ data: UnsafeRawPointer?, _ count: Int) -> Int32 {
    let path = fuzzFile("ranks.tiktoken", data, count)
    if let t = try? Tokenizer(tiktokenFile: path), let ids = try? t.encode("Hello, world! It's 2024:\n  aaaa1234 ünïcödé") {
        _ = t.decode(ids)
    }
    return 0
}

@_cdecl("FuzzTiktoken_main")
public func fuzzTiktokenMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 { runFuzzer(fuzzTiktoken) }
