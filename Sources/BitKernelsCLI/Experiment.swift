import ArgumentParser
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
            --report reads every record under DIR and writes REPORT.md and SVG figures (into \
            --report-dir, default DIR); the same runs give a byte-identical report.
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

    @Option(help: "Optimizer steps per run.")
    var steps = 2000

    func validate() throws {
        _ = try parsedWidths()
        _ = try parsedPrecisions()
        _ = try parsedSeeds()
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1") }
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

    func parsedSeeds() throws -> [UInt64] {
        let values = seeds.split(separator: ",").map { UInt64($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else {
            throw ValidationError("--seeds: comma-separated non-negative integers, got \(seeds)")
        }
        return Array(Set(values.map { $0! })).sorted()
    }

    func run() throws {
        guard report else {
            // The grid runner (WidthBitsGrid.run) needs a trainer conforming to InstrumentedModel;
            // native training (issue 13) is not in this build yet.
            FileHandle.standardError.write(Data("width-bits: training the grid needs native training (issue 13), not in this build; --report writes the report from existing runs\n".utf8))
            throw ExitCode(69)  // EX_UNAVAILABLE
        }
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
