// swift-tools-version: 6.2
// 6.2+ so that packages depending on BitKernels by version accept the unsafeFlags below.
import PackageDescription

let package = Package(
    name: "BitKernels",
    products: [
        .library(name: "BitKernels", targets: ["BitKernels"]),
        .library(name: "BitNet", targets: ["BitNet"]),
        .library(name: "BitNeurons", targets: ["BitNeurons"]),
        .library(name: "BitTraining", targets: ["BitTraining"]),
        .library(name: "BitDistributed", targets: ["BitDistributed"]),
        .executable(name: "bitkernels", targets: ["BitKernelsCLI"]),
    ],
    // MPI (Open MPI) is opt-in: `swift build --traits MPI`. Without the trait nothing imports or
    // links libmpi (BitDistributed compiles to an empty module and the CLI has no MPI code), so
    // the default build and tests need no MPI installed. scripts/mpi_check.sh enables it.
    traits: [.trait(name: "MPI", description: "Sharded search, populations and data-parallel training over Open MPI")],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        // `swift package generate-documentation --target BitKernels` (also BitNet, BitNeurons,
        // BitTraining, BitServer): the DocC catalogs under Sources/<Module>/<Module>.docc.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CHwloc", path: "Sources/CHwloc", pkgConfig: "hwloc",
            providers: [.apt(["libhwloc-dev"])]),
        .systemLibrary(
            name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // FFTW (single precision) for audio features: log-mel spectra of spoken digits.
        .systemLibrary(
            name: "CFFTW", path: "Sources/CFFTW", pkgConfig: "fftw3f", providers: [.apt(["libfftw3-dev"])]),
        // Float GEMM for training (Debian's OpenBLAS); only BitKernels imports it (FloatGEMM.swift).
        .systemLibrary(
            name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        // The kernels: sources in CKernels/, the public C header in include/.
        // OpenMP comes from the compiler flag plus Debian's libomp (libomp-dev); we declare the few
        // omp_* functions we call ourselves (CKernels/bk_omp.h), so no omp.h include path is needed.
        .target(
            name: "CBitKernels", dependencies: ["CHwloc"], path: ".", sources: ["CKernels"],
            publicHeadersPath: "include",
            cSettings: [
                .unsafeFlags(["-fopenmp", "-O3", "-std=gnu11"]),
                .define("NDEBUG", .when(configuration: .release)),
            ],
            linkerSettings: [.linkedLibrary("omp5")]),
        // The Swift API, and the only module that imports CBitKernels: every other target reaches
        // the C kernels through it (package-level entry points for the layers, harness and tests).
        .target(name: "BitKernels", dependencies: ["CBitKernels", "COpenBLAS"]),
        // BitNet b1.58 inference on the ternary kernels: checkpoint loaders, layers, generation.
        .target(name: "BitNet", dependencies: ["BitKernels"]),
        // Self-organizing bit-neurons on the bit-vector kernels: IDX data, encoders, population, metrics.
        .target(name: "BitNeurons", dependencies: ["BitKernels", "CZlib", "CFFTW"]),
        // The benchmark harness, apart from the libraries: timing, yardsticks, the kernel, matrix,
        // search, model and neuron benches and the placement sweep. Not a product.
        .target(name: "BitKernelsBench", dependencies: ["BitKernels", "BitNet", "BitNeurons"]),
        // Native BitNet b1.58 training on the inference kernels (STE), float GEMMs through FloatGEMM;
        // the instruments and reports of the experiments built on it (Instruments/, Experiment/).
        .target(name: "BitTraining", dependencies: ["BitKernels", "BitNet"]),
        // OpenAI-compatible HTTP serving with batched decoding; only the CLI links it (and Hummingbird).
        .target(
            name: "BitServer",
            dependencies: ["BitNet", "BitKernels", .product(name: "Hummingbird", package: "hummingbird")]),
        // Open MPI through pkg-config (ompi-c); shim.h wraps the handle macros Swift cannot import.
        .systemLibrary(
            name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        // Sharded search and populations, data-parallel training over MPI. Its code is under
        // `#if MPI`: only with the MPI trait does it import CMPI (and link libmpi).
        .target(
            name: "BitDistributed",
            dependencies: ["BitKernels", "BitNeurons", "BitTraining", .target(name: "CMPI", condition: .when(traits: ["MPI"]))]),
        // The MPI checks scripts/mpi_check.sh runs under mpirun (-np 2 and 3): sharded results
        // against one process holding everything. Swift Testing under mpirun is awkward.
        .executableTarget(
            name: "BitDistributedCheck", dependencies: ["BitDistributed", "BitKernels", "BitNeurons", "BitTraining"],
            path: "Tests/BitDistributedCheck"),
        .executableTarget(
            name: "BitKernelsCLI",
            dependencies: [
                "BitKernels", "BitNet", "BitNeurons", "BitTraining", "BitServer", "BitKernelsBench",
                .target(name: "BitDistributed", condition: .when(traits: ["MPI"])),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // What the test targets share: scratch directories that remove themselves.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        // Fixtures/ holds small data files read by path (and the script that wrote them).
        .testTarget(name: "BitKernelsTests", dependencies: ["BitKernels", "TestSupport"], exclude: ["Fixtures"]),
        // Fixtures/bitnet-tiny: a copy of ../shared/fixtures/bitnet-tiny (transformers' own outputs).
        .testTarget(name: "BitNetTests", dependencies: ["BitNet", "BitKernels", "TestSupport"], exclude: ["Fixtures"]),
        // Fixtures/bitnet-tiny-chat: bitnet-tiny (symlinks) with a tokenizer and chat template (make_chat_fixture.py).
        .testTarget(name: "BitServerTests", dependencies: ["BitServer", "BitNet"], exclude: ["Fixtures"]),
        // Fixtures/: the first images of MNIST and Fashion-MNIST (IDX .gz) and the script that cut them.
        .testTarget(name: "BitNeuronsTests", dependencies: ["BitNeurons", "BitKernels", "TestSupport"], exclude: ["Fixtures"]),
        // Fixtures/: PyTorch float64 reference gradients and loss curves (make_reference.py wrote them).
        // The sharded search's reduction on simulated ranks (no MPI needed: runs in the default build).
        .testTarget(name: "BitDistributedTests", dependencies: ["BitDistributed", "BitKernels"]),
        .testTarget(name: "BitTrainingTests", dependencies: ["BitTraining", "BitNet", "BitKernels", "TestSupport"], exclude: ["Fixtures"]),
    ]
)

// libFuzzer targets, one per file reader (Tests/Fuzz/). Only with BITKERNELS_FUZZ set, as
// scripts/fuzz.sh builds them (`-sanitize=fuzzer,address`), so `swift build` and CI never see them.
if Context.environment["BITKERNELS_FUZZ"] != nil {
    package.targets.append(.target(name: "FuzzSupport", dependencies: ["BitNet"], path: "Tests/Fuzz/FuzzSupport"))
    for (name, dependencies) in [("FuzzGGUF", ["BitNet"]), ("FuzzSafetensors", ["BitNet"]), ("FuzzTokenizerJSON", ["BitNet"]),
                                 ("FuzzTiktoken", ["BitNet"]), ("FuzzIDX", ["BitNeurons"]),
                                 ("FuzzPopulation", ["BitNeurons", "BitKernels", "CZlib"]), ("FuzzCheckpoint", ["BitTraining"])] {
        package.targets.append(.executableTarget(
            name: name, dependencies: dependencies.map { .target(name: $0) } + ["FuzzSupport"], path: "Tests/Fuzz/\(name)",
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]))
    }
}
