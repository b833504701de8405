import ArgumentParser
import BitKernels
import BitKernelsBench

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks: the kernels (default), a model's tokens/s, the bit-neuron loop.",
        discussion: """
            Every figure is measured in this run on this machine, beside the yardsticks it is \
            compared with (read bandwidth, a plain POPCNT loop, the scalar variant, the clock). \
            `bench KERNEL...` is `bench kernels KERNEL...`.
            """,
        subcommands: [BenchKernels.self, BenchModel.self, BenchNeurons.self],
        defaultSubcommand: BenchKernels.self)
}

/// Options every benchmark takes.
struct BenchOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "OpenMP threads of the timed kernels and of the bandwidth yardstick (1...1024).")
    var threads = 1

    @Option(help: "Pin the team of --threads threads first: compact, scatter, cores, numa:N or cpus:LIST (see `info --placement`).")
    var placement: String?

    @Option(parsing: .unconditional, help: "Repeated samples per measurement (the median is reported; 1...1000).")
    var repeats = 9

    @Flag(help: "Fewer samples and smaller buffers: a quick look, not figures to quote.")
    var quick = false

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    func validate() throws {
        try check("--threads", threads, in: 1...maxThreads)
        try check("--repeats", repeats, in: 1...1000)
    }

    /// Writes `value` when --json was given.
    func write<T: JSONDocument>(_ value: T) throws {
        guard let path = json else { return }
        try writeJSON(value, to: path)
        print("wrote \(path)")
    }
}
