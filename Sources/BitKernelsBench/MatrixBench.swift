import BitKernels
import Foundation

/// The matrix kernels of `bench`: ternary (BitNet b1.58) and binary (±1) GEMV/GEMM over model
/// shapes, cache-warm (one matrix called again and again) and streamed from DRAM (a rotation of
/// matrices several times the L3, as a whole model's layers are).
package struct MatrixBench {
    let shapes: [(rows: Int, columns: Int)]
    let tokenCounts: [Int]
    let variants: [Kernels]
    let threads: Int
    let levels: [String]  // "warm", "dram"
    let repeats: Int
    let minSeconds: Double
    let clockHz: Double
    let l3Bytes: Int

    package struct Row: Codable {
        var kernel, level, isa, shape: String
        var tokens, threads: Int
        var weightBytes: Int
        var seconds: Sample
        var weightGBps: Double
        var fractionOfReadBandwidth: Double
        var weightBytesPerCycle: Double
        var vsScalar: Double?
        var vsOneToken: Double?
        /// Ternary: weight × activation multiply-adds per second, and that over the same core's
        /// VPDPBUSD peak (avx512: zmm, avxvnni: ymm) measured in the same run.
        var multiplyAddsPerSecond: Double?
        var fractionOfVNNIPeak: Double?
    }

    func run(kernel: String, into rows: inout [Row], bandwidth: inout [String: Double]) {
        for shape in shapes {
            let name = "\(shape.rows)x\(shape.columns)"
            let weightBytes = kernel == "ternary"
                ? shape.rows * TernaryMatrix.blockCount(columns: shape.columns) * TernaryMatrix.blockBytes
                : shape.rows * ((shape.columns + 63) / 64) * 8
            for level in levels {
                // DRAM: enough distinct matrices to exceed twice the L3, visited in turn.
                let copies = level == "dram" ? max(2 * l3Bytes / max(weightBytes, 1) + 1, 2) : 1
                let bw = readBandwidth(bytes: weightBytes * copies, cacheWarm: level == "warm")
                bandwidth["\(kernel) \(name) \(level)"] = bw
                print("\(kernel) \(name) \(level): \(copies) matri\(copies == 1 ? "x" : "ces") of \(weightBytes / 1024) KiB, read bandwidth \(format(bw, 1)) GB/s (summing loop, \(threads) thread(s))")
                let setup = kernel == "ternary"
                    ? TernarySetup(rows: shape.rows, columns: shape.columns, copies: copies, maxTokens: tokenCounts.max() ?? 1)
                    : nil
                let binary = kernel == "binary"
                    ? BinarySetup(rows: shape.rows, columns: shape.columns, copies: copies, maxTokens: tokenCounts.max() ?? 1)
                    : nil
                var oneToken: [ISA: Double] = [:]
                var peaks: [ISA: Double] = [:]
                if kernel == "ternary" {
                    for k in variants { if let p = Yardstick.vpdpbusdPeak(k.isa) { peaks[k.isa] = p } }
                    for (isa, p) in peaks.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                        print("VPDPBUSD peak (\(isa == .avx512 ? "zmm" : "ymm"), one core, fastest sample): \(format(p / 1e9, 1)) G multiply-adds/s")
                    }
                }
                for n in tokenCounts {
                    var scalarSeconds: Double?
                    for k in variants {
                        // The scalar reference is only timed for single tokens: it exists to be exact.
                        if k.isa == .scalar && n > 1 { continue }
                        progress("timing \(kernel) \(name) n=\(n) \(k.isa) \(level)")
                        let body = setup?.body(kernels: k, tokens: n, threads: threads)
                            ?? binary!.body(kernels: k, tokens: n, threads: threads)
                        let s = measure(repeats: repeats, minSeconds: minSeconds, body)
                        if k.isa == .scalar { scalarSeconds = s.median }
                        if n == 1 { oneToken[k.isa] = s.median }
                        let gbps = Double(weightBytes) / s.median / 1e9
                        let macs = kernel == "ternary"
                            ? Double(shape.rows * TernaryMatrix.blockCount(columns: shape.columns) * 256 * n) / s.median : nil
                        var row = Row(
                            kernel: kernel, level: level, isa: k.isa.rawValue, shape: name, tokens: n,
                            threads: threads, weightBytes: weightBytes, seconds: s, weightGBps: gbps,
                            fractionOfReadBandwidth: gbps / bw,
                            weightBytesPerCycle: clockHz > 0 ? Double(weightBytes) / (s.median * clockHz) : 0,
                            vsScalar: k.isa != .scalar ? scalarSeconds.map { $0 / s.median } : nil,
                            vsOneToken: n > 1 ? oneToken[k.isa].map { s.median / $0 } : nil)
                        row.multiplyAddsPerSecond = macs
                        // Per thread: the peak is one core's.
                        row.fractionOfVNNIPeak = macs.flatMap { m in peaks[k.isa].map { m / Double(max(threads, 1)) / $0 } }
                        rows.append(row)
                        clearProgress()
                        Self.printRow(row)
                    }
                }
            }
        }
    }

    func readBandwidth(bytes: Int, cacheWarm: Bool) -> Double {
        BenchBuffer(words: bytes / 8, seed: 3).readBandwidth(threads: threads, repeats: repeats, minSeconds: minSeconds)
    }

    static func printHeader() {
        print("kernel   shape      n  level isa      µs/call (min–max)          weight-GB/s  %readBW  B/cycle  ×scalar  ×n=1-time  GMAC/s  %VNNIpeak")
    }

    static func printRow(_ r: Row) {
        let range = "(\(format(r.seconds.min * 1e6, 1))–\(format(r.seconds.max * 1e6, 1)))"
        let cols = [
            r.kernel.padding(toLength: 8, withPad: " ", startingAt: 0),
            r.shape.padding(toLength: 9, withPad: " ", startingAt: 0),
            String(r.tokens).leftPad(3),
            r.level.padding(toLength: 5, withPad: " ", startingAt: 0),
            r.isa.padding(toLength: 8, withPad: " ", startingAt: 0),
            (format(r.seconds.median * 1e6, 1) + " " + range).padding(toLength: 26, withPad: " ", startingAt: 0),
            format(r.weightGBps, 1).leftPad(11),
            format(100 * r.fractionOfReadBandwidth, 0).leftPad(8),
            format(r.weightBytesPerCycle, 1).leftPad(8),
            (r.vsScalar.map { format($0, 1) } ?? "-").leftPad(8),
            (r.vsOneToken.map { format($0, 2) } ?? "-").leftPad(10),
            (r.multiplyAddsPerSecond.map { format($0 / 1e9, 1) } ?? "-").leftPad(7),
            (r.fractionOfVNNIPeak.map { format(100 * $0, 0) } ?? "-").leftPad(10),
        ]
        print(cols.joined(separator: " "))
    }
}

/// `copies` packed ternary matrices and float activations for up to `maxTokens` tokens; each call
/// quantizes the activations (as llama.cpp's op does) and multiplies by the next matrix.
final class TernarySetup {
    let matrices: [TernaryMatrix]
    let x: [Float]
    let columns: Int
    var next = 0

    init(rows: Int, columns: Int, copies: Int, maxTokens: Int) {
        var rng = UInt64(12345)
        func random() -> UInt64 {
            rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return rng >> 33
        }
        let values = (0..<(rows * columns)).map { _ in Int8(Int(random() % 3) - 1) }
        // Distinct buffers with the same contents: what matters is where they live in memory.
        matrices = (0..<copies).map { _ in try! TernaryMatrix(values: values, rows: rows, columns: columns, scale: 0.5) }
        x = (0..<(maxTokens * columns)).map { _ in Float(Int(random() % 2001) - 1000) / 1000 }
        self.columns = columns
    }

    func body(kernels: Kernels, tokens: Int, threads: Int) -> () -> Void {
        let input = Array(x.prefix(tokens * columns))
        return { [self] in
            let m = matrices[next]
            next = next + 1 == matrices.count ? 0 : next + 1
            blackHole(m.apply(input, tokens: tokens, threads: threads, using: kernels)[0])
        }
    }
}

/// `copies` bit matrices of ±1 weights and `maxTokens` packed ±1 activations.
final class BinarySetup {
    let matrices: [BitMatrix]
    let tokens: BitMatrix
    var next = 0

    init(rows: Int, columns: Int, copies: Int, maxTokens: Int) {
        let words = (columns + 63) / 64
        let buffer = BenchBuffer(words: rows * words, seed: 9)
        let mask = columns % 64 == 0 ? ~UInt64(0) : (UInt64(1) << UInt64(columns % 64)) - 1
        let rowVectors = (0..<rows).map { r in
            var w = Array(UnsafeBufferPointer(start: buffer.words + r * words, count: words))
            w[words - 1] &= mask
            return BitVector(width: columns, words: w)
        }
        matrices = (0..<copies).map { _ in BitMatrix(width: columns, rows: rowVectors) }
        tokens = BitMatrix(width: columns, rows: Array(rowVectors.prefix(maxTokens)))
    }

    func body(kernels: Kernels, tokens n: Int, threads: Int) -> () -> Void {
        var batch = BitMatrix(width: tokens.width, reservingRows: n)
        for t in 0..<n { batch.append(tokens[t % tokens.rowCount]) }
        return { [self] in
            let m = matrices[next]
            next = next + 1 == matrices.count ? 0 : next + 1
            blackHole(m.binaryProducts(with: batch, threads: threads, using: kernels)[0])
        }
    }
}
