import CBitKernels

/// Why a topology could not be loaded or a placement not planned.
public enum PlacementError: Error, Equatable, CustomStringConvertible {
    case topology(String)
    case badPolicy(String)
    case impossible(String)

    public var description: String {
        switch self {
        case .topology(let m), .badPolicy(let m), .impossible(let m): m
        }
    }
}

/// One hardware thread, with the logical indices of the core, L2, L3, NUMA node and package it
/// belongs to (-1 when the topology has no such level).
public struct ProcessingUnit: Sendable, Equatable, Codable {
    /// The OS index of the PU (what `sched_setaffinity` takes), then the logical index of each level it
    /// belongs to.
    public var osIndex, core, l2, l3, numa, package: Int
}

/// A machine's topology: this one (`current()`), a synthetic description in hwloc's syntax, or an
/// `lstopo --of xml` export of another machine — to check a plan for a server before deploying.
///
/// ```swift
/// let topo = try HardwareTopology(synthetic: "pack:2 numa:2 l3:4 core:8 pu:2")
/// let plan = try topo.plan(.scatter, threads: 8)     // thread i → PU plan.processingUnits[i]
/// ```
public final class HardwareTopology: @unchecked Sendable {
    // hwloc topologies are safe to read concurrently; binding only calls hwloc's thread-safe setters.
    let handle: OpaquePointer
    /// The PUs in hwloc's logical order: packages, NUMA nodes, L3 domains, L2 domains, cores.
    public let processingUnits: [ProcessingUnit]
    /// Counts and cache sizes of the topology (`topology.summary.cores`).
    public let summary: Machine.Topology
    /// Whether the topology is the machine this process runs on (only then can it be bound).
    public let isThisSystem: Bool

    /// This machine, restricted to the PUs this process may use (its cpuset).
    public static func current() throws(PlacementError) -> HardwareTopology { try HardwareTopology(synthetic: nil, xml: nil) }

    /// A synthetic topology, e.g. `"pack:2 numa:2 l3:4 core:8 pu:2"` (counts per parent, outermost first).
    public convenience init(synthetic: String) throws(PlacementError) { try self.init(synthetic: synthetic, xml: nil) }

    /// A topology exported by `lstopo --of xml`.
    /// Only a regular file is read (a FIFO or device is an error, never a hang).
    public convenience init(xmlFile path: String) throws(PlacementError) {
        do { try requireRegularFile(path) } catch { throw .topology(error.description) }
        try self.init(synthetic: nil, xml: path)
    }

    /// The most objects a synthetic description may build: hwloc materializes every one, so
    /// `"pack:100000 core:100000 pu:100"` would run for hours; real machines have well under this.
    static let syntheticObjectLimit = 1 << 20

    /// Counts the objects of a synthetic description ("type:count" levels, outermost first) before
    /// hwloc builds them; nil when it stays within the limit or is not in that form (hwloc then
    /// reports its own error).
    static func syntheticTooLarge(_ description: String) -> String? {
        var objects = 1, total = 0
        for level in description.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
            guard let colon = level.lastIndex(of: ":"), let count = Int(level[level.index(after: colon)...]) else { continue }
            guard count >= 0, case (let product, false) = objects.multipliedReportingOverflow(by: max(count, 1)),
                  product <= syntheticObjectLimit else {
                return "synthetic topology '\(description)' describes more than \(syntheticObjectLimit) objects"
            }
            objects = product
            total += product
            if total > syntheticObjectLimit {
                return "synthetic topology '\(description)' describes more than \(syntheticObjectLimit) objects"
            }
        }
        return nil
    }

    private init(synthetic: String?, xml: String?) throws(PlacementError) {
        if let s = synthetic, let problem = Self.syntheticTooLarge(s) { throw .topology(problem) }
        var error = [CChar](repeating: 0, count: 512)
        guard let h = bk_topology_open(synthetic, xml, &error, error.count) else {
            throw .topology(cMessage(error))
        }
        handle = h
        let count = bk_topology_pus(h, nil, 0)
        var pus = [bk_pu_info](repeating: bk_pu_info(), count: count)
        _ = bk_topology_pus(h, &pus, count)
        processingUnits = pus.map {
            ProcessingUnit(
                osIndex: Int($0.os_index), core: Int($0.core), l2: Int($0.l2), l3: Int($0.l3), numa: Int($0.numa),
                package: Int($0.package))
        }
        var s = bk_topology_summary()
        bk_topology_summary_of(h, &s)
        summary = Machine.Topology(s)
        isThisSystem = bk_topology_is_this_system(h)
    }

    deinit { bk_topology_close(handle) }

    /// Writes the topology as hwloc XML, loadable with `init(xmlFile:)` on another machine.
    public func exportXML(to path: String) throws(PlacementError) {
        guard bk_topology_export_xml(handle, path) == 0 else { throw .topology("cannot write the topology XML to '\(path)'") }
    }

    /// The plan for `threads` threads under `policy`: a pure function of the topology (the same
    /// topology, policy and count always give the same plan).
    public func plan(_ policy: PlacementPolicy, threads: Int) throws(PlacementError) -> PlacementPlan {
        try PlacementPlan(policy: policy, threads: threads, on: self)
    }

    /// hwloc_distrib()'s spread of `threads` threads, one PU each (`bk_topology_scatter`); nil when
    /// `threads` is not in 1...PUs.
    func distributed(threads: Int) -> [Int]? {
        guard threads >= 1, threads <= processingUnits.count else { return nil }
        var out = [Int32](repeating: -1, count: threads)
        guard bk_topology_scatter(handle, Int32(threads), &out) == 0 else { return nil }
        return out.map(Int.init)
    }

    /// Pins OpenMP thread i of a team of `plan.threads` threads to its planned PU, and verifies in
    /// a second parallel region that each thread stayed there. Never fails: where binding is not
    /// possible (another machine's topology, an OS without thread binding, a restricted cpuset) the
    /// report carries one notice and the team runs unpinned. Kernels called afterwards with
    /// `threads: plan.threads` run on the pinned team (libomp reuses a team of the same size).
    public func bind(_ plan: PlacementPlan) -> BindingReport {
        let n = plan.threads
        guard isThisSystem else {
            return BindingReport(plan: plan, observed: [], notice: "the topology describes another machine; threads run unpinned")
        }
        var observed = [Int32](repeating: -1, count: n), error = [CChar](repeating: 0, count: 512)
        let targets = plan.processingUnits.map { Int32($0) }
        if bk_bind_team(handle, targets, Int32(n), &observed, &error, error.count) != 0 {
            _ = bk_unbind_team(handle, Int32(n))
            return BindingReport(plan: plan, observed: [], notice: "\(cMessage(error)); threads run unpinned")
        }
        _ = bk_team_locations(handle, Int32(n), &observed)
        return BindingReport(plan: plan, observed: observed.map(Int.init), notice: nil)
    }

    /// Lets a team of `threads` threads run anywhere in the allowed cpuset again.
    public func unbind(threads: Int) { _ = bk_unbind_team(handle, Int32(threads)) }

    /// Where each thread of a team of `threads` runs now (OS PU index, -1 when unknown).
    public func teamLocations(threads: Int) -> [Int] {
        var observed = [Int32](repeating: -1, count: threads)
        _ = bk_team_locations(handle, Int32(threads), &observed)
        return observed.map(Int.init)
    }

    /// Moves each thread's share of the matrix rows (the contiguous share the threaded kernels give
    /// thread i) to that thread's NUMA node. Returns the bytes moved: 0 on a one-node machine.
    @discardableResult
    public func distributeRows(of matrix: TernaryMatrix, for plan: PlacementPlan) -> Int {
        // The kernels share out whole groups of four rows (contiguous in the packed layout).
        distribute(UnsafeMutableRawPointer(matrix.storage.base), rowBytes: 4 * matrix.rowBytes, rows: (matrix.rows + 3) / 4, plan: plan)
    }

    /// As for ternary matrices, for a bit matrix's rows.
    @discardableResult
    public func distributeRows(of matrix: BitMatrix, for plan: PlacementPlan) -> Int {
        distribute(UnsafeMutableRawPointer(matrix.storage.base), rowBytes: matrix.wordsPerRow * 8, rows: matrix.rowCount, plan: plan)
    }

    private func distribute(_ base: UnsafeMutableRawPointer, rowBytes: Int, rows: Int, plan: PlacementPlan) -> Int {
        let nodes = plan.processingUnits.map { os in Int32(processingUnits.first { $0.osIndex == os }?.numa ?? 0) }
        return bk_numa_place_rows(handle, base, rowBytes, rows, nodes, Int32(nodes.count))
    }
}

/// A NUL-terminated C message buffer as a String.
func cMessage(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

extension Machine.Topology {
    init(_ s: bk_topology_summary) {
        self.init(
            packages: Int(s.packages), numaNodes: Int(s.numa_nodes), l3Caches: Int(s.l3_caches),
            cores: Int(s.cores), processingUnits: Int(s.pus), l1dBytes: Int(s.l1d_bytes),
            l2Bytes: Int(s.l2_bytes), l3Bytes: Int(s.l3_bytes), memoryBytes: Int(s.total_memory_bytes))
    }
}

/// Where the threads of a team go.
public enum PlacementPolicy: Sendable, Equatable, CustomStringConvertible {
    /// Fill one L3 / NUMA domain's cores before the next; SMT siblings only once every core has a thread.
    case compact
    /// Spread as `hwloc_distrib()` spreads: across packages, then NUMA nodes, L3s, L2s and cores,
    /// in proportion to the PUs under each; SMT siblings only once every core has a thread.
    case scatter
    /// One thread per physical core, never two on one core.
    case cores
    /// Only the PUs of NUMA node N (compact inside it).
    case numa(Int)
    /// Thread i on the i-th listed PU (OS indices).
    case cpus([Int])

    /// Parses `compact`, `scatter`, `cores`, `numa:N`, or `cpus:0,2,4-7`.
    public init(parsing text: String) throws(PlacementError) {
        let t = text.lowercased()
        switch t {
        case "compact": self = .compact
        case "scatter": self = .scatter
        case "cores": self = .cores
        default:
            if t.hasPrefix("numa:"), let n = Int(t.dropFirst(5)), n >= 0 {
                self = .numa(n)
            } else if t.hasPrefix("cpus:") {
                var list: [Int] = []
                for part in t.dropFirst(5).split(separator: ",") {
                    let bounds = part.split(separator: "-").map { Int($0) }
                    guard (1...2).contains(bounds.count), let lo = bounds.first!, let hi = bounds.last!, lo >= 0, lo <= hi else {
                        throw .badPolicy("'\(text)': a cpu list is comma-separated OS indices or ranges, e.g. cpus:0,2,4-7")
                    }
                    list += Array(lo...hi)
                }
                guard !list.isEmpty else { throw .badPolicy("'\(text)' lists no cpus") }
                self = .cpus(list)
            } else {
                throw .badPolicy("'\(text)' is not a placement; use compact, scatter, cores, numa:N or cpus:LIST")
            }
        }
    }

    public var description: String {
        switch self {
        case .compact: "compact"
        case .scatter: "scatter"
        case .cores: "cores"
        case .numa(let n): "numa:\(n)"
        case .cpus(let list): "cpus:" + list.map(String.init).joined(separator: ",")
        }
    }
}

/// Thread i of the team → the PU with OS index `processingUnits[i]`.
public struct PlacementPlan: Sendable, Equatable, Codable {
    /// The policy the plan was made with, as `PlacementPolicy.description` prints it ("compact").
    public let policy: String
    /// The OS index of the PU of each thread, thread 0 first.
    public let processingUnits: [Int]
    /// The number of threads the plan places.
    public var threads: Int { processingUnits.count }

    /// Plans `threads` threads on `topology`. Pure: the same inputs always give the same plan;
    /// impossible requests are errors that say what is available.
    init(policy: PlacementPolicy, threads: Int, on topology: HardwareTopology) throws(PlacementError) {
        guard threads >= 1 else { throw .impossible("a team needs at least 1 thread, not \(threads)") }
        self.policy = policy.description
        let pus = topology.processingUnits
        let order: [ProcessingUnit]
        switch policy {
        case .compact:
            order = Self.coresFirst(pus)
        case .scatter:
            guard let spread = topology.distributed(threads: threads) else {
                throw .impossible("scatter: \(threads) threads but only \(pus.count) processing units are available; more would oversubscribe")
            }
            processingUnits = spread
            return
        case .cores:
            order = Self.coresFirst(pus).filter { pu in pus.first { $0.core == pu.core }! == pu }
            guard threads <= order.count else {
                throw .impossible("cores: \(threads) threads but the topology has \(order.count) physical cores")
            }
        case .numa(let node):
            let nodes = Set(pus.map(\.numa)).filter { $0 >= 0 }.sorted()
            guard nodes.contains(node) else {
                let has = switch nodes.count {
                case 0: "no NUMA node"
                case 1: "1 NUMA node, numa:\(nodes[0])"
                default: "\(nodes.count) NUMA nodes, numbered \(Self.ranges(nodes))"
                }
                throw .impossible("numa:\(node): no such NUMA node; this topology has \(has)")
            }
            order = Self.coresFirst(pus.filter { $0.numa == node })
        case .cpus(let list):
            let known = Set(pus.map(\.osIndex))
            if let bad = list.first(where: { !known.contains($0) }) {
                throw .impossible("cpus: PU \(bad) is not in the topology or not allowed for this process (available: \(Self.ranges(known.sorted())))")
            }
            guard threads <= list.count else {
                throw .impossible("cpus: \(threads) threads but only \(list.count) cpus listed")
            }
            processingUnits = Array(list.prefix(threads))
            return
        }
        guard threads <= order.count else {
            throw .impossible("\(policy): \(threads) threads but only \(order.count) processing units are available; more would oversubscribe")
        }
        processingUnits = order.prefix(threads).map(\.osIndex)
    }

    /// Cores in logical order, first PU of each; then the second PU of each core; and so on.
    static func coresFirst(_ pus: [ProcessingUnit]) -> [ProcessingUnit] {
        var rank: [Int: Int] = [:]  // core → PUs seen so far
        let ranked = pus.enumerated().map { i, pu -> (Int, Int, ProcessingUnit) in
            let r = rank[pu.core, default: 0]
            rank[pu.core] = r + 1
            return (r, i, pu)
        }
        return ranked.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map(\.2)
    }

    static func ranges(_ sorted: [Int]) -> String {
        var parts: [String] = []
        var i = 0
        while i < sorted.count {
            var j = i
            while j + 1 < sorted.count && sorted[j + 1] == sorted[j] + 1 { j += 1 }
            parts.append(i == j ? "\(sorted[i])" : "\(sorted[i])-\(sorted[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }
}

/// What binding a team did: the plan, where each thread was found running afterwards, and the
/// notice when the team had to run unpinned.
public struct BindingReport: Sendable, Codable {
    /// The plan that was bound.
    public let plan: PlacementPlan
    /// OS PU index per thread, observed in a later parallel region (empty when unpinned).
    public let observed: [Int]
    /// Why the team runs unpinned, or nil when it is pinned.
    public let notice: String?
    /// Pinned, and every thread found where the plan put it.
    public var verified: Bool { notice == nil && observed == plan.processingUnits }
}
