import ArgumentParser
import BitKernels
import Foundation

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the CPU, its features, the kernel variant chosen, the topology and OpenMP threads.")

    @Flag(help: "Print JSON instead of text.")
    var json = false

    struct Report: Codable {
        var cpu: String
        var clockGHz: Double
        var features: [String: Bool]
        var supportedVariants: [String]
        var chosenVariant: String
        var kernelFamilies: [String: String]
        var override: String?
        var topology: Machine.Topology?
        var openMPThreads: Int
    }

    func run() throws {
        let kernels = try resolveKernels()
        let cpu = CPUFeatures.current
        let families = ["popcount", "pair_counts", "and_counts", "row_popcounts", "masked_flip", "random_bits"]
        let report = Report(
            cpu: cpu.brand.isEmpty ? "unknown" : cpu.brand,
            clockGHz: (Machine.measureClockHz(seconds: 0.05) / 1e7).rounded() / 100,
            features: Dictionary(uniqueKeysWithValues: cpu.flags.map { ($0.name, $0.present) }),
            supportedVariants: ISA.supported.map(\.rawValue),
            chosenVariant: kernels.isa.rawValue,
            kernelFamilies: Dictionary(uniqueKeysWithValues: families.map { ($0, kernels.isa.rawValue) }),
            override: ProcessInfo.processInfo.environment["BITKERNELS_ISA"],
            topology: Machine.topology,
            openMPThreads: Machine.openMPThreads)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        print("CPU            \(report.cpu), \(report.clockGHz) GHz measured")
        print("features       " + cpu.flags.filter(\.present).map(\.name).joined(separator: " "))
        print("variants       \(report.supportedVariants.joined(separator: ", ")) (this CPU can run)")
        let how = report.override.map { "forced by BITKERNELS_ISA=\($0)" } ?? "best for this CPU"
        print("chosen         \(report.chosenVariant) (\(how))")
        for f in families { print("  \(f.padding(toLength: 13, withPad: " ", startingAt: 0))\(kernels.isa)") }
        if let t = report.topology {
            print("topology       \(t.packages) package(s), \(t.numaNodes) NUMA node(s), \(t.l3Caches) L3, \(t.cores) core(s), \(t.processingUnits) PU(s)")
            print("caches         L1d \(bytes(t.l1dBytes)), L2 \(bytes(t.l2Bytes)), L3 \(bytes(t.l3Bytes)); memory \(bytes(t.memoryBytes))")
        } else {
            print("topology       unavailable (hwloc could not load it)")
        }
        print("OpenMP         \(report.openMPThreads) thread(s) by default (OMP_NUM_THREADS to change)")
    }
}

func bytes(_ n: Int) -> String {
    if n == 0 { return "?" }
    if n >= 1 << 30 { return String(format: "%.1f GiB", Double(n) / Double(1 << 30)) }
    if n >= 1 << 20 { return String(format: "%.0f MiB", Double(n) / Double(1 << 20)) }
    if n >= 1 << 10 { return String(format: "%.0f KiB", Double(n) / Double(1 << 10)) }
    return "\(n) B"
}
