import ArgumentParser
import BitKernels
import BitKernelsBench

struct SearchBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search-bench",
        abstract: "Time one-vs-many winner search on given rows and queries (for comparisons with other libraries).",
        discussion: """
            The row and query files hold raw packed codes, ceil(width / 8) bytes per vector, bit i \
            of a vector in byte i / 8 at bit i % 8 — the layout of FAISS binary indexes. \
            bench/faiss_compare.py writes such files and runs FAISS IndexBinaryFlat beside this \
            command on the same data.

            Reports the median time of a single query (each of the first --single queries, \
            repeated) and of a batch of --batch queries (many-vs-many), and the winners.
            """)

    @Option(help: "File of packed row codes.") var rows: String
    @Option(help: "File of packed query codes.") var queries: String
    @Option(help: "Bits per code.") var width: Int
    @Option(help: "Score: differing (Hamming, minimum wins), shared, sharedMinusDiffering, jaccard.")
    var score = "differing"
    @Option(parsing: .unconditional, help: "OpenMP threads (1...1024).") var threads = 1
    @Option(parsing: .unconditional, help: "Repeated samples (the median is reported; 1...1000).") var repeats = 7
    @Option(parsing: .unconditional, help: "Queries timed one at a time (1...1000000).") var single = 100
    @Option(parsing: .unconditional, help: "Queries in the batch (1...1000000).") var batch = 1000
    @Option(help: "Variant (default: the best for this CPU).") var isa: String?
    @Option(help: "Write results (timings and every query's winner) as JSON here.") var json: String?

    func validate() throws {
        try check("--width", width, in: 1...(1 << 20))
        guard Score(rawValue: score) != nil else {
            throw ValidationError("unknown score '\(score)'; use \(Score.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        try check("--threads", threads, in: 1...maxThreads)
        try check("--repeats", repeats, in: 1...1000)
        try check("--single", single, in: 1...1_000_000)
        try check("--batch", batch, in: 1...1_000_000)
    }

    func run() throws {
        var kernels = try resolveKernels()
        if let isa {
            do { kernels = try Kernels.variant(named: isa) } catch { throw ValidationError(error.description) }
        }
        let result = try SearchBench(rows: rows, queries: queries, width: width, score: Score(rawValue: score)!, threads: threads,
                                     repeats: repeats, single: single, batch: batch, kernels: kernels).run()
        if let json { try writeJSON(result, to: json) }
    }
}
