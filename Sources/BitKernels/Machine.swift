import CBitKernels

/// Facts about the machine that tools report beside kernel timings.
///
/// ```swift
/// let t = Machine.topology
/// print(t?.cores ?? 0, Machine.openMPThreads)
/// ```
public enum Machine {
    /// The hwloc topology summary.
    ///
    /// ```swift
    /// if let t = Machine.topology { print("\(t.packages) packages, \(t.cores) cores") }
    /// ```
    public struct Topology: Sendable, Codable, Equatable {
        /// Counts of sockets, NUMA nodes, L3 caches, physical cores and hardware threads.
        public var packages, numaNodes, l3Caches, cores, processingUnits: Int
        /// Size of one cache of each level, in bytes (0 when unknown).
        public var l1dBytes, l2Bytes, l3Bytes: Int
        /// Memory of the whole machine, in bytes.
        public var memoryBytes: Int
    }

    /// The machine's topology through hwloc, or nil when hwloc cannot load it.
    ///
    /// ```swift
    /// let cores = Machine.topology?.cores ?? 1
    /// ```
    public static var topology: Topology? {
        var s = bk_topology_summary()
        guard bk_topology_summarize(&s) else { return nil }
        return Topology(s)
    }

    /// OpenMP's default team size (OMP_NUM_THREADS or the number of processing units).
    ///
    /// ```swift
    /// let best = matrix.winner(for: q, score: .jaccard, threads: Machine.openMPThreads)
    /// ```
    public static var openMPThreads: Int { Int(bk_omp_max_threads()) }

    /// The core clock in Hz, measured by a chain of dependent additions for about `seconds`.
    ///
    /// ```swift
    /// print(Machine.measureClockHz() / 1e9, "GHz")
    /// ```
    public static func measureClockHz(seconds: Double = 0.05) -> Double { bk_measure_clock_hz(seconds) }

    /// A clock the operating system reports, to check `measureClockHz` against.
    public struct ReportedClock: Sendable, Equatable {
        /// What the figure means: `"current"` (cpufreq, the calling thread's core), `"maximum"`
        /// (cpufreq, turbo included) or `"nominal"` (`/proc/cpuinfo` without cpufreq, as in
        /// virtual machines: the TSC's rate, which turbo exceeds).
        public var kind: String
        /// The clock in hertz.
        public var hz: Double
    }

    /// The clock the OS reports (Linux: cpufreq, else `/proc/cpuinfo`), or nil when it reports none.
    ///
    /// ```swift
    /// if let os = Machine.reportedClock { print(os.kind, os.hz / 1e9, "GHz") }
    /// ```
    public static var reportedClock: ReportedClock? {
        var kind = BK_OS_CLOCK_NONE
        let hz = bk_os_clock_hz(&kind)
        guard hz > 0 else { return nil }
        return ReportedClock(kind: String(cString: bk_os_clock_name(kind)), hz: hz)
    }
}
