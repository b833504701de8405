// libFuzzer target: IDX image and label files, gzip or raw, each beside the fixture's other half.
import BitNeurons
import FuzzSupport

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIDX(_ data: UnsafeRawPointer?, _ count: Int) -> Int32 {
    let path = fuzzFile("data.idx", data, count)
    let mnist = fixtureRoot + "/BitNeuronsTests/Fixtures/mnist"
    _ = try? LabeledImages(images: path, labels: mnist + "/t10k-labels-idx1-ubyte.gz")
    _ = try? LabeledImages(images: mnist + "/t10k-images-idx3-ubyte.gz", labels: path)
    return 0
}

@_cdecl("FuzzIDX_main")
public func fuzzIDXMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 { runFuzzer(fuzzIDX) }
