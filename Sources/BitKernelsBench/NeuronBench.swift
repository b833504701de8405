import BitKernels
import BitNeurons
import Foundation

/// `bench neurons`: images per second of the online loop (encode, score, winner, flip) for
/// population sizes from cache-resident to 100,000 neurons (10 MB of patterns scanned per image).
///
/// ```swift
/// let rows = try NeuronBench(data: "mnist", sizes: [50, 1000], threads: 1, repeats: 5, kernels: .default).run()
/// ```
package struct NeuronBench {
    package var data: String
    package var sizes: [Int]
    package var threads: Int
    package var repeats: Int
    package var kernels: Kernels

    package init(data: String, sizes: [Int], threads: Int, repeats: Int, kernels: Kernels) {
        self.data = data
        self.sizes = sizes
        self.threads = threads
        self.repeats = repeats
        self.kernels = kernels
    }

    package struct Row: Codable {
        var neurons: Int
        var threads: Int
        var imagesPerSecond: Sample
        var microsecondsPerImage: Double
        var bytesScannedPerImage: Int
    }

    /// The JSON `bench neurons --json` writes: the rows under `"rows"`, beside the build stamp.
    package struct Report: Codable, JSONDocument {
        var data: String
        var isa: String
        var rows: [Row]
        package init(data: String, isa: String, rows: [Row]) {
            self.data = data
            self.isa = isa
            self.rows = rows
        }
    }

    package func run() throws(BenchError) -> [Row] {
        let train: LabeledImages
        do { train = try LabeledImages(directory: data, split: "train") } catch { throw BenchError(error) }
        guard train.count >= 1 else { throw BenchError("\(data): no training images") }
        guard train.pixelsPerImage >= 118 else {
            throw BenchError("\(data): \(train.rows)×\(train.columns) images have fewer than the 118 pixels rank encoding sets")
        }
        var encoder = ImageEncoder.rank(k: 118, pixels: train.pixelsPerImage, using: kernels)
        let seeds = (0..<min(train.count, 5000)).map { encoder.encode(train.image($0)) }
        try encodingRates(train)
        print("bench neurons: \(data), \(train.count) images, rank k=118, Jaccard, \(kernels.isa), \(threads) thread(s), median of \(repeats)")
        print("neurons    images/s (min–max)                 µs/image   pattern bytes scanned per image")
        var rows: [Row] = []
        for n in sizes {
            progress("bench neurons: N = \(n)")
            var p = BitPopulation(width: train.pixelsPerImage, configuration: .init(neurons: n),
                                  seedInputs: (0..<n).map { seeds[$0 % seeds.count] }, using: kernels)
            let images = max(min(train.count, 20_000_000 / max(n, 1)), 200)
            var x = BitVector(width: train.pixelsPerImage)
            var next = 0
            let s = measure(repeats: repeats, minSeconds: 0.2) {
                for _ in 0..<images {
                    encoder.encode(train.image(next), into: &x)
                    next = next + 1 == train.count ? 0 : next + 1
                    p.learnReturningWinner(x, threads: threads)
                }
            }
            let perImage = s.median / Double(images)
            let row = Row(neurons: n, threads: threads,
                          imagesPerSecond: Sample(median: 1 / perImage, min: Double(images) / s.max, max: Double(images) / s.min),
                          microsecondsPerImage: perImage * 1e6, bytesScannedPerImage: n * 13 * 8)
            rows.append(row)
            clearProgress()
            print("\(String(n).leftPad(7))    \((format(row.imagesPerSecond.median / 1e3, 1) + "k (" + format(row.imagesPerSecond.min / 1e3, 1) + "–" + format(row.imagesPerSecond.max / 1e3, 1) + "k)").padding(toLength: 32, withPad: " ", startingAt: 0))   \(format(row.microsecondsPerImage, 3).leftPad(8))   \(row.bytesScannedPerImage)")
        }
        return rows
    }

    /// Rank encoding alone (k = 118), images per second over up to 20,000 training images: the
    /// index rule's kernel, the blur rule's kernel (`encode_rank_blur`) in this table's variant and
    /// in the scalar reference, and the blur rule's Swift definition (`RankTieRule.rankBits`).
    func encodingRates(_ train: LabeledImages) throws(BenchError) {
        let count = min(train.count, 20_000), pixels = train.pixelsPerImage, columns = train.columns
        let scalar: Kernels
        do { scalar = try Kernels.variant(.scalar) } catch { throw BenchError("\(error)") }
        var x = BitVector(width: pixels)
        var sink = 0
        let cases: [(String, () -> Void)] = [
            ("index, \(kernels.isa) kernel", {
                var e = ImageEncoder.rank(k: 118, pixels: pixels, using: kernels)
                for i in 0..<count { e.encode(train.image(i), into: &x) }
            }),
            ("blur, \(kernels.isa) kernel", {
                for i in 0..<count { x.encode(pixels: train.image(i), brightest: 118, blurringTiesOver: columns, using: kernels) }
            }),
            ("blur, scalar kernel", {
                for i in 0..<count { x.encode(pixels: train.image(i), brightest: 118, blurringTiesOver: columns, using: scalar) }
            }),
            ("blur, Swift definition", {
                for i in 0..<count { sink &+= RankTieRule.blur.rankBits(train.image(i), columns: columns, k: 118).count }
            }),
        ]
        print("rank encoding alone, k=118, \(count) images, median of \(repeats)")
        print("tie rule, code                images/s (min–max)")
        for (name, body) in cases {
            let s = measure(repeats: repeats, minSeconds: 0.2, body)
            let rate = Sample(median: Double(count) / s.median, min: Double(count) / s.max, max: Double(count) / s.min)
            print("\(name.padding(toLength: 28, withPad: " ", startingAt: 0))  \(format(rate.median / 1e6, 3))M (\(format(rate.min / 1e6, 3))–\(format(rate.max / 1e6, 3))M)")
        }
        blackHole(sink &+ x.setBitCount)
    }
}
