import ArgumentParser
import BitKernels
import BitKernelsBench
import BitNet
import Foundation

/// Loads a model on `kernels`, or fails with the reason.
func loadModel(_ path: String, int8Head: Bool = false, kernels: Kernels) throws -> BitNetModel {
    FileHandle.standardError.write("loading \(path)\(int8Head ? " (int8 head)" : "")...\n".data(using: .utf8)!)
    do { return try BitNetModel.load(path: path, int8Head: int8Head, using: kernels) } catch { throw Failure(error) }
}

func parseIDs(_ text: String, what: String) throws -> [Int] {
    let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    let ids = parts.compactMap { Int($0) }
    guard !ids.isEmpty, ids.count == parts.count, ids.allSatisfy({ $0 >= 0 }) else {
        throw ValidationError("\(what): expected comma-separated token ids, e.g. 1,2,3")
    }
    return ids
}

/// Comma-separated positive whole numbers (`--neurons 50,1000`), or a usage error naming the option.
func parseCounts(_ text: String, option: String) throws -> [Int] {
    try text.split(separator: ",").map { item in
        guard let n = Int(item), n >= 1 else { throw ValidationError("bad \(option) '\(item)'; use whole numbers ≥ 1, comma-separated") }
        return n
    }
}

/// Peak resident memory of this process (Linux VmHWM), in bytes; 0 when unknown.
func peakMemoryBytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }
    return 0
}

/// Pins a team of `threads` threads by `placement` (nothing when nil), reporting on stderr.
func pin(threads: Int, placement: String?) throws {
    guard let p = placement else { return }
    let topo: HardwareTopology
    do { topo = try HardwareTopology.current() } catch { throw Failure(error) }
    let binding = topo.bind(try makePlan(topo, try parsePolicy(p), threads: threads))
    FileHandle.standardError.write("placement \(p): PUs \(binding.plan.processingUnits)\(binding.verified ? ", pinned" : "; \(binding.notice ?? "not verified")")\n".data(using: .utf8)!)
}

func bytes(_ n: Int) -> String {
    if n == 0 { return "?" }
    if n >= 1 << 30 { return String(format: "%.1f GiB", Double(n) / Double(1 << 30)) }
    if n >= 1 << 20 { return String(format: "%.0f MiB", Double(n) / Double(1 << 20)) }
    if n >= 1 << 10 { return String(format: "%.0f KiB", Double(n) / Double(1 << 10)) }
    return "\(n) B"
}

/// The default dataset of `organize` and `bench neurons` when no --data is given: the small MNIST
/// subset (IDX files) that ships in the source tree. Looked for, in this order:
///   1. $BITKERNELS_DATA, a folder holding the four IDX files;
///   2. Tests/BitNeuronsTests/Fixtures/mnist under the current directory (running from a checkout);
///   3. share/bitkernels/mnist beside the executable's folder (an install: PREFIX/bin/bitkernels
///      finds PREFIX/share/bitkernels/mnist).
enum DefaultDataset {
    static let help = "Default: $BITKERNELS_DATA, else the MNIST subset of a checkout (./Tests/BitNeuronsTests/Fixtures/mnist), else PREFIX/share/bitkernels/mnist beside PREFIX/bin/bitkernels."

    static func candidates() -> [(place: String, path: String?)] {
        let env = ProcessInfo.processInfo.environment["BITKERNELS_DATA"]
        let checkout = FileManager.default.currentDirectoryPath + "/Tests/BitNeuronsTests/Fixtures/mnist"
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let installed = URL(fileURLWithPath: executable).deletingLastPathComponent()
            .appendingPathComponent("../share/bitkernels/mnist").standardized.path
        return [("$BITKERNELS_DATA", env), ("a checkout", checkout), ("an install", installed)]
    }

    /// Whether `dir` holds the training images (gzipped or not).
    static func holdsImages(_ dir: String) -> Bool {
        ["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"].contains { FileManager.default.fileExists(atPath: dir + "/" + $0) }
    }

    /// The first candidate folder holding the images, or a failure listing every place looked in.
    static func locate() throws -> String {
        let places = candidates()
        if let found = places.first(where: { $0.path.map(holdsImages) ?? false }) { return found.path! }
        let looked = places.map { place, path in path.map { "\($0) (\(place))" } ?? "\(place) (not set)" }
        throw Failure("no --data given and no default dataset found; looked for train-images-idx3-ubyte[.gz] in: "
                      + looked.joined(separator: ", ") + ". Pass --data DIR, a folder with the four IDX files (e.g. ../shared/data/mnist).",
                      code: ExitStatus.noInput)
    }
}

/// The most threads a command starts. OpenMP aborts when it cannot create a team (2^31 threads,
/// or 100,000 on a small machine), so every --threads is bounded here, where it enters.
let maxThreads = 1024

/// The OpenMP settings the runtime reads once, on its first call, checked before any: libomp
/// asserts (SIGABRT) on an empty OMP_NUM_THREADS or one beyond Int32, prints warnings for 0, −1 or
/// words, and builds a team of any size it names (100,000 threads for --threads 0). Accepted: a
/// thread count in 1...maxThreads, or a comma-separated list of them (one per nesting level).
/// Returns the one-line problem, or nil.
func environmentProblem(_ environment: [String: String]) -> String? {
    guard let value = environment["OMP_NUM_THREADS"] else { return nil }
    let counts = value.split(separator: ",", omittingEmptySubsequences: false)
    if counts.allSatisfy({ Int($0).map { (1...maxThreads).contains($0) } ?? false }) { return nil }
    let shown = value.count > 40 ? String(value.prefix(40)) + "…" : value
    return "OMP_NUM_THREADS=\(shown.debugDescription) is not a thread count in 1...\(maxThreads) "
        + "(or a comma-separated list of them); unset it to use one thread per processing unit"
}

/// Half this machine's memory: the most an argument-sized buffer (--size, --shapes) may take.
let memoryBudget = Int(min(ProcessInfo.processInfo.physicalMemory / 2, UInt64(Int.max)))

/// A usage error unless `value` is in `range`, naming the option: "--threads must be in 1...1024, got 0".
func check<T: Comparable>(_ option: String, _ value: T, in range: ClosedRange<T>, unit: String = "") throws {
    guard range.contains(value) else {
        throw ValidationError("\(option) must be in \(range.lowerBound)...\(range.upperBound)\(unit), got \(value)")
    }
}

/// What a command prints on stdout (`-o` / `--output-format`, llama-bench's `-o`): text (or md, a
/// markdown table) for people, csv, json (one document) or jsonl (one object a line) for programs.
/// Files are written by `--json FILE` instead, in every command.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, md, csv, json, jsonl
}

/// A usage error unless `format` is one of `allowed`, naming the option.
func check(_ format: OutputFormat, allowed: [OutputFormat]) throws {
    guard allowed.contains(format) else {
        throw ValidationError("--output-format must be one of \(allowed.map(\.rawValue).joined(separator: ", ")), got \(format.rawValue)")
    }
}
