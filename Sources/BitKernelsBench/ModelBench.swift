import BitKernels
import BitNet
import Foundation

/// `bench model`: prompt processing and generation speed with llama-bench's conventions — a test
/// `ppN` (N prompt tokens in one batch from an empty cache) for every prompt size and `tgN` (N tokens
/// decoded one at a time after a one-token prompt) for every generation length, for every thread
/// count; each test run `repetitions` times after one untimed warm-up, reported as mean ± sample
/// standard deviation of the tokens/s of the runs. Every `tg` test is set beside the bound the
/// memory system sets, measured in the same run: the read bandwidth of a summing loop with the
/// same team over as many bytes as one token reads (on huge pages, as the model's weights are),
/// divided by those bytes.
///
/// ```swift
/// let bench = ModelBench(path: "model.gguf", promptTokens: [64, 512], generatedTokens: [128], threads: [1, 2],
///                        repetitions: 5, int8Head: false, kernels: .default)
/// let results = try bench.run()
/// print(ModelBench.markdown(results))
/// ```
package struct ModelBench {
    package var path: String
    package var promptTokens: [Int]
    package var generatedTokens: [Int]
    package var threads: [Int]
    package var repetitions: Int
    package var int8Head: Bool
    package var kernels: Kernels
    /// Called before each thread count's tests (to pin the team); may throw.
    package var prepare: (Int) throws -> Void = { _ in }

    package init(path: String, promptTokens: [Int], generatedTokens: [Int], threads: [Int], repetitions: Int,
                 int8Head: Bool, kernels: Kernels) {
        self.path = path
        self.promptTokens = promptTokens
        self.generatedTokens = generatedTokens
        self.threads = threads
        self.repetitions = repetitions
        self.int8Head = int8Head
        self.kernels = kernels
    }

    /// One test's result: a row of the table, an object of the JSON (fields documented in README,
    /// "JSON outputs").
    package struct Result: Codable, Equatable, JSONDocument {
        /// The model as given on the command line.
        package var model: String
        package var cpu: String
        /// The kernel variant that ran ("avx512", ...).
        package var isa: String
        package var threads: Int
        package var int8Head: Bool
        /// Parameters counted from the configuration (embedding, layers, norms, an untied head).
        package var parameters: Int
        /// Bytes of weights one generated token reads (ternary matrices and the LM head).
        package var bytesPerToken: Int
        /// "pp64" or "tg128", as llama-bench names its tests.
        package var test: String
        package var promptTokens: Int
        package var generatedTokens: Int
        /// Tokens/s of every timed repetition, in run order.
        package var samples: [Double]
        package var mean: Double
        /// The sample standard deviation (n − 1), 0 for one repetition.
        package var standardDeviation: Double
        /// `tg` tests only: the read bandwidth of the same team in the same run, in GB/s,
        package var readBandwidthGBps: Double?
        /// the tokens/s that bandwidth allows (bandwidth / bytesPerToken),
        package var boundTokensPerSecond: Double?
        /// and the mean's fraction of it.
        package var fractionOfBound: Double?

        package init(model: String, cpu: String, isa: String, threads: Int, int8Head: Bool, parameters: Int,
                     bytesPerToken: Int, test: String, promptTokens: Int, generatedTokens: Int, samples: [Double],
                     readBandwidthGBps: Double? = nil) {
            self.model = model
            self.cpu = cpu
            self.isa = isa
            self.threads = threads
            self.int8Head = int8Head
            self.parameters = parameters
            self.bytesPerToken = bytesPerToken
            self.test = test
            self.promptTokens = promptTokens
            self.generatedTokens = generatedTokens
            self.samples = samples
            (mean, standardDeviation) = meanAndStandardDeviation(samples)
            if let bw = readBandwidthGBps, bytesPerToken > 0 {
                self.readBandwidthGBps = bw
                boundTokensPerSecond = bw * 1e9 / Double(bytesPerToken)
                fractionOfBound = boundTokensPerSecond! > 0 ? mean / boundTokensPerSecond! : nil
            }
        }
    }

    /// Loads the model, then runs every test for every thread count.
    package func run() throws(BenchError) -> [Result] {
        note("loading \(path)\(int8Head ? " (int8 head)" : "")...")
        let m: BitNetModel
        do { m = try BitNetModel.load(path: path, int8Head: int8Head, using: kernels) } catch { throw BenchError(error) }
        let limit = m.config.maxPositions
        for p in promptTokens where p > limit {
            throw BenchError("--prompt-tokens \(p): \(path) holds at most \(limit) positions", code: ExitStatus.usage)
        }
        for n in generatedTokens where n + 1 > limit {
            throw BenchError("--new-tokens \(n): \(path) holds at most \(limit) positions (one is the prompt)", code: ExitStatus.usage)
        }
        let vocab = m.config.vocabularySize
        let tokens = { (count: Int) in (0..<count).map { ($0 * 7919 + 13) % vocab } }
        let cpu = CPUFeatures.current.brand.isEmpty ? "unknown" : CPUFeatures.current.brand
        let parameters = ModelBench.parameterCount(m.config)
        var results: [Result] = []
        for t in threads {
            do { try prepare(t) } catch { throw BenchError(error) }
            let team = t > 0 ? t : Machine.openMPThreads
            func result(_ test: String, _ p: Int, _ n: Int, _ samples: [Double], bandwidth: Double? = nil) -> Result {
                Result(model: path, cpu: cpu, isa: m.kernels.isa.rawValue, threads: team, int8Head: int8Head,
                       parameters: parameters, bytesPerToken: m.bytesPerToken, test: test, promptTokens: p,
                       generatedTokens: n, samples: samples, readBandwidthGBps: bandwidth)
            }
            // Warm-up (untimed): page the weights in, start the OpenMP team.
            do { _ = try m.generate(prompt: tokens(1), maxNewTokens: 2, threads: t) } catch { throw BenchError(error) }
            for p in promptTokens where p > 0 {
                var samples: [Double] = []
                for i in 0..<repetitions {
                    progress("model: pp\(p), \(team) thread(s), run \(i + 1)/\(repetitions)")
                    let prompt = tokens(p), cache = m.makeCache(capacity: p)
                    let t0 = now()
                    do { _ = try m.forward(prompt, cache: cache, threads: t, lastOnly: true) } catch { throw BenchError(error) }
                    samples.append(Double(p) / max(now() - t0, 1e-9))
                }
                clearProgress()
                results.append(result("pp\(p)", p, 0, samples))
            }
            let tgTests = generatedTokens.filter { $0 > 0 }
            guard !tgTests.isEmpty else { continue }
            // On huge pages, as the model's weights are: the loop reads the fastest pages there are.
            let bandwidth = BenchBuffer(words: max(m.bytesPerToken / 8, 1), seed: 5, hugePages: true)
                .readBandwidth(threads: team, repeats: max(repetitions, 3), minSeconds: 0.05)
            for n in tgTests {
                var samples: [Double] = []
                for i in 0..<repetitions {
                    progress("model: tg\(n), \(team) thread(s), run \(i + 1)/\(repetitions)")
                    // As llama-bench: n single-token passes after a one-token prompt, fixed tokens, no sampling.
                    let input = tokens(n + 1), cache = m.makeCache(capacity: n + 1)
                    let t0: Double
                    do {
                        _ = try m.forward([input[0]], cache: cache, threads: t, lastOnly: true)
                        t0 = now()
                        for token in input.dropFirst() { _ = try m.forward([token], cache: cache, threads: t, lastOnly: true) }
                    } catch { throw BenchError(error) }
                    samples.append(Double(n) / max(now() - t0, 1e-9))
                }
                clearProgress()
                results.append(result("tg\(n)", 0, n, samples, bandwidth: bandwidth))
            }
        }
        return results
    }

    /// Parameters of a BitNet b1.58 model from its configuration: the embedding (and an untied
    /// head), per layer q, k, v, o, gate, up, down and the four norms, and the final norm.
    package static func parameterCount(_ c: BitNetConfig) -> Int {
        let h = c.hiddenSize, i = c.intermediateSize, kv = c.kvHeadCount * c.headDimension
        let layer = 2 * h * h + 2 * h * kv + 3 * h * i + 3 * h + i
        return c.vocabularySize * h * (c.tiedEmbeddings ? 1 : 2) + c.layerCount * layer + h
    }

    // MARK: Output

    /// The columns of the CSV output, in order (the JSON objects hold the same fields).
    package static let csvColumns = [
        "model", "cpu", "isa", "threads", "int8Head", "parameters", "bytesPerToken", "test", "promptTokens",
        "generatedTokens", "mean", "standardDeviation", "samples", "readBandwidthGBps", "boundTokensPerSecond",
        "fractionOfBound", "version", "commit",
    ]

    /// A llama-bench-like markdown table (model, size, params, backend, threads, test, t/s as
    /// mean ± sd) with this tool's extra column, the memory bound of `tg` tests, and the build line.
    package static func markdown(_ results: [Result], stamp: BuildStamp = .current) -> String {
        let header = ["model", "size", "params", "backend", "threads", "test", "t/s", "memory bound"]
        let right = [false, true, true, false, true, true, true, true]
        let rows = results.map { r -> [String] in
            let name = URL(fileURLWithPath: r.model).lastPathComponent + (r.int8Head ? " (int8 head)" : "")
            let bound = r.boundTokensPerSecond.map { b in
                "\(format(b, 2)) t/s (\(format(100 * (r.fractionOfBound ?? 0), 0))%)"
            } ?? "-"
            let size = r.bytesPerToken >= 1 << 30 ? String(format: "%.2f GiB", Double(r.bytesPerToken) / Double(1 << 30))
                : String(format: "%.2f MiB", Double(r.bytesPerToken) / Double(1 << 20))
            return [name, size,
                    humanCount(r.parameters), "CPU \(r.isa)", String(r.threads), r.test,
                    "\(format(r.mean, 2)) ± \(format(r.standardDeviation, 2))", bound]
        }
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            "| " + cells.enumerated().map { i, c in
                right[i] ? c.leftPad(widths[i]) : c.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: " | ") + " |"
        }
        var out = [line(header)]
        out.append("| " + widths.enumerated().map { i, w in
            right[i] ? String(repeating: "-", count: max(w - 1, 1)) + ":" : String(repeating: "-", count: w)
        }.joined(separator: " | ") + " |")
        out += rows.map(line)
        out.append("")
        out.append("build: \(stamp.commit) (\(stamp.version))")
        return out.joined(separator: "\n") + "\n"
    }

    /// CSV with a header line (`csvColumns`); `samples` joined by ';'; absent values empty.
    package static func csv(_ results: [Result], stamp: BuildStamp = .current) -> String {
        func field(_ s: String) -> String {
            s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        func number(_ x: Double?) -> String { x.map { "\($0)" } ?? "" }
        var lines = [csvColumns.joined(separator: ",")]
        for r in results {
            let cells = [
                r.model, r.cpu, r.isa, String(r.threads), String(r.int8Head), String(r.parameters), String(r.bytesPerToken),
                r.test, String(r.promptTokens), String(r.generatedTokens), number(r.mean), number(r.standardDeviation),
                r.samples.map { "\($0)" }.joined(separator: ";"), number(r.readBandwidthGBps),
                number(r.boundTokensPerSecond), number(r.fractionOfBound), stamp.version, stamp.commit,
            ]
            lines.append(cells.map(field).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A JSON array of the results (sorted keys, indented), each stamped with version and commit.
    package static func json(_ results: [Result], stamp: BuildStamp = .current) throws(BenchError) -> [UInt8] {
        try jsonArrayBytes(results, stamp: stamp)
    }

    /// One compact JSON object per line (JSON Lines), each stamped with version and commit.
    package static func jsonLines(_ results: [Result], stamp: BuildStamp = .current) throws(BenchError) -> [UInt8] {
        var out: [UInt8] = []
        for r in results { out += try jsonBytes(r, stamp: stamp, pretty: false) }
        return out
    }
}

/// The mean and the sample standard deviation (n − 1; 0 below two values) of `values`.
package func meanAndStandardDeviation(_ values: [Double]) -> (mean: Double, standardDeviation: Double) {
    guard !values.isEmpty else { return (0, 0) }
    let mean = values.reduce(0, +) / Double(values.count)
    guard values.count > 1 else { return (mean, 0) }
    let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)
    return (mean, variance.squareRoot())
}

/// 2.41 B, 130.5 M, 12.3 K, 512 — as llama-bench prints parameter counts.
package func humanCount(_ n: Int) -> String {
    let x = Double(n)
    if x >= 1e9 { return String(format: "%.2f B", x / 1e9) }
    if x >= 1e6 { return String(format: "%.2f M", x / 1e6) }
    if x >= 1e3 { return String(format: "%.2f K", x / 1e3) }
    return String(n)
}
