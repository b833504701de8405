import ArgumentParser
import BitKernels
import Foundation

struct SearchBench: ParsableCommand {
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

    struct Result: Codable {
        var isa: String
        var width, rows, queries, threads: Int
        var score: String
        var singleQuerySeconds: Sample
        var batchSize: Int
        var batchSeconds: Sample
        var winners: [Int]
        var distances: [Int]
    }

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
        let kernels: Kernels
        do throws(BitKernelsError) {
            if let isa { kernels = try Kernels.variant(named: isa) } else { kernels = try Kernels.best() }
        } catch { throw ValidationError(error.description) }
        let matrix = try loadCodes(rows, width: width)
        let queryMatrix = try loadCodes(queries, width: width)
        guard !matrix.isEmpty, !queryMatrix.isEmpty else { throw ValidationError("no rows or no queries in the files") }
        let kind = Score(rawValue: score)!
        let singles = (0..<min(single, queryMatrix.rowCount)).map { queryMatrix[$0] }
        var next = 0
        let singleSample = measure(repeats: repeats, minSeconds: 0.02) {
            blackHole(matrix.winner(for: singles[next], score: kind, threads: threads, using: kernels))
            next = (next + 1) % singles.count
        }
        let batchCount = min(batch, queryMatrix.rowCount)
        var batchMatrix = BitMatrix(width: width, reservingRows: batchCount)
        for q in 0..<batchCount { batchMatrix.append(queryMatrix[q]) }
        let batchSample = measure(repeats: repeats, minSeconds: 0.02) {
            blackHole(matrix.winners(for: batchMatrix, score: kind, threads: threads, using: kernels))
        }
        let all = matrix.winners(for: queryMatrix, score: kind, threads: threads, using: kernels)
        let result = Result(
            isa: kernels.isa.rawValue, width: width, rows: matrix.rowCount, queries: queryMatrix.rowCount,
            threads: threads, score: score, singleQuerySeconds: singleSample, batchSize: batchCount,
            batchSeconds: batchSample, winners: all.map { $0?.row ?? -1 }, distances: all.map { $0?.differing ?? -1 })
        print("\(kernels.isa), \(matrix.rowCount) rows × \(width) bits, \(threads) thread(s), score \(score)")
        print("single query: \(format(singleSample.median * 1e6, 1)) µs median (\(format(singleSample.median * 1e9 / Double(matrix.rowCount), 2)) ns per row)")
        print("batch of \(batchCount): \(format(batchSample.median * 1e3, 2)) ms median (\(format(batchSample.median * 1e6 / Double(batchCount), 1)) µs per query, \(format(batchSample.median * 1e9 / Double(batchCount * matrix.rowCount), 2)) ns per pair)")
        if let json {
            try writeJSON(result, to: json)
        }
    }

    /// Packed codes (ceil(width/8) bytes each) into a matrix; the file size must be a multiple.
    func loadCodes(_ path: String, width: Int) throws -> BitMatrix {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read \(path)")
        }
        let codeBytes = (width + 7) / 8
        guard data.count % codeBytes == 0 else {
            throw ValidationError("\(path): \(data.count) bytes is not a whole number of \(codeBytes)-byte codes (width \(width))")
        }
        let count = data.count / codeBytes
        let wordsPerRow = (width + 63) / 64
        let lastMask: UInt64 = width % 64 == 0 ? ~0 : (1 << UInt64(width % 64)) - 1
        var matrix = BitMatrix(width: width, reservingRows: count)
        data.withUnsafeBytes { raw in
            var words = [UInt64](repeating: 0, count: wordsPerRow)
            for r in 0..<count {
                for w in 0..<wordsPerRow { words[w] = 0 }
                for b in 0..<codeBytes {
                    words[b >> 3] |= UInt64(raw[r * codeBytes + b]) << UInt64((b & 7) * 8)
                }
                words[wordsPerRow - 1] &= lastMask
                matrix.append(BitVector(width: width, words: words))
            }
        }
        return matrix
    }
}
