import ArgumentParser
import BitKernels

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
            """,
        version: bitKernelsVersion,
        subcommands: [Info.self, Bench.self, SearchBenchCommand.self, Tune.self, Generate.self, Logits.self, Export.self, Organize.self, Train.self, Experiment.self])
}

/// The kernels every command runs on: the best for this CPU, or the variant BITKERNELS_ISA names.
/// An impossible or unknown BITKERNELS_ISA is thrown as it is, which ArgumentParser prints as one
/// "Error: ..." line (no usage) before exiting with status 1. Every command calls this first.
func resolveKernels() throws(BitKernelsError) -> Kernels { try Kernels.best() }

/// A failure while a command runs (a file that cannot be read, a model that does not load), as
/// opposed to a usage mistake: printed as one "Error: ..." line, without the usage text.
struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
