import BitKernels
import Foundation

/// `bench`: every vector kernel per variant at L1, L2, L3 and DRAM sizes, then the matrix kernels,
/// each beside yardsticks measured in the same run (the read bandwidth of a summing loop over the
/// same bytes, a plain POPCNT loop, the scalar variant, the clock).
///
/// ```swift
/// let report = try KernelBench(kernels: ["popcount"], variants: [.default], levels: ["l1"], threads: 1,
///                              repeats: 5, quick: true, shapes: [], tokenCounts: [1]).run()
/// ```
package struct KernelBench {
    package static let vectorKernels = ["popcount", "pair-counts", "score", "flip", "random-mask"]
    package static let matrixKernels = ["ternary", "binary"]
    package static let allKernels = vectorKernels + matrixKernels
    package static let levelNames = ["l1", "l2", "l3", "dram"]

    package var kernels: [String]
    package var variants: [Kernels]
    package var levels: [String]
    package var threads: Int
    package var repeats: Int
    package var quick: Bool
    package var shapes: [(rows: Int, columns: Int)]
    package var tokenCounts: [Int]

    package init(kernels: [String], variants: [Kernels], levels: [String], threads: Int, repeats: Int, quick: Bool,
                 shapes: [(rows: Int, columns: Int)], tokenCounts: [Int]) {
        self.kernels = kernels
        self.variants = variants
        self.levels = levels
        self.threads = threads
        self.repeats = repeats
        self.quick = quick
        self.shapes = shapes
        self.tokenCounts = tokenCounts
    }

    package struct Row: Codable {
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

    package struct Report: Codable, JSONDocument {
        var command: String
        var cpu: String
        var clockGHz: Double
        var readBandwidthGBps: [String: Double]
        var rows: [Row]
        var matrixRows: [MatrixBench.Row]
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
        return levels.map { ($0, all[$0]!) }
    }

    /// Runs and prints every table; returns the rows for JSON.
    package func run() -> Report {
        let reps = quick ? 5 : repeats
        let minSeconds = quick ? 0.001 : 0.004
        let clockHz = Machine.measureClockHz(seconds: 0.1)
        let cpu = CPUFeatures.current.brand
        note("bench: \(cpu), clock \(format(clockHz / 1e9)) GHz measured, \(threads) thread(s), median of \(reps)")
        var rows: [Row] = []
        var bandwidth: [String: Double] = [:]
        let vectorKernels = kernels.filter { Self.vectorKernels.contains($0) }
        if !vectorKernels.isEmpty { printHeader() }
        for (level, bytes) in vectorKernels.isEmpty ? [] : levelBytes() {
            let buffer = BenchBuffer(words: bytes / 8, seed: 1)
            let bw = buffer.readBandwidth(threads: threads, repeats: reps, minSeconds: minSeconds)
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
        let matrixKernels = kernels.filter { Self.matrixKernels.contains($0) }
        if !matrixKernels.isEmpty {
            let matrixLevels = (levels.contains { $0 != "dram" } ? ["warm"] : []) + (levels.contains("dram") ? ["dram"] : [])
            let bench = MatrixBench(
                shapes: shapes, tokenCounts: tokenCounts, variants: variants, threads: threads,
                levels: matrixLevels, repeats: reps, minSeconds: minSeconds, clockHz: clockHz,
                l3Bytes: Machine.topology?.l3Bytes ?? 32 << 20)
            print("")
            MatrixBench.printHeader()
            for kernel in matrixKernels { bench.run(kernel: kernel, into: &matrixRows, bandwidth: &bandwidth) }
        }
        return Report(command: CommandLine.arguments.joined(separator: " "), cpu: cpu, clockGHz: clockHz / 1e9,
                      readBandwidthGBps: bandwidth, rows: rows, matrixRows: matrixRows)
    }

    /// The work of one call and the bytes it moves.
    func kernelBody(_ kernel: String, _ k: Kernels, _ buffer: BenchBuffer) -> (() -> Void, Int) {
        let words = buffer.count, p = buffer.words
        switch kernel {
        case "popcount":
            return ({ blackHole(k.popcount(p, count: words)) }, words * 8)
        case "pair-counts":
            let half = words / 2
            return ({ blackHole(k.pairCounts(p, p + half, count: half)) }, half * 16)
        case "score":
            // One 784-bit query against every row (13 words per row), Jaccard winner, with the
            // row popcounts a BitMatrix keeps.
            let rowWords = 13
            let rowCount = max((words - rowWords) / rowWords, 1)
            let pops = popcounts(p + rowWords, rowWords, rowCount)
            let threads = threads
            return ({
                pops.withUnsafeBufferPointer { pp in
                    let rows = RowsView(words: p + rowWords, strideWords: rowWords, wordCount: rowWords,
                                        rowCount: rowCount, rowPopcounts: pp.baseAddress)
                    blackHole(k.scoreWinner(.jaccard, query: p, rows: rows, threads: threads))
                }
            }, rowCount * (rowWords * 8 + 4))
        case "flip":
            let third = words / 3
            return ({ k.maskedFlip(p, toward: p + third, where: p + 2 * third, count: third) }, third * 32)
        default:  // random-mask
            var generator = BitMask(seed: 7)
            let threshold = BitMask.threshold(density: 0.1)
            return ({ k.randomBits(&generator, into: p, count: words, threshold: threshold) }, words * 8)
        }
    }

    /// The plain POPCNT loop for the kernels that have one.
    func baselineBody(_ kernel: String, _ buffer: BenchBuffer) -> (() -> Void)? {
        guard CPUFeatures.current.has("popcnt") || CPUFeatures.current.has("neon") else { return nil }
        let words = buffer.count, p = buffer.words
        switch kernel {
        case "popcount": return { blackHole(Yardstick.popcountLoop(p, count: words)) }
        case "pair-counts":
            let half = words / 2
            return { blackHole(Yardstick.pairCountsLoop(p, p + half, count: half)) }
        default: return nil
        }
    }

    func popcounts(_ rows: UnsafePointer<UInt64>, _ rowWords: Int, _ count: Int) -> [UInt32] {
        var out = [UInt32](repeating: 0, count: count)
        try! Kernels.variant(.scalar).rowPopcounts(rows: rows, strideWords: rowWords, wordCount: rowWords, rowCount: count, into: &out)
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
