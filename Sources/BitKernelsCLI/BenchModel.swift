import ArgumentParser
import BitKernels
import BitKernelsBench
import Foundation

struct BenchModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "A model's prompt-processing and generation tokens/s, like llama-bench.",
        discussion: """
            llama-bench's conventions: a test ppN (N prompt tokens in one batch) for every -p, a \
            test tgN (N tokens one at a time after a one-token prompt) for every -n, for every -m \
            and -t; comma-separated lists sweep; each test runs -r times after one untimed \
            warm-up and reports the mean ± the sample standard deviation of tokens/s. -p 0 or \
            -n 0 skips those tests. tg tests also show the bound the memory system sets: the read \
            bandwidth measured in the same run divided by the bytes read per token.

            -o picks what stdout gets: md (a llama-bench table, default), csv, json (an array) or \
            jsonl (an object a line); every row carries version and commit. Progress and notes go \
            to stderr. A synthetic model: python3 bench/make_synthetic_bitnet.py --out DIR.

            Example: bitkernels bench model -m /tmp/bitnet-2b4t -p 64,512 -n 128 -t 1,2 -o md
            """)

    @Option(name: [.customShort("m"), .long],
            help: ArgumentHelp("Model directories or .gguf files, comma-separated.", valueName: "paths"))
    var model: String

    @Option(name: [.customShort("p"), .customLong("prompt-tokens")], parsing: .unconditional,
            help: ArgumentHelp("Prompt sizes of the pp tests, comma-separated (0 = none).", valueName: "n,..."))
    var promptTokens = "64"

    @Option(name: [.customShort("n"), .customLong("new-tokens")], parsing: .unconditional,
            help: ArgumentHelp("Generation lengths of the tg tests, comma-separated (0 = none).", valueName: "n,..."))
    var newTokens = "32"

    @Option(name: [.customShort("t"), .long], parsing: .unconditional,
            help: ArgumentHelp("OpenMP thread counts, comma-separated (1...1024).", valueName: "n,..."))
    var threads = "1"

    @Option(name: [.customShort("r"), .long], parsing: .unconditional,
            help: "Timed repetitions of each test (1...1000).")
    var repeats = 5

    @Option(help: "Pin each team first: compact, scatter, cores, numa:N or cpus:LIST (see `info --placement`).")
    var placement: String?

    @Flag(help: "Keep the LM head as int8 (half the bytes of bf16).")
    var int8Head = false

    @Option(name: [.customShort("o"), .customLong("output-format")],
            help: ArgumentHelp("What stdout gets: md, csv, json or jsonl.", valueName: "format"))
    var outputFormat: OutputFormat = .md

    @Option(help: ArgumentHelp("Also write the results as a JSON array to this file.", valueName: "file"))
    var json: String?

    /// The sweeps, parsed and checked (a usage error names the option).
    struct Sweep: Equatable {
        var models: [String]
        var promptTokens: [Int]
        var newTokens: [Int]
        var threads: [Int]
    }

    func sweep() throws -> Sweep {
        let models = model.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard !models.contains(where: \.isEmpty) else { throw ValidationError("--model: an empty path in '\(model)'") }
        let s = Sweep(
            models: models,
            promptTokens: try parseList(promptTokens, option: "--prompt-tokens", in: 0...1_048_576),
            newTokens: try parseList(newTokens, option: "--new-tokens", in: 0...1_048_576),
            threads: try parseList(threads, option: "--threads", in: 1...maxThreads))
        guard s.promptTokens.contains(where: { $0 > 0 }) || s.newTokens.contains(where: { $0 > 0 }) else {
            throw ValidationError("--prompt-tokens and --new-tokens are all 0: no test to run")
        }
        return s
    }

    func validate() throws {
        _ = try sweep()
        try check("--repeats", repeats, in: 1...1000)
        try check(outputFormat, allowed: [.md, .csv, .json, .jsonl])
    }

    func run() throws {
        let kernels = try resolveKernels()
        let s = try sweep()
        var results: [ModelBench.Result] = []
        for path in s.models {
            var bench = ModelBench(
                path: path, promptTokens: s.promptTokens, generatedTokens: s.newTokens, threads: s.threads,
                repetitions: repeats, int8Head: int8Head, kernels: kernels)
            let placement = self.placement
            bench.prepare = { t in try pin(threads: t, placement: placement) }
            results += try bench.run()
        }
        let out: [UInt8]
        switch outputFormat {
        case .csv: out = Array(ModelBench.csv(results).utf8)
        case .json: out = try ModelBench.json(results)
        case .jsonl: out = try ModelBench.jsonLines(results)
        default: out = Array(ModelBench.markdown(results).utf8)
        }
        FileHandle.standardOutput.write(Data(out))
        if let path = json {
            do { try writeAtomically(try ModelBench.json(results), to: path) } catch let e as FileWriteError {
                throw Failure(e.description, code: ExitStatus.io)
            }
            note("wrote \(path)")
        }
    }
}

/// Comma-separated whole numbers in `range` (`-p 64,512`), or a usage error naming the option.
func parseList(_ text: String, option: String, in range: ClosedRange<Int>) throws -> [Int] {
    let items = text.split(separator: ",", omittingEmptySubsequences: false)
    return try items.map { item in
        guard let n = Int(item.trimmingCharacters(in: .whitespaces)), range.contains(n) else {
            throw ValidationError("bad \(option) '\(item)'; use whole numbers in \(range.lowerBound)...\(range.upperBound), comma-separated")
        }
        return n
    }
}
