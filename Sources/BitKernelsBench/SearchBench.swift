import BitKernels
import Foundation

/// `search-bench`: one-vs-many winner search on rows and queries from files of packed codes
/// (FAISS binary layout), single queries and a batch, for comparisons run beside other libraries
/// on the same data (bench/faiss_compare.py).
///
/// ```swift
/// let r = try SearchBench(rows: "rows.bin", queries: "q.bin", width: 256, score: .differing, threads: 1,
///                         repeats: 7, single: 100, batch: 1000, kernels: .default).run()
/// ```
package struct SearchBench {
    package var rows, queries: String
    package var width: Int
    package var score: Score
    package var threads, repeats, single, batch: Int
    package var kernels: Kernels

    package init(rows: String, queries: String, width: Int, score: Score, threads: Int, repeats: Int, single: Int,
                 batch: Int, kernels: Kernels) {
        self.rows = rows
        self.queries = queries
        self.width = width
        self.score = score
        self.threads = threads
        self.repeats = repeats
        self.single = single
        self.batch = batch
        self.kernels = kernels
    }

    package struct Result: Codable, JSONDocument {
        var isa: String
        var width, rows, queries, threads: Int
        var score: String
        var singleQuerySeconds: Sample
        var batchSize: Int
        var batchSeconds: Sample
        var winners: [Int]
        var distances: [Int]
        /// A summing loop over as many bytes as the rows, same threads, same run; and the single
        /// query's rate over the rows' bytes as a fraction of it.
        var readBandwidthGBps: Double
        var singleQueryFractionOfReadBandwidth: Double
    }

    /// Times and prints; returns every query's winner too.
    package func run() throws(BenchError) -> Result {
        let matrix = try Self.loadCodes(rows, width: width)
        let queryMatrix = try Self.loadCodes(queries, width: width)
        guard !matrix.isEmpty, !queryMatrix.isEmpty else { throw BenchError("no rows or no queries in the files") }
        let (kind, kernels, threads) = (score, kernels, threads)
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
        let rowBytes = matrix.rowCount * ((width + 63) / 64) * 8
        let bw = BenchBuffer(words: rowBytes / 8, seed: 11).readBandwidth(threads: threads, repeats: repeats, minSeconds: 0.02)
        let singleGBps = Double(rowBytes) / singleSample.median / 1e9
        let result = Result(
            isa: kernels.isa.rawValue, width: width, rows: matrix.rowCount, queries: queryMatrix.rowCount,
            threads: threads, score: score.rawValue, singleQuerySeconds: singleSample, batchSize: batchCount,
            batchSeconds: batchSample, winners: all.map { $0?.row ?? -1 }, distances: all.map { $0?.differing ?? -1 },
            readBandwidthGBps: bw, singleQueryFractionOfReadBandwidth: singleGBps / bw)
        print("\(kernels.isa), \(matrix.rowCount) rows × \(width) bits, \(threads) thread(s), score \(score.rawValue)")
        print("single query: \(format(singleSample.median * 1e6, 1)) µs median (\(format(singleSample.median * 1e9 / Double(matrix.rowCount), 2)) ns per row), \(format(singleGBps, 1)) GB/s of rows = \(format(100 * singleGBps / bw, 0))% of the read bandwidth (summing loop over \(rowBytes >> 20) MiB, same threads: \(format(bw, 1)) GB/s)")
        print("batch of \(batchCount): \(format(batchSample.median * 1e3, 2)) ms median (\(format(batchSample.median * 1e6 / Double(batchCount), 1)) µs per query, \(format(batchSample.median * 1e9 / Double(batchCount * matrix.rowCount), 2)) ns per pair)")
        return result
    }

    /// The number of packed codes in a file (its size must be a multiple of ceil(width/8) bytes).
    package static func codeCount(_ path: String, width: Int) throws(BenchError) -> Int {
        let size: Int
        do {
            size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? -1
        } catch { throw BenchError("cannot read \(path)", code: ExitStatus.noInput) }
        let codeBytes = (width + 7) / 8
        guard size >= 0, size % codeBytes == 0 else {
            throw BenchError("\(path): \(size) bytes is not a whole number of \(codeBytes)-byte codes (width \(width))")
        }
        return size / codeBytes
    }

    /// Packed codes (ceil(width/8) bytes each) into a matrix; the file size must be a multiple.
    /// With `rows`, only those codes are read (one rank's shard).
    package static func loadCodes(_ path: String, width: Int, rows: Range<Int>? = nil) throws(BenchError) -> BitMatrix {
        let codeBytes = (width + 7) / 8
        let data: Data
        if let rows {
            guard let file = FileHandle(forReadingAtPath: path) else { throw BenchError("cannot read \(path)", code: ExitStatus.noInput) }
            defer { try? file.close() }
            do {
                try file.seek(toOffset: UInt64(rows.lowerBound * codeBytes))
                data = try file.read(upToCount: rows.count * codeBytes) ?? Data()
            } catch { throw BenchError("cannot read \(path): \(error.localizedDescription)", code: ExitStatus.noInput) }
            guard data.count == rows.count * codeBytes else { throw BenchError("\(path): shorter than \(rows.upperBound) codes") }
        } else {
            guard let whole = FileManager.default.contents(atPath: path) else {
                throw BenchError("cannot read \(path)", code: ExitStatus.noInput)
            }
            data = whole
        }
        guard data.count % codeBytes == 0 else {
            throw BenchError("\(path): \(data.count) bytes is not a whole number of \(codeBytes)-byte codes (width \(width))")
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
