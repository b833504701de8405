import ArgumentParser
import BitKernels
import Foundation

/// Where the topology comes from, shared by `info` and `tune`.
struct TopologyOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "A synthetic topology in hwloc's syntax instead of this machine, e.g. \"pack:2 numa:2 l3:4 core:8 pu:2\".",
        valueName: "description"))
    var topology: String?

    @Option(name: .customLong("topology-xml"), help: ArgumentHelp(
        "A topology exported on another machine with `lstopo --of xml` (or `bitkernels info --export-topology`).",
        valueName: "file"))
    var topologyXML: String?

    func validate() throws {
        if topology != nil && topologyXML != nil { throw ValidationError("give --topology or --topology-xml, not both") }
    }

    func load() throws -> HardwareTopology {
        do {
            if let s = topology { return try HardwareTopology(synthetic: s) }
            if let x = topologyXML { return try HardwareTopology(xmlFile: x) }
            return try HardwareTopology.current()
        } catch { throw ValidationError(error.description) }
    }
}

func parsePolicy(_ text: String) throws -> PlacementPolicy {
    do { return try PlacementPolicy(parsing: text) } catch { throw ValidationError(error.description) }
}

func makePlan(_ topo: HardwareTopology, _ policy: PlacementPolicy, threads: Int) throws -> PlacementPlan {
    do { return try topo.plan(policy, threads: threads) } catch { throw ValidationError(error.description) }
}

/// One line per thread: the planned PU and its core / L3 / NUMA node / package.
func describe(_ plan: PlacementPlan, on topo: HardwareTopology, observed: [Int] = []) -> [String] {
    plan.processingUnits.enumerated().map { i, os in
        let pu = topo.processingUnits.first { $0.osIndex == os }
        var line = "  thread \(i) → PU \(os)"
        if let pu { line += " (core \(pu.core), L2 \(pu.l2), L3 \(pu.l3), NUMA \(pu.numa), package \(pu.package))" }
        if i < observed.count { line += observed[i] == os ? "  verified" : "  found on PU \(observed[i])" }
        return line
    }
}
