import ArgumentParser
import BitKernels
import BitKernelsBench
import BitTraining
import Foundation

@main
struct BitKernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bitkernels",
        abstract: "Bit-vector and ternary kernels for 1-bit neural networks, tuned per CPU.",
        discussion: """
            Every kernel has a scalar reference and AVX2, AVX-512 and NEON variants (and AVX-VNNI for the ternary products) in this one \
            binary; the best one this CPU supports is chosen at run time. Set BITKERNELS_ISA=\
            scalar|avx2|avxvnni|avx512|neon to force a variant; every command stops with one line saying \
            why when the forced variant cannot run here.

            Exit status (BSD sysexits): 0 success; 1 BITKERNELS_ISA names a variant that cannot \
            run, or OMP_NUM_THREADS is not a thread count in 1...1024; 64 a usage error (an option out of its range, also against the data it names); \
            65 bad data; 66 a missing or unreadable input; 74 an output that could not be written. \
            Every output file is written atomically (a temporary beside it, fsync, rename), \
            through symbolic links, never over a device. Negative numbers need no '=': \
            --threads -1 is read as a value (and refused).
            """,
        version: bitKernelsVersion,
        subcommands: [
            Info.self, Bench.self, SearchBenchCommand.self, Tune.self, Generate.self, Logits.self, Export.self,
            Organize.self, Train.self, Experiment.self, Serve.self, Chat.self,
        ])

    /// ArgumentParser's main, with BSD sysexits statuses: a usage mistake found while parsing
    /// (validate() included) prints the usage and exits 64 (ArgumentParser's own); one found while
    /// running (a value that does not fit the data) prints one "Error: ..." line and exits 64; a
    /// failure while running prints one "Error: ..." line and exits 65 (bad data), 66 (missing or
    /// unreadable input) or 74 (an output not written).
    static func main() {
        var command: any ParsableCommand
        do { command = try parseAsRoot() } catch { exit(withError: error) }
        // OpenBLAS (training's GEMMs, prompt attention) picks its kernels when it loads, before
        // main: on a CPU it does not know, run again with a better choice (once: the variable is set).
        if ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil, let core = FloatGEMM.suggestedCoreType {
            setenv("OPENBLAS_CORETYPE", core, 1)
            execv("/proc/self/exe", CommandLine.unsafeArgv)
        }
        // Before anything calls OpenMP: a bad OMP_NUM_THREADS is one line, status 1.
        if let problem = environmentProblem(ProcessInfo.processInfo.environment) { fail(problem, code: 1) }
        do {
            try command.run()
        } catch let error as BitKernelsError {
            exit(withError: error)  // an impossible BITKERNELS_ISA: one line, status 1
        } catch let error as ValidationError {
            fail(error.message, code: ExitStatus.usage)
        } catch let error where !isArgumentParserError(error) {
            let failure = error as? Failure ?? Failure(error)
            fail(failure.description, code: failure.code)
        } catch {
            exit(withError: error)
        }
    }

    private static func fail(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
        Foundation.exit(code)
    }

    /// Errors ArgumentParser prints itself: parse errors, --help, --version, CleanExit, ExitCode.
    private static func isArgumentParserError(_ error: any Error) -> Bool {
        error is CleanExit || error is ExitCode || String(reflecting: type(of: error)).hasPrefix("ArgumentParser.")
    }
}

/// The kernels every command runs on: the best for this CPU, or the variant BITKERNELS_ISA names.
/// An impossible or unknown BITKERNELS_ISA is thrown as it is, which ArgumentParser prints as one
/// "Error: ..." line (no usage) before exiting with status 1. Every command calls this first.
func resolveKernels() throws(BitKernelsError) -> Kernels { try Kernels.best() }

/// A failure while a command runs (a file that cannot be read, a model that does not load), as
/// opposed to a usage mistake: printed as one "Error: ..." line, without the usage text, and the
/// exit status `code` (`ExitStatus`: 65 bad data, 66 missing input, 74 I/O).
struct Failure: Error, CustomStringConvertible {
    let description: String
    let code: Int32
    init(_ description: String, code: Int32 = ExitStatus.data) { self.description = description; self.code = code }
    /// `error`'s line and the status its kind means (see `exitStatus(of:)`).
    init(_ error: any Error) { self.init("\(error)", code: exitStatus(of: error)) }
}

/// The sysexits status of a library error: `ExitStatus.of`, plus BitTraining's and file writes.
func exitStatus(of error: any Error) -> Int32 {
    switch error {
    case let f as Failure: return f.code
    case let e as TrainingError:
        switch e {
        case .io: return ExitStatus.io
        case .badFile(let path, _): return FileManager.default.isReadableFile(atPath: path) ? ExitStatus.data : ExitStatus.noInput
        case .invalid: return ExitStatus.data
        }
    default: return ExitStatus.of(error)
    }
}
