import ArgumentParser
import BitKernels
import BitKernelsBench
import Foundation
#if MPI
import BitDistributed
#endif

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

            Under `mpirun -np R` (bitkernels built with `--traits MPI`) each rank reads only its \
            block of the rows and the search is sharded: per query, the local scan alone and the \
            scan plus the MPI reduction (so the reduction's cost), single and batched; rank 0 prints.
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
        #if MPI
        if let world = distributedWorld() {
            defer { world.finalize() }
            try runSharded(world: world, kernels: kernels)
            return
        }
        #else
        try refuseMPIWithoutTrait("search-bench")
        #endif
        let result = try SearchBench(rows: rows, queries: queries, width: width, score: Score(rawValue: score)!, threads: threads,
                                     repeats: repeats, single: single, batch: batch, kernels: kernels).run()
        if let json { try writeJSON(result, to: json) }
    }
}

#if MPI
extension SearchBenchCommand {
    struct ShardedResult: Codable {
        var isa: String
        var width, rows, ranks, threads, queries, batchSize: Int
        var rowsPerRank: [Int]
        var score: String
        /// Per query: this rank's scan alone, and scan + MPI_Allreduce of the winner record.
        var localQuerySeconds, shardedQuerySeconds: Sample
        /// Per batch: local batched winners, and those + one MPI_Allreduce of the batch's records.
        var localBatchSeconds, shardedBatchSeconds: Sample
        /// The reduction alone: one MPI_Allreduce of 1 record (a single query's), and of a batch's records.
        var reduceOneSeconds, reduceBatchSeconds: Sample
        var winners: [Int]
    }

    /// Every rank times the same fixed number of calls (collectives cannot be timed adaptively);
    /// the medians reported are rank 0's.
    func runSharded(world: Communicator, kernels: Kernels) throws {
        let kind = Score(rawValue: score)!
        let total: Int, shard: BitMatrix, queryMatrix: BitMatrix
        do {
            total = try SearchBench.codeCount(rows, width: width)
            let mine = ShardedBitMatrix.blockRange(rowCount: total, rank: world.rank, ranks: world.size)
            shard = try SearchBench.loadCodes(rows, width: width, rows: mine)
            queryMatrix = try SearchBench.loadCodes(queries, width: width)
        } catch { throw Failure(error) }
        guard total > 0, !queryMatrix.isEmpty else { throw Failure("no rows or no queries in the files") }
        let matrix = ShardedBitMatrix(shard: shard, communicator: world)
        let singles = (0..<min(single, queryMatrix.rowCount)).map { queryMatrix[$0] }
        let batchCount = min(batch, queryMatrix.rowCount)
        var batchMatrix = BitMatrix(width: width, reservingRows: batchCount)
        for q in 0..<batchCount { batchMatrix.append(queryMatrix[q]) }

        func sample(_ calls: Int, _ body: () -> Void) -> Sample {
            var times: [Double] = []
            for _ in 0..<repeats {
                world.barrier()
                let t0 = now()
                for _ in 0..<calls { body() }
                times.append((now() - t0) / Double(calls))
            }
            times.sort()
            return Sample(median: times[times.count / 2], min: times.first!, max: times.last!)
        }
        var next = 0
        let local = sample(singles.count) {
            blackHole(matrix.shard.winner(for: singles[next], score: kind, threads: threads, using: kernels))
            next = (next + 1) % singles.count
        }
        next = 0
        let sharded = sample(singles.count) {
            blackHole(matrix.winner(for: singles[next], score: kind, threads: threads, using: kernels))
            next = (next + 1) % singles.count
        }
        let localBatch = sample(1) { blackHole(matrix.shard.winners(for: batchMatrix, score: kind, threads: threads, using: kernels)) }
        let shardedBatch = sample(1) { blackHole(matrix.winners(for: batchMatrix, score: kind, threads: threads, using: kernels)) }
        var one = [ShardReduction.noRecord(score: kind)]
        let reduceOne = sample(1000) { world.reduceBest(&one) }
        var many = [ShardReduction.Record](repeating: ShardReduction.noRecord(score: kind), count: batchCount)
        let reduceBatch = sample(10) { world.reduceBest(&many) }
        let all = matrix.winners(for: queryMatrix, score: kind, threads: threads, using: kernels)
        guard world.isRoot else { return }
        let us = { (s: Sample) in "\(format(s.median * 1e6, 1)) µs (\(format(s.min * 1e6, 1))–\(format(s.max * 1e6, 1)))" }
        print("\(kernels.isa), \(total) rows × \(width) bits on \(world.size) ranks \(matrix.rowsPerRank), \(threads) thread(s) each, score \(score)")
        print("single query: local scan \(us(local)), sharded \(us(sharded)); reduction \(format((sharded.median - local.median) * 1e6, 1)) µs per query")
        print("batch of \(batchCount): local \(format(localBatch.median * 1e3, 2)) ms, sharded \(format(shardedBatch.median * 1e3, 2)) ms (\(format(shardedBatch.median * 1e6 / Double(batchCount), 1)) µs per query; reduction \(format((shardedBatch.median - localBatch.median) * 1e6 / Double(batchCount), 2)) µs per query)")
        print("reduction alone: \(us(reduceOne)) per single query (1 record); \(us(reduceBatch)) per batch of \(batchCount) records")
        let result = ShardedResult(
            isa: kernels.isa.rawValue, width: width, rows: total, ranks: world.size, threads: threads, queries: queryMatrix.rowCount,
            batchSize: batchCount, rowsPerRank: matrix.rowsPerRank, score: score, localQuerySeconds: local, shardedQuerySeconds: sharded,
            localBatchSeconds: localBatch, shardedBatchSeconds: shardedBatch, reduceOneSeconds: reduceOne, reduceBatchSeconds: reduceBatch, winners: all.map { $0?.row ?? -1 })
        if let json { try writeJSON(result, to: json) }
    }
}
#endif
