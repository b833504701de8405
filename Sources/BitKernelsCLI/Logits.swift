import ArgumentParser
import BitKernels
import BitKernelsBench
import BitNet
import Foundation

struct Logits: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the logits of every position of a token sequence (float32 [sequence, vocabulary]).",
        discussion: """
            One forward pass from an empty cache, written as raw little-endian float32, row-major \
            [sequence length, vocabulary], no header: the layout of the bitnet-tiny fixture, to \
            compare any model with another implementation.
            """)

    @Option(help: "Model directory (config.json + model.safetensors) or .gguf file.")
    var model: String

    @Option(name: .customLong("prompt-ids"), parsing: .unconditional, help: "Token ids, comma-separated (as generate's --prompt-ids).")
    var promptIDs: String

    @Option(help: "Output file.")
    var out: String

    @Option(parsing: .unconditional, help: "OpenMP threads (0 = OpenMP's default; 0...1024).")
    var threads = 0

    func validate() throws {
        _ = try parseIDs(promptIDs, what: "--prompt-ids")
        try check("--threads", threads, in: 0...maxThreads)
    }

    func run() throws {
        let kernels = try resolveKernels()
        let ids = try parseIDs(promptIDs, what: "--prompt-ids")  // before the (slow) load
        let m = try loadModel(model, kernels: kernels)
        let logits: [Float]
        do { logits = try m.forward(ids, cache: m.makeCache(capacity: ids.count), threads: threads) } catch {
            throw Failure(error)
        }
        let bytes = logits.withUnsafeBytes { [UInt8]($0) }
        do { try writeAtomically(bytes, to: out) } catch { throw Failure(error.description, code: ExitStatus.io) }
        print("wrote \(out): \(ids.count) × \(m.config.vocabularySize) float32")
    }
}
