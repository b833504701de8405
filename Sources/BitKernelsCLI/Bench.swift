import ArgumentParser
import BitKernels
import CBitKernels
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
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
            2-bit weights) and binary (±1 XNOR-popcount GEMV/GEMM), over --shapes and --tokens, \
            cache-warm (l1/l2/l3: one matrix called repeatedly) and from DRAM (a rotation of \
            matrices twice the L3). The scalar reference is timed for one token only.

            `bench neurons [--data DIR] [--neurons 50,1000,100000] [--threads N]` times the bit-neuron \
            online loop (encode, score, winner, flip) in images per second.

            `bench model --model PATH [--pp 64] [--tg 32] [--int8-head] [--threads N]` reports a \
            model's prompt-processing and generation tokens/s like llama-bench, against the bound \
            (read bandwidth measured in the same run / bytes read per token).

            Example: bitkernels bench ternary --isa avx2 --tokens 1,8 --levels l3,dram
            """)

    @Argument(help: "Kernels to run (default: all): popcount, pair-counts, score, flip, random-mask, ternary, binary.")
    var kernels: [String] = []

    @Option(help: "Variants: all (every one this CPU runs), or a comma-separated list of scalar, avx2, avx512, neon.")
    var isa = "all"

    @Option(help: "Sizes: a comma-separated list of l1, l2, l3, dram.")
    var levels = "l1,l2,l3,dram"

    @Option(help: "OpenMP threads for the score kernel and the bandwidth yardstick.")
    var threads = 1

    @Option(help: "Pin the team of --threads threads first: compact, scatter, cores, numa:N or cpus:LIST (see `info --placement`).")
    var placement: String?

    @Option(help: "Repeated samples per measurement (the median is reported).")
    var repeats = 9

    @Flag(help: "Fewer samples and a smaller DRAM buffer: a quick look, not figures to quote.")
    var quick = false

    @Option(help: "Matrix kernels: shapes as ROWSxCOLUMNS, comma-separated (BitNet 2B's projections by default).")
    var shapes = "2560x2560,6912x2560,2560x6912,4096x4096"

    @Option(help: "Matrix kernels: token counts per call, comma-separated (1 = GEMV).")
    var tokens = "1,8,32"

    @Option(help: "bench neurons: an IDX dataset folder (default: the MNIST subset under Tests/).")
    var data: String?

    @Option(help: "bench neurons: population sizes, comma-separated.")
    var neurons = "50,1000,100000"

    @Option(help: "bench model: the model directory or .gguf file.")
    var model: String?

    @Option(help: "bench model: prompt tokens processed in one batch (pp).")
    var pp = 64

    @Option(help: "bench model: tokens generated one at a time (tg).")
    var tg = 32

    @Flag(help: "bench model: keep the LM head as int8 (half the bytes of bf16).")
    var int8Head = false

    @Option(help: "Also write the results as JSON to this file.")
    var json: String?

    static let vectorKernels = ["popcount", "pair-counts", "score", "flip", "random-mask"]
    static let matrixKernels = ["ternary", "binary"]
    static let allKernels = vectorKernels + matrixKernels  // `model` runs only when named

    struct Row: Codable {
        var kernel, level, isa: String
        var bytes: Int
        var threads: Int
        var seconds: Sample
        var gbPerSecond: Double
        var vsScalar: Double?
        var vsPopcntLoop: Double?
        var fractionOfReadBandwidth: Double
        var bytesPerCycle: Double
    }

    struct Report: Codable {
        var command: String
        var cpu: String
        var clockGHz: Double
        var readBandwidthGBps: [String: Double]
        var rows: [Row]
        var matrixRows: [MatrixBench.Row]
    }

    func validate() throws {
        for k in kernels where !Self.allKernels.contains(k) && k != "model" && k != "neurons" {
            throw ValidationError("unknown kernel '\(k)'; choose from \((Self.allKernels + ["model", "neurons"]).joined(separator: ", "))")
        }
        if kernels.contains("model") && model == nil { throw ValidationError("bench model needs --model PATH") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
        for l in levels.split(separator: ",") where !["l1", "l2", "l3", "dram"].contains(String(l)) {
            throw ValidationError("unknown level '\(l)'; use l1, l2, l3, dram")
        }
        _ = try parsedShapes()
        _ = try parsedTokens()
    }

    func parsedShapes() throws -> [(rows: Int, columns: Int)] {
        try shapes.split(separator: ",").map { item in
            let parts = item.split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2, parts[0] > 0, parts[1] > 0 else {
                throw ValidationError("bad shape '\(item)'; write ROWSxCOLUMNS, e.g. 2560x6912")
            }
            return (parts[0], parts[1])
        }
    }

    func parsedTokens() throws -> [Int] {
        try tokens.split(separator: ",").map { item in
            guard let n = Int(item), n >= 1, n <= 4096 else {
                throw ValidationError("bad token count '\(item)'; use whole numbers from 1 to 4096")
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

    /// Buffer sizes per level: half of one cache of that level, so the data stays resident, and
    /// for DRAM at least 4× the L3 (the hardware cannot keep it).
    func levelBytes() -> [(String, Int)] {
        let t = Machine.topology
        let l1 = max((t?.l1dBytes ?? 32 << 10) / 2, 8 << 10)
        let l2 = max((t?.l2Bytes ?? 512 << 10) / 2, 64 << 10)
        let l3 = max((t?.l3Bytes ?? 16 << 20) / 4, 1 << 20)
        let dram = quick ? max(4 * (t?.l3Bytes ?? 32 << 20), 64 << 20) : max(8 * (t?.l3Bytes ?? 32 << 20), 256 << 20)
        let all = ["l1": l1, "l2": l2, "l3": l3, "dram": dram]
        return levels.split(separator: ",").map { (String($0), all[String($0)]!) }
    }

    func run() throws {
        _ = try resolveKernels()
        if kernels == ["neurons"] {
            let sizes = try neurons.split(separator: ",").map { item -> Int in
                guard let n = Int(item), n >= 1 else { throw ValidationError("bad --neurons '\(item)'") }
                return n
            }
            let rows = try NeuronBench(data: data ?? Organize.fixture, sizes: sizes, threads: threads, repeats: quick ? 3 : repeats).run()
            if let path = json {
                try writeJSON(rows, to: path)
            }
            return
        }
        if kernels == ["model"] {
            try pin(threads: threads, placement: placement)
            let report = try ModelBench(path: model!, promptTokens: pp, generatedTokens: tg, threads: threads,
                                        repeats: quick ? 3 : max(repeats / 3, 3), int8Head: int8Head).run()
            ModelBench.printReport(report)
            if let path = json {
                try writeJSON(report, to: path)
            }
            return
        }
        guard !kernels.contains("model") && !kernels.contains("neurons") else {
            throw ValidationError("run `bench model` and `bench neurons` on their own")
        }
        let chosen = kernels.isEmpty ? Self.allKernels : kernels
        let variants = try variants()
        let reps = quick ? 5 : repeats
        let minSeconds = quick ? 0.001 : 0.004
        try pin(threads: threads, placement: placement)
        let clockHz = Machine.measureClockHz(seconds: 0.1)
        let cpu = CPUFeatures.current.brand
        FileHandle.standardError.write("bench: \(cpu), clock \(format(clockHz / 1e9)) GHz measured, \(threads) thread(s), median of \(reps)\n".data(using: .utf8)!)
        var rows: [Row] = []
        var bandwidth: [String: Double] = [:]
        let vectorKernels = chosen.filter { Self.vectorKernels.contains($0) }
        if !vectorKernels.isEmpty { printHeader() }
        for (level, bytes) in vectorKernels.isEmpty ? [] : levelBytes() {
            let words = bytes / 8
            let buffer = BenchBuffer(words: words, seed: 1)
            let bwSample = measure(repeats: reps, minSeconds: minSeconds) {
                blackHole(bk_read_sum_parallel(buffer.words, words, Int32(threads)))
            }
            let bw = Double(bytes) / bwSample.median / 1e9
            bandwidth[level] = bw
            print("\(level.uppercased()) \(bytes / 1024) KiB: read bandwidth \(format(bw, 1)) GB/s (summing loop, \(threads) thread(s))")
            for kernel in vectorKernels {
                progress("timing \(kernel) at \(level)")
                var scalarSeconds: Double?
                var baselineSeconds: Double?
                if let baseline = baselineBody(kernel, buffer) {
                    baselineSeconds = measure(repeats: reps, minSeconds: minSeconds, baseline).median
                }
                for k in variants {
                    let (body, traffic) = kernelBody(kernel, k, buffer)
                    let s = measure(repeats: reps, minSeconds: minSeconds, body)
                    if k.isa == .scalar { scalarSeconds = s.median }
                    let gbps = Double(traffic) / s.median / 1e9
                    let row = Row(
                        kernel: kernel, level: level, isa: k.isa.rawValue, bytes: traffic, threads: threads,
                        seconds: s, gbPerSecond: gbps,
                        vsScalar: scalarSeconds.map { $0 / s.median },
                        vsPopcntLoop: baselineSeconds.map { $0 / s.median },
                        fractionOfReadBandwidth: gbps / bw,
                        bytesPerCycle: clockHz > 0 ? Double(traffic) / (s.median * clockHz) : 0)
                    rows.append(row)
                    clearProgress()
                    printRow(row)
                }
            }
        }
        var matrixRows: [MatrixBench.Row] = []
        let matrixKernels = chosen.filter { Self.matrixKernels.contains($0) }
        if !matrixKernels.isEmpty {
            let levelNames = levels.split(separator: ",").map(String.init)
            let matrixLevels = (levelNames.contains { $0 != "dram" } ? ["warm"] : []) + (levelNames.contains("dram") ? ["dram"] : [])
            let bench = MatrixBench(
                shapes: try parsedShapes(), tokenCounts: try parsedTokens(), variants: variants, threads: threads,
                levels: matrixLevels, repeats: reps, minSeconds: minSeconds, clockHz: clockHz,
                l3Bytes: Machine.topology?.l3Bytes ?? 32 << 20)
            print("")
            MatrixBench.printHeader()
            for kernel in matrixKernels { bench.run(kernel: kernel, into: &matrixRows, bandwidth: &bandwidth) }
        }
        if let path = json {
            let report = Report(
                command: CommandLine.arguments.joined(separator: " "), cpu: cpu,
                clockGHz: clockHz / 1e9, readBandwidthGBps: bandwidth, rows: rows, matrixRows: matrixRows)
            try writeJSON(report, to: path)
            print("wrote \(path)")
        }
    }

    /// The work of one call and the bytes it moves.
    func kernelBody(_ kernel: String, _ k: Kernels, _ buffer: BenchBuffer) -> (() -> Void, Int) {
        let table = cTable(k), t = table.pointee
        let words = buffer.count, p = buffer.words
        switch kernel {
        case "popcount":
            return ({ blackHole(t.popcount(p, words)) }, words * 8)
        case "pair-counts":
            let half = words / 2
            return ({ blackHole(t.pair_counts(p, p + half, half)) }, half * 16)
        case "score":
            // One 784-bit query against every row (13 words per row), Jaccard winner, with the
            // row popcounts a BitMatrix keeps.
            let rowWords = 13
            let rowCount = max((words - rowWords) / rowWords, 1)
            let pops = popcounts(p + rowWords, rowWords, rowCount)
            return ({
                pops.withUnsafeBufferPointer { pp in
                    var rows = bk_rows(words: p + rowWords, stride_words: rowWords, word_count: rowWords,
                                       row_count: rowCount, row_popcounts: pp.baseAddress)
                    blackHole(bk_score_winner(table, BK_SCORE_JACCARD, p, &rows, Int32(threads)))
                }
            }, rowCount * (rowWords * 8 + 4))
        case "flip":
            let third = words / 3
            return ({ t.masked_flip(p, p + third, p + 2 * third, third) }, third * 32)
        default:  // random-mask
            var rng = bk_rng()
            bk_rng_seed(&rng, 7)
            let threshold = bk_density_threshold(0.1)
            return ({ t.random_bits(&rng, p, words, threshold) }, words * 8)
        }
    }

    /// The plain POPCNT loop for the kernels that have one.
    func baselineBody(_ kernel: String, _ buffer: BenchBuffer) -> (() -> Void)? {
        guard CPUFeatures.current.has("popcnt") || CPUFeatures.current.has("neon") else { return nil }
        let words = buffer.count, p = buffer.words
        switch kernel {
        case "popcount": return { blackHole(bk_popcount_popcnt_loop(p, words)) }
        case "pair-counts":
            let half = words / 2
            return { blackHole(bk_pair_counts_popcnt_loop(p, p + half, half)) }
        default: return nil
        }
    }

    func popcounts(_ rows: UnsafePointer<UInt64>, _ rowWords: Int, _ count: Int) -> [UInt32] {
        var out = [UInt32](repeating: 0, count: count)
        bk_kernels_for(BK_ISA_SCALAR)!.pointee.row_popcounts(rows, rowWords, rowWords, count, &out)
        return out
    }

    func printHeader() {
        print("kernel       level  isa      µs/call (min–max)           GB/s   ×scalar  ×popcnt-loop  %readBW  B/cycle")
    }

    func printRow(_ r: Row) {
        let us = r.seconds.median * 1e6
        let range = "(\(format(r.seconds.min * 1e6, 1))–\(format(r.seconds.max * 1e6, 1)))"
        let cols = [
            r.kernel.padding(toLength: 12, withPad: " ", startingAt: 0),
            r.level.padding(toLength: 6, withPad: " ", startingAt: 0),
            r.isa.padding(toLength: 8, withPad: " ", startingAt: 0),
            (format(us, 2) + " " + range).padding(toLength: 27, withPad: " ", startingAt: 0),
            format(r.gbPerSecond, 1).leftPad(6),
            (r.vsScalar.map { format($0, 2) } ?? "-").leftPad(8),
            (r.vsPopcntLoop.map { format($0, 2) } ?? "-").leftPad(13),
            format(100 * r.fractionOfReadBandwidth, 0).leftPad(8),
            format(r.bytesPerCycle, 1).leftPad(8),
        ]
        print(cols.joined(separator: " "))
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
