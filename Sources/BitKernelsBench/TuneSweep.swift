import BitKernels
import Foundation

/// `tune`: a kernel timed on an out-of-cache working set for every placement policy × thread
/// count, each point beside the read bandwidth of the same team on as many bytes, and the best
/// configuration with the calls that reproduce it.
///
/// ```swift
/// let topo = try HardwareTopology.current()
/// let report = try TuneSweep(kernel: "score", bytes: 64 << 20, policies: [.compact, .scatter], threadCounts: [1, 2],
///                            repeats: 7, kernels: .default).run(on: topo)
/// ```
package struct TuneSweep {
    package static let kernelNames = ["score", "ternary-gemv", "binary-gemv"]

    package var kernel: String
    package var bytes: Int?
    package var policies: [PlacementPolicy]
    package var threadCounts: [Int]
    package var repeats: Int
    package var kernels: Kernels

    /// `bytes` nil: 4 × the topology's L3.
    package init(kernel: String, bytes: Int?, policies: [PlacementPolicy], threadCounts: [Int], repeats: Int, kernels: Kernels) {
        self.kernel = kernel
        self.bytes = bytes
        self.policies = policies
        self.threadCounts = threadCounts
        self.repeats = repeats
        self.kernels = kernels
    }

    package struct Point: Codable {
        var policy: String
        var threads: Int
        var processingUnits: [Int]
        var pinned: Bool
        var seconds: Sample
        var gbPerSecond: Double
        var efficiency: Double
        /// A summing loop over as many bytes, same team, same placement, same run.
        var readBandwidthGBps: Double
        var sameAs: String? = nil  // the policy whose identical plan was measured
    }

    package struct Report: Codable, JSONDocument {
        package var command, kernel, cpu: String
        /// When the sweep ran (UTC, ISO 8601).
        package var date: String
        package var workingSetBytes: Int
        /// All L3 caches of the machine together (0 when hwloc does not know them).
        package var lastLevelCacheBytes: Int
        /// The working set fits in them: throughput above one thread × threads is the cache's,
        /// not scaling.
        package var fitsInLastLevelCache: Bool
        package var points: [Point]
        var best: Point?
        var reproduce: [String]
    }

    /// What `tune --topology F --json J` writes: the plan of every policy and thread count on a
    /// topology that is not this machine's (nothing timed).
    package struct PlanReport: Codable, JSONDocument {
        package struct Entry: Codable {
            var policy: String
            var threads: Int
            /// The planned PUs, or nil with `error` when the policy cannot place that many threads.
            var processingUnits: [Int]?
            var error: String?
        }
        package var command, kernel: String
        package var topology: Machine.Topology
        package var measured = false
        package var plans: [Entry]
    }

    /// On another machine's topology nothing can be timed: prints the plan of every policy and
    /// count, and returns them.
    @discardableResult
    package func printPlans(on topo: HardwareTopology) -> PlanReport {
        print("topology: \(topo.summary.packages) package(s), \(topo.summary.numaNodes) NUMA node(s), \(topo.summary.l3Caches) L3, \(topo.summary.cores) cores, \(topo.summary.processingUnits) PUs — not this machine: plans only, nothing timed")
        var entries: [PlanReport.Entry] = []
        for policy in policies {
            for n in threadCounts {
                do {
                    let plan = try topo.plan(policy, threads: n)
                    print("\(policy), \(n) thread(s): PUs \(plan.processingUnits.map(String.init).joined(separator: ","))")
                    entries.append(.init(policy: policy.description, threads: n, processingUnits: plan.processingUnits))
                } catch {
                    print("\(policy), \(n) thread(s): \(error)")
                    entries.append(.init(policy: policy.description, threads: n, error: "\(error)"))
                }
            }
        }
        return PlanReport(command: CommandLine.arguments.joined(separator: " "), kernel: kernel, topology: topo.summary, plans: entries)
    }

    /// All L3 caches of `topo` together, 0 when unknown.
    package static func lastLevelCacheBytes(_ topo: HardwareTopology) -> Int {
        topo.summary.l3Bytes * max(topo.summary.l3Caches, 1)
    }

    /// Times every point on this machine's topology, printing each as it comes.
    package func run(on topo: HardwareTopology) -> Report {
        let l3 = topo.summary.l3Bytes > 0 ? topo.summary.l3Bytes : 32 << 20
        let bytes = self.bytes ?? 4 * l3
        note("tune: preparing \(kernel) on \(bytes >> 20) MiB...")
        let workload = Workload(kernel: kernel, bytes: bytes, kernels: kernels)
        let yardstick = BenchBuffer(words: workload.bytes / 8, seed: 4)
        let llc = TuneSweep.lastLevelCacheBytes(topo)
        let fits = llc > 0 && workload.bytes <= llc
        if fits {
            note("warning: the \(workload.bytes >> 20) MiB working set fits in the \(llc >> 20) MiB last-level cache: the figures are the cache's, and efficiency can pass 100%; use --size above \(llc >> 20) (the default is 4 × the L3)")
        }
        print("tune \(kernel): \(workload.bytes >> 20) MiB working set, \(topo.summary.cores) cores / \(topo.summary.processingUnits) PUs, median of \(repeats)")
        print("policy     threads  PUs                µs/call (min–max)              GB/s   efficiency  %readBW  pinned")

        var points: [Point] = []
        let total = policies.count * threadCounts.count
        for policy in policies {
            var oneThread: Double?
            for n in threadCounts {
                let step = points.count + 1
                progress("[\(step)/\(total)] \(policy) × \(n) thread(s)")
                let plan: PlacementPlan
                do { plan = try topo.plan(policy, threads: n) } catch {
                    clearProgress()
                    print("\(policy.description.padding(toLength: 10, withPad: " ", startingAt: 0)) \(String(n).leftPad(7))  skipped: \(error)")
                    continue
                }
                // Policies that put the threads on the same PUs are one measurement, not two noisy ones.
                if let same = points.first(where: { $0.processingUnits == plan.processingUnits }) {
                    var p = same
                    p.policy = policy.description
                    if n == 1 { oneThread = p.gbPerSecond }
                    p.efficiency = oneThread.map { p.gbPerSecond / ($0 * Double(n)) } ?? .nan
                    p.sameAs = same.sameAs ?? same.policy
                    points.append(p)
                    clearProgress()
                    printPoint(p)
                    continue
                }
                let binding = topo.bind(plan)
                if let notice = binding.notice, points.isEmpty { print("notice: \(notice)") }
                let s = measure(repeats: repeats, minSeconds: 0.05) { workload.run(threads: n) }
                let r = measure(repeats: repeats, minSeconds: 0.05) {
                    blackHole(Yardstick.readSum(yardstick.words, count: yardstick.count, threads: n))
                }
                topo.unbind(threads: n)
                let gbps = Double(workload.bytes) / s.median / 1e9
                if n == 1 { oneThread = gbps }
                let efficiency = oneThread.map { gbps / ($0 * Double(n)) } ?? .nan
                let p = Point(policy: policy.description, threads: n, processingUnits: plan.processingUnits,
                              pinned: binding.verified, seconds: s, gbPerSecond: gbps, efficiency: efficiency,
                              readBandwidthGBps: Double(yardstick.count * 8) / r.median / 1e9)
                points.append(p)
                clearProgress()
                printPoint(p)
            }
        }
        let best = points.filter { $0.sameAs == nil }.max { $0.gbPerSecond < $1.gbPerSecond }
        var reproduce: [String] = []
        if let best, let policy = try? PlacementPolicy(parsing: best.policy) {
            reproduce = [
                "let topology = try HardwareTopology.current()",
                "_ = topology.bind(try topology.plan(\(swiftLiteral(policy)), threads: \(best.threads)))",
                "// then call kernels with threads: \(best.threads)",
                "CLI: bitkernels info --threads \(best.threads) --placement \(best.policy)",
                "OpenMP only (no BitKernels binding): \(openMPEquivalent(policy, threads: best.threads))",
            ]
            print("\nbest: \(best.policy) with \(best.threads) thread(s), \(format(best.gbPerSecond, 1)) GB/s (\(format(best.seconds.median * 1e6, 1)) µs per call), efficiency \(format(100 * best.efficiency, 0))%")
            for line in reproduce { print("  \(line)") }
        }
        return Report(command: CommandLine.arguments.joined(separator: " "), kernel: kernel,
                      cpu: CPUFeatures.current.brand.isEmpty ? "unknown" : CPUFeatures.current.brand,
                      date: ISO8601DateFormatter().string(from: Date()), workingSetBytes: workload.bytes,
                      lastLevelCacheBytes: llc, fitsInLastLevelCache: fits, points: points, best: best, reproduce: reproduce)
    }

    func printPoint(_ p: Point) {
        let pus = p.processingUnits.map(String.init).joined(separator: ",")
        let range = "(\(format(p.seconds.min * 1e6, 1))–\(format(p.seconds.max * 1e6, 1)))"
        print([
            p.policy.padding(toLength: 10, withPad: " ", startingAt: 0),
            String(p.threads).leftPad(7),
            " " + (pus.count > 17 ? String(pus.prefix(16)) + "…" : pus).padding(toLength: 18, withPad: " ", startingAt: 0),
            (format(p.seconds.median * 1e6, 1) + " " + range).padding(toLength: 30, withPad: " ", startingAt: 0),
            format(p.gbPerSecond, 1).leftPad(6),
            (p.efficiency.isNaN ? "-" : format(100 * p.efficiency, 0) + "%").leftPad(11),
            format(100 * p.gbPerSecond / p.readBandwidthGBps, 0).leftPad(8),
            p.pinned ? "  yes" : "  no",
        ].joined(separator: " ") + (p.sameAs.map { "   (same PUs as \($0))" } ?? ""))
    }

    func swiftLiteral(_ p: PlacementPolicy) -> String {
        switch p {
        case .compact: ".compact"
        case .scatter: ".scatter"
        case .cores: ".cores"
        case .numa(let n): ".numa(\(n))"
        case .cpus(let list): ".cpus(\(list))"
        }
    }
}

/// The environment that reproduces a policy with OpenMP's own binding, where one exists.
package func openMPEquivalent(_ policy: PlacementPolicy, threads: Int) -> String {
    switch policy {
    case .compact: "OMP_NUM_THREADS=\(threads) OMP_PLACES=cores OMP_PROC_BIND=close"
    case .scatter: "OMP_NUM_THREADS=\(threads) OMP_PLACES=cores OMP_PROC_BIND=spread"
    case .cores: "OMP_NUM_THREADS=\(threads) OMP_PLACES=cores OMP_PROC_BIND=close"
    case .numa(let n): "OMP_NUM_THREADS=\(threads) numactl --cpunodebind=\(n) --membind=\(n)"
    case .cpus(let list): "OMP_NUM_THREADS=\(threads) OMP_PLACES=\"\(list.prefix(threads).map { "{\($0)}" }.joined(separator: ","))\" OMP_PROC_BIND=true"
    }
}

/// The data a tuned kernel streams, built once, and one call of it.
final class Workload {
    let bytes: Int
    private let call: (Int) -> Void

    init(kernel: String, bytes requested: Int, kernels: Kernels) {
        switch kernel {
        case "ternary-gemv":
            let columns = 4096, rowBytes = columns / 4
            let rows = max(requested / rowBytes, 4)
            var rng = SplitMix64(seed: 1)
            let m = try! TernaryMatrix(values: (0..<(rows * columns)).map { _ in Int8(Int(rng.next() % 3) - 1) },
                                       rows: rows, columns: columns)
            let x = QuantizedTokens((0..<columns).map { Float($0 % 255) - 127 }, tokens: 1, columns: columns, using: kernels)
            bytes = rows * rowBytes
            call = { threads in blackHole(m.multiply(x, threads: threads, using: kernels)[0]) }
        case "binary-gemv":
            let width = 4096, rows = max(requested / (width / 8), 4)
            var rng = SplitMix64(seed: 2)
            var m = BitMatrix(width: width, reservingRows: rows)
            for _ in 0..<rows { m.append(BitVector(width: width, words: (0..<(width / 64)).map { _ in rng.next() })) }
            let x = BitVector(width: width, words: (0..<(width / 64)).map { _ in rng.next() })
            bytes = rows * width / 8
            call = { threads in blackHole(m.binaryProducts(with: x, threads: threads, using: kernels)[0]) }
        default:  // score: 784-bit rows (13 words each) and the Jaccard winner
            let width = 784, rows = max(requested / (13 * 8), 4)
            var rng = SplitMix64(seed: 3)
            var m = BitMatrix(width: width, reservingRows: rows)
            let mask = (UInt64(1) << 16) - 1
            for _ in 0..<rows {
                var w = (0..<13).map { _ in rng.next() }
                w[12] &= mask
                m.append(BitVector(width: width, words: w))
            }
            let q = m[rows / 2]
            bytes = rows * 13 * 8
            call = { threads in blackHole(m.winner(for: q, score: .jaccard, threads: threads, using: kernels)) }
        }
    }

    func run(threads: Int) { call(threads) }
}

