import BitKernels
import Foundation
import Testing

/// Placement plans are pure functions of (topology, policy, threads): exact plans on synthetic
/// topologies, whose OS indices are the logical ones.
@Suite struct PlacementTests {
    func plan(_ topology: String, _ policy: String, _ threads: Int) throws -> [Int] {
        try HardwareTopology(synthetic: topology).plan(PlacementPolicy(parsing: policy), threads: threads).processingUnits
    }

    @Test func oneSocketWithoutSMT() throws {
        let t = "pack:1 l3:1 core:4 pu:1"
        #expect(try plan(t, "compact", 3) == [0, 1, 2])
        #expect(try plan(t, "scatter", 3) == [0, 1, 2])
        #expect(try plan(t, "cores", 4) == [0, 1, 2, 3])
        #expect(throws: PlacementError.self) { try plan(t, "compact", 5) }
    }

    /// Two L3 domains of two 2-way SMT cores: core c holds PUs 2c and 2c+1.
    @Test func oneSocketTwoL3WithSMT() throws {
        let t = "pack:1 l3:2 core:2 pu:2"
        #expect(try plan(t, "compact", 4) == [0, 2, 4, 6])        // every core before any sibling
        #expect(try plan(t, "compact", 6) == [0, 2, 4, 6, 1, 3])
        #expect(try plan(t, "scatter", 4) == [0, 4, 2, 6])        // alternate L3 domains
        #expect(try plan(t, "scatter", 8) == [0, 4, 2, 6, 1, 5, 3, 7])
        #expect(try plan(t, "cores", 4) == [0, 2, 4, 6])
        #expect(throws: PlacementError.impossible("cores: 5 threads but the topology has 4 physical cores")) {
            try plan(t, "cores", 5)
        }
    }

    /// Two packages, one NUMA node each, 2 cores × 2 PUs per package.
    @Test func twoSocketsWithSMT() throws {
        let t = "pack:2 numa:1 l3:1 core:2 pu:2"
        let topo = try HardwareTopology(synthetic: t)
        #expect(topo.summary.packages == 2 && topo.summary.numaNodes == 2 && topo.summary.processingUnits == 8)
        #expect(!topo.isThisSystem)
        #expect(try plan(t, "compact", 4) == [0, 2, 4, 6])
        #expect(try plan(t, "compact", 3) == [0, 2, 4])
        #expect(try plan(t, "scatter", 3) == [0, 4, 2])
        #expect(try plan(t, "numa:1", 3) == [4, 6, 5])
        #expect(throws: PlacementError.self) { try plan(t, "numa:2", 1) }
    }

    @Test func fourSocketsWithoutSMT() throws {
        let t = "pack:4 core:2 pu:1"
        #expect(try plan(t, "compact", 5) == [0, 1, 2, 3, 4])
        #expect(try plan(t, "scatter", 5) == [0, 2, 4, 6, 1])
        #expect(try plan(t, "scatter", 8) == [0, 2, 4, 6, 1, 3, 5, 7])
        #expect(try plan(t, "cores", 8) == Array(0..<8))
    }

    /// Four packages × two NUMA nodes × 2 cores × 2 PUs: scatter alternates packages first.
    @Test func fourSocketsTwoNUMAWithSMT() throws {
        let t = "pack:4 numa:2 core:2 pu:2"  // package p: PUs 8p ..< 8p + 8; node n of it: 4 PUs
        #expect(try plan(t, "scatter", 8) == [0, 8, 16, 24, 4, 12, 20, 28])
        #expect(try plan(t, "compact", 3) == [0, 2, 4])
        #expect(try plan(t, "numa:3", 2) == [12, 14])
    }

    @Test func explicitCPUListsAndParsing() throws {
        let t = "pack:1 core:4 pu:2"
        #expect(try plan(t, "cpus:1,3", 2) == [1, 3])
        #expect(try plan(t, "cpus:4-6", 2) == [4, 5])
        #expect(throws: PlacementError.self) { try plan(t, "cpus:99", 1) }
        #expect(throws: PlacementError.self) { try plan(t, "cpus:1,3", 3) }
        #expect(throws: PlacementError.self) { try PlacementPolicy(parsing: "tight") }
        #expect(throws: PlacementError.self) { try PlacementPolicy(parsing: "cpus:3-1") }
        #expect(throws: PlacementError.self) { try plan(t, "compact", 0) }
        #expect(try PlacementPolicy(parsing: "NUMA:2") == .numa(2))
        #expect(try PlacementPolicy(parsing: "cpus:0,2-3").description == "cpus:0,2,3")
    }

    @Test func badTopologiesAreClearErrors() {
        #expect(throws: PlacementError.self) { try HardwareTopology(synthetic: "pack:two core:3") }
        #expect(throws: PlacementError.self) { try HardwareTopology(xmlFile: "/nonexistent/topology.xml") }
    }

    /// This machine: exported as XML and loaded back it has the same shape, and binding a team
    /// either is verified (each thread found on its planned PU in a later region) or says why not.
    @Test func bindingOnThisMachine() throws {
        let topo = try HardwareTopology.current()
        #expect(topo.isThisSystem && !topo.processingUnits.isEmpty)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bk-topology-\(getpid()).xml").path
        try topo.exportXML(to: path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let reloaded = try HardwareTopology(xmlFile: path)
        #expect(reloaded.summary.processingUnits == topo.summary.processingUnits && reloaded.summary.cores == topo.summary.cores)

        let threads = min(2, topo.processingUnits.count)
        let reversed = PlacementPolicy.cpus(topo.processingUnits.prefix(threads).map(\.osIndex).reversed())
        let report = topo.bind(try topo.plan(reversed, threads: threads))
        defer { topo.unbind(threads: threads) }
        if let notice = report.notice {
            print("binding unavailable here: \(notice)")
            #expect(report.observed.isEmpty)
        } else {
            #expect(report.verified, "planned \(report.plan.processingUnits), observed \(report.observed)")
            #expect(topo.teamLocations(threads: threads) == report.plan.processingUnits)
        }
        // NUMA placement of rows: on a one-node machine it moves nothing and changes nothing.
        let m = try TernaryMatrix(values: [Int8](repeating: 1, count: 64 * 512), rows: 64, columns: 512)
        let moved = topo.distributeRows(of: m, for: try topo.plan(.compact, threads: threads))
        if topo.summary.numaNodes <= 1 { #expect(moved == 0) }
        #expect(m.values.allSatisfy { $0 == 1 })
        // Another machine's topology is never bound.
        let other = try HardwareTopology(synthetic: "pack:2 core:2 pu:1")
        #expect(other.bind(try other.plan(.compact, threads: 2)).notice != nil)
    }
}
