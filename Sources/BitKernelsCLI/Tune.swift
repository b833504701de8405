import ArgumentParser
import BitKernels
import BitKernelsBench
import Foundation

struct Tune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sweep thread counts × placement policies for a kernel and find the fastest team.",
        discussion: """
            For every policy and thread count: plan the team on the topology, pin it through hwloc \
            (verified), then time the kernel on an out-of-cache working set (medians of repeated \
            samples, min–max). Reports throughput and parallel efficiency against one thread of the \
            same policy, prints the best configuration with the API call and environment that \
            reproduce it, and can write JSON and an SVG of the scaling curves.

            On a topology of another machine (--topology, --topology-xml) nothing can be timed: the \
            plans each policy would use are printed (and written by --json), to check placement for \
            a server before deploying; --plot is then an error. A working set that fits in the \
            last-level cache gets a warning: its figures are the cache's, not memory scaling.

            The plot: GB/s against threads, a colour, dash pattern and marker per policy (coinciding \
            series stay visible), min–max bars, ideal scaling from one thread, the read bandwidth \
            measured in the same run, and the CPU, date and commit.

            Kernels: score (784-bit Jaccard winner over a BitMatrix), ternary-gemv (BitNet \
            b1.58 GEMV, 4096 columns, one token), binary-gemv (±1 GEMV, 4096 columns).

            Example: bitkernels tune --kernel ternary-gemv --policies compact,scatter --plot scaling.svg
            """)

    @Option(help: "The kernel to tune: score, ternary-gemv, binary-gemv.")
    var kernel = "score"

    @Option(help: "Working set in MiB (default: 4 × the L3, so the kernel streams from memory).")
    var size: Int?

    @Option(help: "Thread counts: a range 1...N or a list 1,2,4, each in 1...1024 (default: 1 up to the PUs allowed).")
    var threads: String?

    @Option(help: "Policies to compare, comma-separated: compact, scatter, cores, numa:N, cpus:LIST.")
    var policies = "compact,scatter"

    @Option(help: "Samples per point (the median is reported).")
    var repeats = 7

    @Option(help: "Write every point as JSON to this file.")
    var json: String?

    @Option(help: "Draw throughput against threads, one line per policy, as SVG to this file.")
    var plot: String?

    @OptionGroup var topologyOptions: TopologyOptions

    func validate() throws {
        guard TuneSweep.kernelNames.contains(kernel) else {
            throw ValidationError("unknown kernel '\(kernel)'; choose from \(TuneSweep.kernelNames.joined(separator: ", "))")
        }
        if let s = size { try check("--size", s, in: 1...max(memoryBudget >> 20, 1), unit: " MiB (half this machine's memory)") }
        try check("--repeats", repeats, in: 1...1000)
        _ = try policyList()
        _ = try threadCounts(max: maxThreads)
    }

    func policyList() throws -> [PlacementPolicy] {
        // cpus:LIST contains commas: split on commas only before a policy name.
        var items: [String] = []
        for part in policies.split(separator: ",").map(String.init) {
            if let last = items.last, last.hasPrefix("cpus:"), part.first?.isNumber == true {
                items[items.count - 1] += "," + part
            } else {
                items.append(part)
            }
        }
        return try items.map(parsePolicy)
    }

    func threadCounts(max: Int) throws -> [Int] {
        guard let text = threads else { return Array(1...Swift.max(max, 1)) }
        if text.contains("...") {
            let ends = text.components(separatedBy: "...").compactMap { Int($0) }
            guard ends.count == 2, ends[0] >= 1, ends[0] <= ends[1], ends[1] <= maxThreads else {
                throw ValidationError("bad thread range '\(text)'; write e.g. 1...8, counts in 1...\(maxThreads)")
            }
            return Array(ends[0]...ends[1])
        }
        let list = text.split(separator: ",").compactMap { Int($0) }
        guard !list.isEmpty, list.count == text.split(separator: ",").count, list.allSatisfy({ (1...maxThreads).contains($0) }) else {
            throw ValidationError("bad thread list '\(text)'; write e.g. 1,2,4 or 1...8, counts in 1...\(maxThreads)")
        }
        return list
    }

    func run() throws {
        let kernels = try resolveKernels()
        let topo = try topologyOptions.load()
        let sweep = TuneSweep(kernel: kernel, bytes: size.map { $0 << 20 }, policies: try policyList(),
                              threadCounts: try threadCounts(max: topo.processingUnits.count), repeats: repeats, kernels: kernels)
        guard topo.isThisSystem else {
            // Plans only: --json gets them; a plot of nothing measured is refused, not skipped.
            if plot != nil {
                throw Failure("--plot: \(topologyOptions.topology ?? topologyOptions.topologyXML ?? "the topology") is not this machine's, so nothing is timed and there is nothing to plot; drop --plot (--json writes the plans)", code: ExitStatus.usage)
            }
            let plans = sweep.printPlans(on: topo)
            if let path = json {
                try writeJSON(plans, to: path)
                print("wrote \(path) (plans only, nothing timed)")
            }
            return
        }
        let report = sweep.run(on: topo)
        if let path = json {
            try writeJSON(report, to: path)
            print("wrote \(path)")
        }
        if let path = plot {
            let svg = scalingSVG(report)
            do { try writeAtomically(Array(svg.utf8), to: path) } catch { throw Failure(error.description, code: ExitStatus.io) }
            print("wrote \(path)")
        }
    }
}
