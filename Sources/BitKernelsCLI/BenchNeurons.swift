import ArgumentParser
import BitKernelsBench

struct BenchNeurons: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "neurons",
        abstract: "Images per second of the bit-neuron online loop (encode, score, winner, flip).",
        discussion: """
            For each population size, from cache-resident to 100,000 neurons (10 MB of patterns \
            scanned per image): rank-encoded images (k = 118), Jaccard winner, masked flip.

            Example: bitkernels bench neurons --data ../shared/data/mnist --neurons 50,1000,100000
            """)

    @Option(help: ArgumentHelp("An IDX dataset folder. " + DefaultDataset.help, valueName: "dir"))
    var data: String?

    @Option(help: "Population sizes, comma-separated.")
    var neurons = "50,1000,100000"

    @OptionGroup var options: BenchOptions

    func validate() throws {
        for n in try parseCounts(neurons, option: "--neurons") { try check("--neurons", n, in: 1...1_000_000) }
    }

    func run() throws {
        let kernels = try resolveKernels()
        let folder = try data ?? DefaultDataset.locate()
        let rows = try NeuronBench(data: folder, sizes: try parseCounts(neurons, option: "--neurons"),
                                   threads: options.threads, repeats: options.quick ? 3 : options.repeats, kernels: kernels).run()
        try options.write(NeuronBench.Report(data: folder, isa: kernels.isa.rawValue, rows: rows))
    }
}
