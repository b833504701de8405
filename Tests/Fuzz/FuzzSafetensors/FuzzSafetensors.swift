// libFuzzer target: model.safetensors (header length, JSON header, offsets, tensors) beside the
// fixture's config.json.
import BitNet
import Foundation
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafeRawPointer?, _ count: Int) -> Int32 {
    let config = fuzzScratch + "/config.json"
    if !FileManager.default.fileExists(atPath: config) {
        try? FileManager.default.copyItem(atPath: fixtureRoot + "/BitNetTests/Fixtures/bitnet-tiny/config.json", toPath: config)
    }
    _ = fuzzFile("model.safetensors", data, count)
    if let model = try? BitNetModel.load(path: fuzzScratch) { runModel(model) }
    return 0
}

@_cdecl("FuzzSafetensors_main")
public func fuzzSafetensorsMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 { runFuzzer(fuzzSafetensors) }
