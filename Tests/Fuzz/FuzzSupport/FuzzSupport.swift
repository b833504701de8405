// Shared by the libFuzzer targets (scripts/fuzz.sh): each target writes the input where its reader
// expects a file, calls the public loader, and ignores the error — a crash or hang is the finding.
import BitNet
import Foundation

/// A scratch directory per process (in /dev/shm when there is one: no disk writes per execution).
public let fuzzScratch: String = {
    try? FileManager.default.createDirectory(atPath: fuzzScratchPath(), withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(atPath: fuzzScratchPath()) }  // the same path: no capture in a C callback
    return fuzzScratchPath()
}()

func fuzzScratchPath() -> String {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    return "\(base)/bk-fuzz-\(getpid())"
}

/// Writes the fuzzer's bytes to `name` in the scratch directory and returns the path.
public func fuzzFile(_ name: String, _ data: UnsafeRawPointer?, _ count: Int) -> String {
    let path = fuzzScratch + "/" + name
    let bytes = count > 0 ? Data(bytes: data!, count: count) : Data()
    _ = FileManager.default.createFile(atPath: path, contents: bytes)
    return path
}

/// The repository's test fixtures (targets run from the package root, as scripts/fuzz.sh does).
public let fixtureRoot = FileManager.default.currentDirectoryPath + "/Tests"

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafeRawPointer?, Int) -> Int32) -> Int32

/// libFuzzer's driver. SwiftPM links an executable's `main` to `<Target>_main`, so each target
/// defines that symbol and lands here, instead of libFuzzer's own `main`.
public func runFuzzer(_ callback: @convention(c) (UnsafeRawPointer?, Int) -> Int32) -> Int32 {
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    return LLVMFuzzerRunDriver(&argc, &argv, callback)
}

/// A model that loads must run: two tokens, finite logits (the load-time checks promise it).
public func runModel(_ model: BitNetModel) {
    guard let logits = try? model.forward([0, model.config.vocabularySize - 1], cache: model.makeCache(capacity: 2)) else {
        fatalError("a loaded model failed its forward pass")
    }
    if !logits.allSatisfy({ $0.isFinite }) { fatalError("a loaded model gave non-finite logits") }
}
