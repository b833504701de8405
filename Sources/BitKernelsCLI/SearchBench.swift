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
    @Option(help: "OpenMP threads.") var threads = 1
    @Option(help: "Repeated samples (the median is reported).") var repeats = 7
    @Option(help: "Queries timed one at a time.") var single = 100
    @Option(help: "Queries in the batch.") var batch = 1000
    @Option(help: "Variant (default: the best for this CPU).") var isa: String?
    @Option(help: "Write results (timings and every query's winner) as JSON here.") var json: String?

    func validate() throws {
        guard width > 0 else { throw ValidationError("--width must be positive") }
        guard Score(rawValue: score) != nil else {
            throw ValidationError("unknown score '\(score)'; use \(Score.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard threads >= 1, repeats >= 1, single >= 1, batch >= 1 else {
            throw ValidationError("--threads, --repeats, --single and --batch must be at least 1")
        }
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
