import BitKernels
import BitNet
import Foundation

/// `bench model`: prompt processing and generation speed like llama-bench (pp N, tg N), with the
/// bound the memory system sets measured in the same run.
///
/// ```swift
/// let report = try ModelBench(path: "model.gguf", promptTokens: 64, generatedTokens: 32, threads: 0, repeats: 3,
///                             int8Head: false, kernels: .default).run()
/// ModelBench.printReport(report)
/// ```
package struct ModelBench {
    package var path: String
    package var promptTokens: Int
    package var generatedTokens: Int
    package var threads: Int
    package var repeats: Int
    package var int8Head: Bool
    package var kernels: Kernels

    package init(path: String, promptTokens: Int, generatedTokens: Int, threads: Int, repeats: Int, int8Head: Bool,
                 kernels: Kernels) {
        self.path = path
        self.promptTokens = promptTokens
        self.generatedTokens = generatedTokens
        self.threads = threads
        self.repeats = repeats
        self.int8Head = int8Head
        self.kernels = kernels
    }

    package struct Report: Codable {
        var model: String
        var isa: String
        var threads: Int
        var int8Head: Bool
        var bytesPerToken: Int
        var promptTokens: Int
        var promptTokensPerSecond: Double
        var generatedTokens: Int
        var generationTokensPerSecond: Double
        /// Every run's generation speed, in run order: the spread behind the median.
        var generationTokensPerSecondRuns: [Double]
        var readBandwidthGBps: Double
        var boundTokensPerSecond: Double
        var fractionOfBound: Double
    }

    package func run() throws(BenchError) -> Report {
        note("loading \(path)\(int8Head ? " (int8 head)" : "")...")
        let m: BitNetModel
        do { m = try BitNetModel.load(path: path, int8Head: int8Head, using: kernels) } catch { throw BenchError(error) }
        let vocab = m.config.vocabularySize
        let prompt = (0..<promptTokens).map { ($0 * 7919 + 13) % vocab }
        var pp: [Double] = [], tg: [Double] = []
        for i in 0..<repeats {
            progress("model: run \(i + 1)/\(repeats)")
            let stats: GenerationStats
            do {
                stats = try m.generate(prompt: prompt, maxNewTokens: generatedTokens, threads: threads).stats
            } catch { throw BenchError(error) }
            pp.append(stats.promptTokensPerSecond)
            tg.append(stats.generationTokensPerSecond)
        }
        clearProgress()
        // What one token must read, read by a summing loop with the same team.
        let team = threads > 0 ? threads : Machine.openMPThreads
        let bw = BenchBuffer(words: m.bytesPerToken / 8, seed: 5).readBandwidth(threads: team, repeats: repeats, minSeconds: 0.05)
        let median = { (v: [Double]) in v.sorted()[v.count / 2] }
        let bound = bw * 1e9 / Double(m.bytesPerToken)
        return Report(
            model: path, isa: m.kernels.isa.rawValue, threads: team, int8Head: int8Head, bytesPerToken: m.bytesPerToken,
            promptTokens: promptTokens, promptTokensPerSecond: median(pp), generatedTokens: generatedTokens,
            generationTokensPerSecond: median(tg), generationTokensPerSecondRuns: tg, readBandwidthGBps: bw,
            boundTokensPerSecond: bound, fractionOfBound: median(tg) / bound)
    }

    package static func printReport(_ r: Report) {
        let runs = r.generationTokensPerSecondRuns
        print("model \(r.model): \(format(Double(r.bytesPerToken) / 1e9, 3)) GB read per token\(r.int8Head ? " (int8 head)" : ""), \(r.isa) kernels, \(r.threads) thread(s)")
        print("  pp\(r.promptTokens): \(format(r.promptTokensPerSecond, 1)) tokens/s")
        print("  tg\(r.generatedTokens): \(format(r.generationTokensPerSecond, 2)) tokens/s (median of \(runs.count) runs, \(format(runs.min() ?? 0, 2))–\(format(runs.max() ?? 0, 2))) = \(format(r.generationTokensPerSecond * Double(r.bytesPerToken) / 1e9, 1)) GB/s of weights")
        print("  read bandwidth (same run, \(r.threads) thread(s)): \(format(r.readBandwidthGBps, 1)) GB/s → bound \(format(r.boundTokensPerSecond, 2)) tokens/s; tg reaches \(format(100 * r.fractionOfBound, 0))% of it")
    }
}
