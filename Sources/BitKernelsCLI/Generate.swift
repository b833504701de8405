import ArgumentParser
import BitKernels
import BitNet
import Foundation

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

            Example: bitkernels generate --model bitnet-tiny --prompt-ids 979,976,987 --max-tokens 16
            """)

    @Option(help: "Model directory (config.json + model.safetensors) or .gguf file.")
    var model: String

    @Option(help: "Prompt text (needs a tokenizer: the model's own, or --tokenizer).")
    var prompt: String?

    @Option(name: .customLong("prompt-ids"), parsing: .unconditional, help: "Prompt token ids, comma-separated (instead of --prompt).")
    var promptIDs: String?

    @Option(help: "A tokenizer.json or tiktoken ranks file, if the model has no tokenizer of its own.")
    var tokenizer: String?

    @OptionGroup var sampling: SamplingOptions<Generate>

    @Option(help: "Stop after any of these token ids, comma-separated (besides the model's EOS).")
    var stop: String?

    @Flag(name: .customLong("no-bos"), help: "Do not start a text prompt with BOS (added when the tokenizer config says so).")
    var noBOS = false

    @Flag(name: .customLong("ignore-eos"), help: "Do not stop at the model's EOS ids (generation_config.json, config.json, GGUF).")
    var ignoreEOS = false

    @Option(help: "Context length limit (default: the model's maximum positions).")
    var context: Int?

    @Option(parsing: .unconditional, help: "OpenMP threads (0 = OpenMP's default; 0...1024).")
    var threads = 0

    @Option(help: "Pin the team first: compact, scatter, cores, numa:N or cpus:LIST.")
    var placement: String?

    func validate() throws {
        guard (prompt == nil) != (promptIDs == nil) else { throw ValidationError("give --prompt TEXT or --prompt-ids IDS (one of them)") }
        _ = try promptIDs.map { try parseIDs($0, what: "--prompt-ids") }
        _ = try stop.map { try parseIDs($0, what: "--stop") }
        if let c = context { try check("--context", c, in: 1...1_048_576) }
        try check("--threads", threads, in: 0...maxThreads)
    }

    func run() throws {
        let kernels = try resolveKernels()
        var stopTokens = Set(try stop.map { try parseIDs($0, what: "--stop") } ?? [])
        let givenIDs = try promptIDs.map { try parseIDs($0, what: "--prompt-ids") }
        let m = try loadModel(model, kernels: kernels)
        let tok: Tokenizer?
        do throws(BitNetError) {
            if let file = tokenizer { tok = try Tokenizer.load(file: file) } else { tok = try Tokenizer.load(modelPath: model) }
        } catch { throw Failure(error) }
        let special: SpecialTokens
        do { special = try SpecialTokens(modelPath: model, tokenizer: tok) } catch { throw Failure(error.description) }
        if !ignoreEOS { stopTokens.formUnion(special.eos) }
        var ids: [Int]
        if let text = prompt {
            guard let tok else { throw Failure("\(model) has no tokenizer: pass --tokenizer FILE or use --prompt-ids") }
            ids = try tok.encode(text)
            guard !ids.isEmpty else { throw Failure("the prompt encodes to no tokens") }
            if !noBOS, special.addsBOS, let bos = special.bos, ids.first != bos { ids.insert(bos, at: 0) }
        } else {
            ids = givenIDs!
        }
        let team = threads > 0 ? threads : Machine.openMPThreads
        try pin(threads: team, placement: placement)
        // Text when a tokenizer is present (printed as soon as its UTF-8 is complete), else ids.
        var generated: [Int] = []
        var printed = ""
        if let tok, prompt != nil { print(tok.decode(ids), terminator: "") } else { print(ids.map(String.init).joined(separator: " "), terminator: " |") }
        let result: (tokens: [Int], stats: GenerationStats)
        do {
            result = try m.generate(prompt: ids, maxNewTokens: sampling.maxTokens, sampler: sampling.sampler(), stopTokens: stopTokens,
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
        } catch { throw Failure(error) }
        print("")
        let s = result.stats
        FileHandle.standardError.write("""
            prompt: \(s.promptTokens) tokens in \(String(format: "%.1f", s.promptSeconds * 1e3)) ms (\(String(format: "%.1f", s.promptTokensPerSecond)) tokens/s)
            generation: \(s.generatedTokens) tokens, \(s.decodingPasses) decoding passes in \(String(format: "%.1f", s.generationSeconds * 1e3)) ms (\(String(format: "%.2f", s.generationTokensPerSecond)) tokens/s), \(team) thread(s)
            peak memory: \(bytes(peakMemoryBytes()))

            """.data(using: .utf8)!)
    }
}

extension Generate: SamplingDefaults {
    static let maxTokens = 32
    static let maxTokensHelp = "New tokens to generate at most (as chat's --max-tokens and the server's max_tokens)."
    static let temperature: Float = 0
}
