import ArgumentParser
import BitKernelsBench

struct BenchModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "A model's prompt-processing and generation tokens/s, like llama-bench.",
        discussion: """
            Runs the prompt (--pp tokens in one batch) and then --tg tokens one at a time, several \
            times, and reports the median with the spread of the runs, against the bound the \
            memory system sets: the read bandwidth measured in the same run divided by the bytes \
            read per token. A synthetic model: python3 bench/make_synthetic_bitnet.py --out DIR.

            Example: bitkernels bench model --model /tmp/bitnet-2b4t --threads 2
            """)

    @Option(help: "The model directory or .gguf file.")
    var model: String

    @Option(help: "Prompt tokens processed in one batch (pp).")
    var pp = 64

    @Option(help: "Tokens generated one at a time (tg).")
    var tg = 32

    @Flag(help: "Keep the LM head as int8 (half the bytes of bf16).")
    var int8Head = false

    @OptionGroup var options: BenchOptions

    func validate() throws {
        try check("--pp", pp, in: 1...1_048_576)
        try check("--tg", tg, in: 1...1_048_576)
    }

    func run() throws {
        let kernels = try resolveKernels()
        try pin(threads: options.threads, placement: options.placement)
        let report = try ModelBench(
            path: model, promptTokens: pp, generatedTokens: tg, threads: options.threads,
            repeats: options.quick ? 3 : max(options.repeats / 3, 3), int8Head: int8Head, kernels: kernels).run()
        ModelBench.printReport(report)
        try options.write(report)
    }
}
