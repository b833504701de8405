import ArgumentParser
import BitKernels
import BitTraining
import Foundation

/// `bitkernels experiment …`: the experiments built on native training, one subcommand each.
struct Experiment: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an experiment's grid of trainings and write its report.",
        subcommands: [WidthBits.self])
}

/// `bitkernels experiment width-bits`: native low-bit training × embedding width (issue 14).
struct WidthBits: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "width-bits",
        abstract: "Width × bits: precision {float, ternary, binary} × width grid on Tiny Shakespeare, and its report.",
        discussion: """
            Runs live in DIR/<precision>-w<width>-s<seed>/ (record.json, hidden.f32); a run whose \
            record exists is skipped, so the grid can be built up over several invocations. \
            Without --report it trains the pending runs (resuming a run from its checkpoint) and \
            then writes the report; --report only reads every record under DIR and writes \
            REPORT.md and SVG figures (into --report-dir, default DIR); the same runs give a \
            byte-identical report. Progress goes to standard error.
            """)

    @Option(help: "Directory of the runs (created if missing).")
    var out: String

    @Flag(help: "Write the report from all the runs in --out instead of training (the grid options are ignored).")
    var report = false

    @Option(help: "Where REPORT.md and its figures go (default: --out).")
    var reportDir: String?

    @Option(help: "Comma-separated widths.")
    var widths = "32,64,128,256,512"

    @Option(help: "Comma-separated precisions: float, ternary, binary.")
    var precisions = "float,ternary,binary"

    @Option(help: "Comma-separated seeds.")
    var seeds = "1,2,3"

    @Option(name: .customLong("wide-seeds"), help: "Seeds for widths ≥ 256 when fewer must do there (default: --seeds).")
    var wideSeeds: String?

    @Option(help: "Optimizer steps per run.")
    var steps = 2000

    @Option(help: "Training text (characters; the last 10% is the validation split).")
    var data = "../shared/data/tinyshakespeare/input.txt"

    @Option(help: "Decoder layers.")
    var layers = 4

    @Option(help: "Context (window) length.")
    var context = 64

    @Option(help: "Sequences per step.")
    var batch = 12

    @Option(name: .customLong("lr-float"), help: "Peak learning rate of float runs (warmup, then cosine to a tenth).")
    var lrFloat = 1e-3

    @Option(name: .customLong("lr-ternary"), help: "Peak learning rate of ternary runs.")
    var lrTernary = 2e-3

    @Option(name: .customLong("lr-binary"), help: "Peak learning rate of binary runs.")
    var lrBinary = 2e-3

    @Option(help: "Warmup steps (at most a tenth of --steps).")
    var warmup = 100

    @Option(name: .customLong("eval-every"), help: "Evaluate and checkpoint every N steps (a multiple of --frustration-every).")
    var evalEvery = 250

    @Option(name: .customLong("eval-batches"), help: "Fixed validation batches per evaluation.")
    var evalBatches = 200

    @Option(name: .customLong("frustration-every"), help: "Sample frustration statistics every N steps (flips are counted at every step).")
    var frustrationEvery = 50

    @Option(help: "Positions of the fixed validation sample for geometry and CKA (a multiple of --context).")
    var positions = 256

    @Option(parsing: .unconditional, help: "Worker threads (1...1024).")
    var threads = 2

    @Option(help: "Instead of the grid: sweep these comma-separated peak learning rates for each precision (short runs, into DIR/sweep/), print the best.")
    var sweep: String?

    @Option(name: .customLong("sweep-steps"), help: "Steps of each sweep run.")
    var sweepSteps = 500

    @Option(name: .customLong("sweep-width"), help: "Width of the sweep runs.")
    var sweepWidth = 128

    func validate() throws {
        _ = try parsedWidths()
        _ = try parsedPrecisions()
        _ = try parsedSeeds()
        if let wideSeeds { _ = try parsedSeeds(wideSeeds, option: "--wide-seeds") }
        try check("--steps", steps, in: 1...1_000_000_000)
        try check("--threads", threads, in: 1...maxThreads)
        try check("--layers", layers, in: 1...1024)
        try check("--context", context, in: 2...65536)
        try check("--batch", batch, in: 1...65536)
        try check("--eval-batches", evalBatches, in: 1...1_000_000)
        try check("--positions", positions, in: 1...(1 << 24))
        try check("--sweep-width", sweepWidth, in: 1...65536)
        guard layers >= 1, context >= 2, batch >= 1, threads >= 1, warmup >= 0, evalBatches >= 1 else {
            throw ValidationError("--layers, --batch, --threads, --eval-batches must be at least 1, --context at least 2, --warmup at least 0")
        }
        guard frustrationEvery >= 1, evalEvery >= 1, evalEvery % frustrationEvery == 0 else {
            throw ValidationError("--eval-every (\(evalEvery)) must be a positive multiple of --frustration-every (\(frustrationEvery))")
        }
        guard positions >= context, positions % context == 0 else {
            throw ValidationError("--positions (\(positions)) must be a positive multiple of --context (\(context))")
        }
        for lr in [lrFloat, lrTernary, lrBinary] + (try parsedSweep()) where !(lr > 0 && lr < 1) {
            throw ValidationError("learning rates must be in (0, 1), got \(lr)")
        }
        guard sweepSteps >= 1, sweepWidth >= 1, sweepWidth <= 32 || sweepWidth % 32 == 0 else {
            throw ValidationError("--sweep-steps must be at least 1 and --sweep-width a multiple of 32 (or at most 32)")
        }
    }

    func parsedSweep() throws -> [Double] {
        guard let sweep else { return [] }
        let values = sweep.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else {
            throw ValidationError("--sweep: comma-separated learning rates, got \(sweep)")
        }
        return Array(Set(values.map { $0! })).sorted()
    }

    func grid() throws -> WidthBitsGrid {
        var grid = WidthBitsGrid(learningRates: [.float: lrFloat, .ternary: lrTernary, .binary: lrBinary])
        grid.precisions = try parsedPrecisions()
        grid.widths = try parsedWidths()
        grid.seeds = try parsedSeeds()
        if let wideSeeds { grid.wideSeeds = try parsedSeeds(wideSeeds, option: "--wide-seeds") }
        grid.layers = layers
        grid.context = context
        grid.batch = batch
        grid.steps = steps
        grid.warmup = warmup
        grid.evalEvery = evalEvery
        grid.evalBatches = evalBatches
        grid.frustrationEvery = frustrationEvery
        grid.hiddenPositions = positions
        return grid
    }

    func parsedWidths() throws -> [Int] {
        let values = widths.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil && $0! >= 1 && $0! <= 65536 }) else {
            throw ValidationError("--widths: comma-separated integers in 1...65536, got \(widths)")
        }
        let w = values.map { $0! }
        if let bad = w.first(where: { $0 > 32 && $0 % 32 != 0 }) {
            throw ValidationError("--widths: \(bad) is not a multiple of 32 (heads = width / 32)")
        }
        return Array(Set(w)).sorted()
    }

    func parsedPrecisions() throws -> [RunRecord.Precision] {
        let names = precisions.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let values = names.map { RunRecord.Precision(rawValue: $0) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else {
            throw ValidationError("--precisions: comma-separated float, ternary, binary; got \(precisions)")
        }
        return Array(Set(values.map { $0! })).sorted()
    }

    func parsedSeeds(_ list: String? = nil, option: String = "--seeds") throws -> [UInt64] {
        let text = list ?? seeds
        let values = text.split(separator: ",").map { UInt64($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else {
            throw ValidationError("\(option): comma-separated non-negative integers, got \(text)")
        }
        return Array(Set(values.map { $0! })).sorted()
    }

    func run() throws {
        if sweep != nil, !report { return try runSweep() }
        if !report { try runGrid() }
        do {
            let written = try writeWidthBitsReport(runsDirectory: out, outputDirectory: reportDir ?? out)
            for path in written { print(path) }
        } catch {
            FileHandle.standardError.write(Data("width-bits: \(error.description)\n".utf8))
            switch error {
            case .missing: throw ExitCode(66)
            case .io: throw ExitCode(74)
            case .badData: throw ExitCode(65)
            }
        }
    }
}

extension WidthBits {
    func fail(_ message: String, code: Int32) -> ExitCode {
        FileHandle.standardError.write(Data("width-bits: \(message)\n".utf8))
        return ExitCode(code)
    }

    /// The training text.
    func prepare() throws -> TextData {
        do { return try TextData(path: data, tokenizer: "chars", context: context) } catch {
            throw fail("--data: \(error)", code: 66)
        }
    }

    func log(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }

    /// Sweeps --sweep rates for each precision and prints each point and the best rate.
    func runSweep() throws {
        let text = try prepare()
        let points = try withExitCodes {
            try grid().sweepLearningRates(try parsedSweep(), width: sweepWidth, steps: sweepSteps, in: out, data: text, threads: threads, progress: log)
        }
        for p in points { print("\(p.precision.rawValue)  lr \(p.learningRate)  val \(p.finalValidationLoss.isFinite ? String(format: "%.4f", p.finalValidationLoss) : "diverged")") }
        let best = SweepPoint.best(points)
        print("best: " + RunRecord.Precision.allCases.compactMap { p in best[p].map { "--lr-\(p.rawValue) \($0)" } }.joined(separator: " "))
    }

    /// Trains (or resumes) the grid into --out, one progress line per evaluation.
    func runGrid() throws {
        let text = try prepare()
        let grid = try grid()
        try withExitCodes { try grid.run(in: out, data: text, threads: threads, progress: log) }
    }

    /// Runs `body`, turning experiment and training errors into one line and a sysexits code.
    func withExitCodes<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as ExperimentError {
            switch error {
            case .missing: throw fail(error.description, code: 66)
            case .io: throw fail(error.description, code: 74)
            case .badData: throw fail(error.description, code: 65)
            }
        } catch let error as TrainingError {
            switch error {
            case .invalid: throw fail(error.description, code: 64)
            case .badFile: throw fail(error.description, code: 65)
            case .io: throw fail(error.description, code: 74)
            }
        }
    }
}
