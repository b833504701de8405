import ArgumentParser
import BitKernels
import BitNet
import CBitKernels
import Foundation

/// Loads a model or exits with the reason.
func loadModel(_ path: String, int8Head: Bool = false) throws -> BitNetModel {
    FileHandle.standardError.write("loading \(path)\(int8Head ? " (int8 head)" : "")...\n".data(using: .utf8)!)
    do { return try BitNetModel.load(path: path, int8Head: int8Head) } catch { throw ValidationError(error.description) }
}

func parseIDs(_ text: String, what: String) throws -> [Int] {
    let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    let ids = parts.compactMap { Int($0) }
    guard !ids.isEmpty, ids.count == parts.count, ids.allSatisfy({ $0 >= 0 }) else {
        throw ValidationError("\(what): expected comma-separated token ids, e.g. 1,2,3")
    }
    return ids
}

/// Peak resident memory of this process (Linux VmHWM), in bytes; 0 when unknown.
func peakMemoryBytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }
    return 0
}

func pin(threads: Int, placement: String?) throws {
    guard let p = placement else { return }
    let topo: HardwareTopology
    do { topo = try HardwareTopology.current() } catch { throw ValidationError(error.description) }
    let binding = topo.bind(try makePlan(topo, try parsePolicy(p), threads: threads))
    FileHandle.standardError.write("placement \(p): PUs \(binding.plan.processingUnits)\(binding.verified ? ", pinned" : "; \(binding.notice ?? "not verified")")\n".data(using: .utf8)!)
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate tokens with a BitNet b1.58 model, streaming them, then report speed and memory.",
        discussion: """
            The model is a directory with config.json and model.safetensors (the Hugging Face layout) \
            or a .gguf file (TQ2_0, TQ1_0 or I2_S ternary tensors). The prompt is processed in one \
            batch (ternary GEMM), then each new token is one GEMV pass. Without a tokenizer, give \
            token ids with --prompt-ids; the generated ids are printed as they come. With a tokenizer \
            (the checkpoint's tokenizer.json, the GGUF's vocabulary, or --tokenizer) text goes in \
            with --prompt and comes out as text. A text prompt starts with BOS when the tokenizer \
            config adds one (--no-bos), and generation stops at the model's EOS ids (--ignore-eos).

            Example: bitkernels generate --model bitnet-tiny --prompt-ids 979,976,987 --tokens 16
            """)

    @Option(help: "Model directory (config.json + model.safetensors) or .gguf file.")
    var model: String

    @Option(help: "Prompt text (needs a tokenizer: the model's own, or --tokenizer).")
    var prompt: String?

    @Option(name: .customLong("prompt-ids"), help: "Prompt token ids, comma-separated (instead of --prompt).")
    var promptIDs: String?

    @Option(help: "A tokenizer.json or tiktoken ranks file, if the model has no tokenizer of its own.")
    var tokenizer: String?

    @Option(help: "New tokens to generate at most.")
    var tokens = 32

    @Option(help: "Sampling temperature (0 = greedy).")
    var temperature: Float = 0

    @Option(help: "Keep only the k most likely tokens (0 = all).")
    var topK = 40

    @Option(help: "Keep the smallest set of tokens with this much probability.")
    var topP: Float = 0.95

    @Option(help: "Random seed for sampling.")
    var seed: UInt64 = 0

    @Option(help: "Stop after any of these token ids, comma-separated (besides the model's EOS).")
    var stop: String?

    @Flag(name: .customLong("no-bos"), help: "Do not start a text prompt with BOS (added when the tokenizer config says so).")
    var noBOS = false

    @Flag(name: .customLong("ignore-eos"), help: "Do not stop at the model's EOS ids (generation_config.json, config.json, GGUF).")
    var ignoreEOS = false

    @Option(help: "Context length limit (default: the model's maximum positions).")
    var context: Int?

    @Option(help: "OpenMP threads (0 = OpenMP's default).")
    var threads = 0

    @Option(help: "Pin the team first: compact, scatter, cores, numa:N or cpus:LIST.")
    var placement: String?

    func validate() throws {
        guard (prompt == nil) != (promptIDs == nil) else { throw ValidationError("give --prompt TEXT or --prompt-ids IDS (one of them)") }
        guard tokens >= 1 else { throw ValidationError("--tokens must be at least 1") }
        guard temperature >= 0 else { throw ValidationError("--temperature must be ≥ 0") }
        guard topK >= 0 else { throw ValidationError("--top-k must be ≥ 0") }
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        guard threads >= 0 else { throw ValidationError("--threads must be ≥ 0") }
    }

    func run() throws {
        var stopTokens = Set(try stop.map { try parseIDs($0, what: "--stop") } ?? [])
        let givenIDs = try promptIDs.map { try parseIDs($0, what: "--prompt-ids") }
        let m = try loadModel(model)
        let tok: Tokenizer?
        do throws(BitNetError) {
            if let file = tokenizer { tok = try Tokenizer.load(file: file) } else { tok = try Tokenizer.load(modelPath: model) }
        } catch { throw ValidationError(error.description) }
        let special: SpecialTokens
        do { special = try SpecialTokens(modelPath: model, tokenizer: tok) } catch { throw ValidationError(error.description) }
        if !ignoreEOS { stopTokens.formUnion(special.eos) }
        var ids: [Int]
        if let text = prompt {
            guard let tok else { throw ValidationError("\(model) has no tokenizer: pass --tokenizer FILE or use --prompt-ids") }
            ids = tok.encode(text)
            guard !ids.isEmpty else { throw ValidationError("the prompt encodes to no tokens") }
            if !noBOS, special.addsBOS, let bos = special.bos, ids.first != bos { ids.insert(bos, at: 0) }
        } else {
            ids = givenIDs!
        }
        let team = threads > 0 ? threads : Machine.openMPThreads
        try pin(threads: team, placement: placement)
        let sampler = Sampler(temperature: temperature, topK: topK, topP: topP, seed: seed)
        // Text when a tokenizer is present (printed as soon as its UTF-8 is complete), else ids.
        var generated: [Int] = []
        var printed = ""
        if let tok, prompt != nil { print(tok.decode(ids), terminator: "") } else { print(ids.map(String.init).joined(separator: " "), terminator: " |") }
        let result: (tokens: [Int], stats: GenerationStats)
        do {
            result = try m.generate(prompt: ids, maxNewTokens: tokens, sampler: sampler, stopTokens: stopTokens,
                                    contextLimit: context, threads: threads) { id in
                if !special.eos.contains(id) || ignoreEOS { generated.append(id) }
                if let tok, prompt != nil {
                    let text = tok.decode(generated)
                    if !text.hasSuffix("\u{FFFD}"), text.count > printed.count {
                        print(text.dropFirst(printed.count), terminator: "")
                        printed = text
                    }
                } else {
                    print(" \(id)", terminator: "")
                }
                FileHandle.standardOutput.synchronizeFile()
                return true
            }
        } catch { throw ValidationError(error.description) }
        print("")
        let s = result.stats
        FileHandle.standardError.write("""
            prompt: \(s.promptTokens) tokens in \(format(s.promptSeconds * 1e3, 1)) ms (\(format(s.promptTokensPerSecond, 1)) tokens/s)
            generation: \(s.generatedTokens) tokens in \(format(s.generationSeconds * 1e3, 1)) ms (\(format(s.generationTokensPerSecond, 2)) tokens/s), \(team) thread(s)
            peak memory: \(bytes(peakMemoryBytes()))

            """.data(using: .utf8)!)
    }
}

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

    @Option(help: "Token ids, comma-separated.")
    var tokens: String

    @Option(help: "Output file.")
    var out: String

    @Option(help: "OpenMP threads (0 = OpenMP's default).")
    var threads = 0

    func run() throws {
        let ids = try parseIDs(tokens, what: "--tokens")  // before the (slow) load
        let m = try loadModel(model)
        let logits: [Float]
        do { logits = try m.forward(ids, cache: m.makeCache(capacity: ids.count), threads: threads) } catch {
            throw ValidationError(error.description)
        }
        let data = logits.withUnsafeBufferPointer { Data(buffer: $0) }
        do { try data.write(to: URL(fileURLWithPath: out)) } catch {
            throw ValidationError("cannot write \(out): \(error.localizedDescription)")
        }
        print("wrote \(out): \(ids.count) × \(m.config.vocabularySize) float32")
    }
}

/// `bench model`: prompt processing and generation speed like llama-bench (pp N, tg N), with the
/// bound the memory system sets measured in the same run.
struct ModelBench {
    let path: String
    let promptTokens: Int
    let generatedTokens: Int
    let threads: Int
    let repeats: Int
    let int8Head: Bool

    struct Report: Codable {
        var model: String
        var threads: Int
        var int8Head: Bool
        var bytesPerToken: Int
        var promptTokens: Int
        var promptTokensPerSecond: Double
        var generatedTokens: Int
        var generationTokensPerSecond: Double
        var readBandwidthGBps: Double
        var boundTokensPerSecond: Double
        var fractionOfBound: Double
    }

    func run() throws -> Report {
        let m = try loadModel(path, int8Head: int8Head)
        let vocab = m.config.vocabularySize
        let prompt = (0..<promptTokens).map { ($0 * 7919 + 13) % vocab }
        var pp: [Double] = [], tg: [Double] = []
        for i in 0..<repeats {
            progress("model: run \(i + 1)/\(repeats)")
            let stats: GenerationStats
            do {
                stats = try m.generate(prompt: prompt, maxNewTokens: generatedTokens, threads: threads).stats
            } catch { throw ValidationError(error.description) }
            pp.append(stats.promptTokensPerSecond)
            tg.append(stats.generationTokensPerSecond)
        }
        clearProgress()
        // What one token must read, read by a summing loop with the same team.
        let yardstick = BenchBuffer(words: m.bytesPerToken / 8, seed: 5)
        let team = threads > 0 ? threads : Machine.openMPThreads
        let s = measure(repeats: repeats, minSeconds: 0.05) {
            blackHole(bk_read_sum_parallel(yardstick.words, yardstick.count, Int32(team)))
        }
        let bw = Double(yardstick.count * 8) / s.median / 1e9
        let median = { (v: [Double]) in v.sorted()[v.count / 2] }
        let bound = bw * 1e9 / Double(m.bytesPerToken)
        return Report(
            model: path, threads: team, int8Head: int8Head, bytesPerToken: m.bytesPerToken,
            promptTokens: promptTokens, promptTokensPerSecond: median(pp), generatedTokens: generatedTokens,
            generationTokensPerSecond: median(tg), readBandwidthGBps: bw, boundTokensPerSecond: bound,
            fractionOfBound: median(tg) / bound)
    }

    static func printReport(_ r: Report) {
        print("model \(r.model): \(format(Double(r.bytesPerToken) / 1e9, 3)) GB read per token\(r.int8Head ? " (int8 head)" : ""), \(r.threads) thread(s)")
        print("  pp\(r.promptTokens): \(format(r.promptTokensPerSecond, 1)) tokens/s")
        print("  tg\(r.generatedTokens): \(format(r.generationTokensPerSecond, 2)) tokens/s = \(format(r.generationTokensPerSecond * Double(r.bytesPerToken) / 1e9, 1)) GB/s of weights")
        print("  read bandwidth (same run, \(r.threads) thread(s)): \(format(r.readBandwidthGBps, 1)) GB/s → bound \(format(r.boundTokensPerSecond, 2)) tokens/s; tg reaches \(format(100 * r.fractionOfBound, 0))% of it")
    }
}
