import ArgumentParser
import BitKernels
import BitKernelsBench
import Foundation

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the CPU, its features, the kernel variant chosen, the topology and OpenMP threads.",
        discussion: """
            With --placement, also plans a team of --threads threads, binds it through hwloc and \
            verifies in a second parallel region that every thread runs on its planned PU. On a \
            topology of another machine (--topology, --topology-xml) it prints the plan only.

            Placement: compact (fill one L3/NUMA domain's cores first, SMT siblings last), scatter \
            (spread over packages, NUMA nodes, L3s, L2s and cores as hwloc_distrib() does, SMT \
            siblings last), cores (one thread per physical core), numa:N (only node N), \
            cpus:0,2,4-7 (thread i on the i-th listed PU).
            """)

    @Option(name: [.customShort("o"), .customLong("output-format")],
            help: ArgumentHelp("What to print on stdout: text or json.", valueName: "format"))
    var outputFormat: OutputFormat = .text

    @Option(help: ArgumentHelp("Also write the report as JSON to this file.", valueName: "file"))
    var json: String?

    @Option(parsing: .unconditional, help: "Threads of the team to place (with --placement; default: OpenMP's default team; 1...1024).")
    var threads: Int?

    @Option(help: "Plan, bind and verify a team: compact, scatter, cores, numa:N or cpus:LIST.")
    var placement: String?

    @Option(name: .customLong("export-topology"), help: ArgumentHelp("Write this machine's topology as hwloc XML.", valueName: "file"))
    var exportTopology: String?

    @OptionGroup var topologyOptions: TopologyOptions

    struct Report: Codable, JSONDocument {
        var cpu: String
        var clockGHz: Double
        /// What the operating system reports, and which clock that is (current, maximum, nominal).
        var reportedClockGHz: Double?
        var reportedClockKind: String?
        var features: [String: Bool]
        var supportedVariants: [String]
        var chosenVariant: String
        /// Every entry of the chosen table → the variant whose code runs it.
        var kernelEntries: [String: String]
        var override: String?
        var topology: Machine.Topology?
        var openMPThreads: Int
        var plan: PlacementPlan?
        var binding: BindingReport?
    }

    func validate() throws {
        if let t = threads { try check("--threads", t, in: 1...maxThreads) }
        try check(outputFormat, allowed: [.text, .json])
    }

    func run() throws {
        let kernels = try resolveKernels()
        let cpu = CPUFeatures.current
        let topo = try topologyOptions.load()
        if let path = exportTopology {
            // hwloc writes the file itself: into a private temporary, then atomically into place.
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("bitkernels-topology-\(getpid()).xml").path
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            do { try topo.exportXML(to: scratch) } catch { throw Failure("\(path): \(error)", code: ExitStatus.io) }
            guard let xml = FileManager.default.contents(atPath: scratch) else { throw Failure("\(path): hwloc wrote no XML", code: ExitStatus.io) }
            do { try writeAtomically([UInt8](xml), to: path) } catch { throw Failure(error.description, code: ExitStatus.io) }
        }
        var binding: BindingReport?
        var plan: PlacementPlan?
        if let p = placement {
            plan = try makePlan(topo, try parsePolicy(p), threads: threads ?? Machine.openMPThreads)
            if topo.isThisSystem { binding = topo.bind(plan!) }
        }
        let entries = kernels.entries
        let report = Report(
            cpu: cpu.brand.isEmpty ? "unknown" : cpu.brand,
            clockGHz: (Machine.measureClockHz(seconds: 0.05) / 1e7).rounded() / 100,
            reportedClockGHz: Machine.reportedClock.map { ($0.hz / 1e7).rounded() / 100 },
            reportedClockKind: Machine.reportedClock?.kind,
            features: Dictionary(uniqueKeysWithValues: cpu.flags.map { ($0.name, $0.present) }),
            supportedVariants: ISA.supported.map(\.rawValue),
            chosenVariant: kernels.isa.rawValue,
            kernelEntries: Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0.isa.rawValue) }),
            override: ProcessInfo.processInfo.environment["BITKERNELS_ISA"],
            topology: topo.summary,
            openMPThreads: Machine.openMPThreads,
            plan: plan, binding: binding)
        if let path = json {
            do { try writeJSON(report, to: path) } catch { throw Failure(error.description, code: error.code) }
        }
        if outputFormat == .json {
            FileHandle.standardOutput.write(Data(try jsonBytes(report)))
            return
        }
        let os = report.reportedClockGHz.map { "; the OS reports \($0) GHz (\(report.reportedClockKind ?? "?"))" } ?? ""
        print("CPU            \(report.cpu), \(report.clockGHz) GHz measured\(os)")
        print("features       " + cpu.flags.filter(\.present).map(\.name).joined(separator: " "))
        print("variants       \(report.supportedVariants.joined(separator: ", ")) (this CPU can run)")
        let how = report.override.map { "forced by BITKERNELS_ISA=\($0)" } ?? "best for this CPU"
        print("chosen         the \(report.chosenVariant) table (\(how)), one choice for all \(entries.count) kernels:")
        for line in describe(entries, table: kernels.isa) { print(line) }
        if let t = report.topology {
            print("topology       \(t.packages) package(s), \(t.numaNodes) NUMA node(s), \(t.l3Caches) L3, \(t.cores) core(s), \(t.processingUnits) PU(s)")
            print("caches         L1d \(bytes(t.l1dBytes)), L2 \(bytes(t.l2Bytes)), L3 \(bytes(t.l3Bytes)); memory \(bytes(t.memoryBytes))")
        } else {
            print("topology       unavailable (hwloc could not load it)")
        }
        print("OpenMP         \(report.openMPThreads) thread(s) by default (OMP_NUM_THREADS to change)")
        if !topo.isThisSystem { print("note           the topology above is not this machine's (\(topologyOptions.topology ?? topologyOptions.topologyXML ?? ""))") }
        if let plan {
            let status = binding.map { $0.verified ? ": pinned and verified" : "" } ?? " (plan only: not this machine)"
            print("placement      \(plan.policy), \(plan.threads) thread(s)\(status)")
            for line in describe(plan, on: topo, observed: binding?.observed ?? []) { print(line) }
            if let notice = binding?.notice { print("notice         \(notice)") }
        }
        if let path = exportTopology { print("wrote          \(path)") }
        if let path = json { print("wrote          \(path)") }
    }
}

/// The table's entries grouped by the variant whose code runs them, the table's own first, in
/// lines that fit a terminal: "  avx512 code: popcount, pair_counts, ...".
func describe(_ entries: [Kernels.Entry], table: ISA) -> [String] {
    let variants = [table] + ISA.allCases.filter { $0 != table && entries.map(\.isa).contains($0) }
    var lines: [String] = []
    for isa in variants {
        let names = entries.filter { $0.isa == isa }.map(\.name)
        guard !names.isEmpty else { continue }
        var line = "  \(isa) code:"
        for (i, name) in names.enumerated() {
            let item = " " + name + (i + 1 < names.count ? "," : "")
            if line.count + item.count > 100 {
                lines.append(line)
                line = String(repeating: " ", count: "  \(isa) code:".count)
            }
            line += item
        }
        lines.append(line)
    }
    return lines
}
