import ArgumentParser
import BitKernels
import CBitKernels

@main
struct BitKernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bitkernels",
        abstract: "Bit-vector and ternary kernels for 1-bit neural networks, tuned per CPU.",
        discussion: """
            Every kernel has a scalar reference and AVX2, AVX-512 and NEON variants in this one \
            binary; the best one this CPU supports is chosen at run time. Set BITKERNELS_ISA=\
            scalar|avx2|avx512|neon to force a variant.
            """,
        subcommands: [Info.self, Bench.self, SearchBench.self, Tune.self, Generate.self, Logits.self, Organize.self, Serve.self, Chat.self])
}

/// Resolves the kernels the user asked for, or exits with the reason.
func resolveKernels() throws -> Kernels {
    do { return try Kernels.best() } catch {
        throw ValidationError(error.description)
    }
}

/// The C table behind a variant, for the benchmark harness (the library keeps it internal).
func cTable(_ kernels: Kernels) -> UnsafePointer<bk_kernels> {
    var isa = BK_ISA_SCALAR
    _ = bk_isa_from_name(kernels.isa.rawValue, &isa)
    return bk_kernels_for(isa)!
}
