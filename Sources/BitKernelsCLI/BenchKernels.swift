import ArgumentParser
import BitKernels
import BitKernelsBench

struct BenchKernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Time every kernel, per instruction-set variant, at L1, L2, L3 and DRAM sizes.",
        discussion: """
            For each kernel, size and variant: the median time per call over repeated samples, the \
            throughput in GB/s, the ratio to the scalar variant, the ratio to a plain POPCNT loop \
            (popcount, pair-counts), the fraction of the read bandwidth measured in the same run \
            (a summing loop over the same buffer size), and bytes per cycle at the clock measured \
            in the same run. Ratios measured together are what to compare across noisy machines.

            Kernels: popcount, pair-counts, score (one-vs-many Jaccard winner over 784-bit rows), \
            flip (masked bit-flip), random-mask (Bernoulli(0.1) masks); and the matrix kernels \
            ternary (BitNet b1.58 GEMV/GEMM: f32 tokens quantized to int8 inside the call, times \
            2-bit weights) and binary (±1 XNOR-popcount GEMV/GEMM), over --shapes and --batch-sizes, \
            cache-warm (l1/l2/l3: one matrix called repeatedly) and from DRAM (a rotation of \
            matrices twice the L3). The scalar reference is timed for one token only.

            Example: bitkernels bench ternary --isa avx2 --batch-sizes 1,8 --levels l3,dram
            """)

    @Argument(help: "Kernels to run (default: all): popcount, pair-counts, score, flip, random-mask, ternary, binary.")
    var kernels: [String] = []

    @Option(help: "Variants: all (every one this CPU runs), or a comma-separated list of scalar, avx2, avxvnni, avx512, neon.")
    var isa = "all"

    @Option(help: "Sizes: a comma-separated list of l1, l2, l3, dram.")
    var levels = "l1,l2,l3,dram"

    @Option(help: "Matrix kernels: shapes as ROWSxCOLUMNS, comma-separated (BitNet 2B's projections by default).")
    var shapes = "2560x2560,6912x2560,2560x6912,4096x4096"

    @Option(name: .customLong("batch-sizes"), help: ArgumentHelp("Matrix kernels: tokens (activation columns) per call, comma-separated (1 = GEMV).", valueName: "n,..."))
    var batchSizes = "1,8,32"

    @Option(parsing: .unconditional, help: "Stream-prefetch distance in bytes of the ternary products and the short-row scan (0 = none; 0...65536, multiples of 256; default: this CPU's choice).")
    var streamPrefetchDistance: Int?

    @OptionGroup var options: BenchOptions

    func validate() throws {
        if let d = streamPrefetchDistance, !(0...65536).contains(d) || d % 256 != 0 {
            throw ValidationError("--stream-prefetch-distance \(d): use a multiple of 256 in 0...65536")
        }
        for k in kernels where !KernelBench.allKernels.contains(k) {
            throw ValidationError("unknown kernel '\(k)'; choose from \(KernelBench.allKernels.joined(separator: ", ")) (or the subcommands model, neurons)")
        }
        for l in levels.split(separator: ",") where !KernelBench.levelNames.contains(String(l)) {
            throw ValidationError("unknown level '\(l)'; use l1, l2, l3, dram")
        }
        _ = try parsedShapes()
        _ = try parsedTokens()
    }

    func parsedShapes() throws -> [(rows: Int, columns: Int)] {
        try shapes.split(separator: ",").map { item in
            let parts = item.split(separator: "x", omittingEmptySubsequences: false).compactMap { Int($0) }
            guard parts.count == 2, (1...(1 << 20)).contains(parts[0]), (1...(1 << 20)).contains(parts[1]) else {
                throw ValidationError("bad shape '\(item)'; write ROWSxCOLUMNS, each in 1...1048576, e.g. 2560x6912")
            }
            // The packed weights (≤ 1 byte a weight over the variants) and float activations.
            let need = parts[0] * parts[1] + 4096 * 4 * (parts[0] + parts[1])
            guard need <= memoryBudget else {
                throw ValidationError("--shapes: \(item) needs about \(bytes(need)), more than half this machine's memory (\(bytes(memoryBudget)))")
            }
            return (parts[0], parts[1])
        }
    }

    func parsedTokens() throws -> [Int] {
        try batchSizes.split(separator: ",").map { item in
            guard let n = Int(item), n >= 1, n <= 4096 else {
                throw ValidationError("bad --batch-sizes '\(item)'; use whole numbers from 1 to 4096")
            }
            return n
        }
    }

    func variants() throws -> [Kernels] {
        if isa == "all" { return try ISA.supported.map { try Kernels.variant($0) } }
        do {
            return try isa.split(separator: ",").map { name throws(BitKernelsError) in try Kernels.variant(named: String(name)) }
        } catch { throw ValidationError(error.description) }
    }

    func run() throws {
        _ = try resolveKernels()
        if let d = streamPrefetchDistance { Kernels.streamPrefetchDistance = d }
        note("stream prefetch distance: \(Kernels.streamPrefetchDistance) bytes (this CPU's default: \(Kernels.defaultStreamPrefetchDistance))")
        let bench = KernelBench(
            kernels: kernels.isEmpty ? KernelBench.allKernels : kernels, variants: try variants(),
            levels: levels.split(separator: ",").map(String.init), threads: options.threads, repeats: options.repeats,
            quick: options.quick, shapes: try parsedShapes(), tokenCounts: try parsedTokens())
        try pin(threads: options.threads, placement: options.placement)
        try options.write(bench.run())
    }
}
