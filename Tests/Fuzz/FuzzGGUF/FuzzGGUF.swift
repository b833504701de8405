// libFuzzer target: a GGUF model file (metadata, tensor directory, tensors, tokenizer metadata).
import BitNet
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGGUF(_ data: UnsafeRawPointer?, _ count: Int) -> Int32 {
    let path = fuzzFile("model.gguf", data, count)
    if let model = try? BitNetModel.load(path: path) { runModel(model) }
    _ = try? Tokenizer.load(modelPath: path)
    return 0
}

@_cdecl("FuzzGGUF_main")
public func fuzzGGUFMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 { runFuzzer(fuzzGGUF) }
