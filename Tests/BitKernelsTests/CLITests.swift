import BitKernels
import Foundation
import TestSupport
import Testing

/// The `bitkernels` tool that `swift build` / `swift test` builds beside the test bundle.
enum CLI {
    static let binary: String = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // macOS runs tests inside an .xctest bundle: the products sit beside the bundle.
        while dir.pathExtension == "xctest" || dir.lastPathComponent == "MacOS" || dir.lastPathComponent == "Contents" {
            dir.deleteLastPathComponent()
        }
        return dir.appendingPathComponent("bitkernels").path
    }()

    /// Runs the tool; after `timeout` seconds it is killed (status 9 by signal): a hang fails the
    /// test instead of blocking the suite.
    static func run(_ arguments: [String], environment extra: [String: String], timeout: Double = 120) throws
        -> (status: Int32, out: String, err: String)
    {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = arguments
        p.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let pid = p.processIdentifier
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { if p.isRunning { kill(pid, SIGKILL) } }
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }
}

@Suite struct CLITests {
    /// Every command, with arguments that are otherwise valid.
    static let commands: [[String]] = [
        ["info"], ["bench", "popcount", "--quick", "--levels", "l1"], ["bench", "kernels", "popcount"],
        ["bench", "model", "--model", "no-such-model"], ["bench", "neurons"],
        ["search-bench", "--rows", "r", "--queries", "q", "--width", "8"], ["tune"],
        ["generate", "--model", "no-such-model", "--prompt-ids", "1"],
        ["logits", "--model", "no-such-model", "--prompt-ids", "1", "--out", "/dev/null"], ["organize"],
        ["serve", "--model", "no-such-model", "--port", "0"], ["chat", "--model", "no-such-model"],
    ]

    /// BITKERNELS_ISA naming no variant, or one this CPU cannot run: the same one line on stderr
    /// from every command, nothing on stdout, status 1, no trap and no usage text.
    @Test(arguments: commands)
    func impossibleVariantIsTheSameCleanErrorEverywhere(command: [String]) throws {
        #expect(FileManager.default.isExecutableFile(atPath: CLI.binary), "build the tool first: swift build (looked for \(CLI.binary))")
        let impossible = ["bogus"] + ISA.allCases.filter { !$0.isSupported }.map(\.rawValue)
        for value in impossible {
            var expected = ""
            do { _ = try Kernels.resolve(override: value) } catch { expected = "Error: \(error)\n" }
            #expect(!expected.isEmpty)
            let r = try CLI.run(command, environment: ["BITKERNELS_ISA": value])
            #expect(r.status == 1 && r.out.isEmpty && r.err == expected,
                    "BITKERNELS_ISA=\(value) bitkernels \(command.joined(separator: " ")): status \(r.status), stdout \(r.out.debugDescription), stderr \(r.err.debugDescription)")
        }
    }
}

/// Hostile OpenMP, OpenBLAS and BitKernels environment values: no trap, no hang.
@Suite struct EnvironmentTests {
    /// OMP_NUM_THREADS that libomp traps on (empty, beyond Int32), warns about (0, −1, words) or
    /// obeys with an absurd team (100,000): one line naming the variable, status 1, nothing run.
    @Test(arguments: ["", " ", "0", "-1", "garbage", "100000", "2147483648", "99999999999999999999", "4,,2", "1025"])
    func badOMPThreadCountIsOneLine(value: String) throws {
        for command in [["info"], ["organize", "--data", CLIFixtures.mnist, "--limit", "100", "--neurons", "5"],
                        ["logits", "--model", CLIFixtures.model, "--prompt-ids", "1,2", "--out", "/dev/null", "--threads", "0"]] {
            let r = try CLI.run(command, environment: ["OMP_NUM_THREADS": value], timeout: 60)
            #expect(r.status == 1 && r.out.isEmpty && r.err.hasPrefix("Error: OMP_NUM_THREADS=")
                        && r.err.filter { $0 == "\n" }.count == 1,
                    "OMP_NUM_THREADS=\(value.debugDescription) \(command[0]): status \(r.status), stderr \(r.err.debugDescription)")
        }
    }

    /// Valid thread counts still run, and OpenBLAS's and the data folder's variables with hostile
    /// values are harmless (OpenBLAS clamps them; a bad BITKERNELS_DATA is the missing-dataset error).
    @Test func otherVariablesDoNotTrap() throws {
        for value in ["1", "2", "2,1"] {
            let r = try CLI.run(["info"], environment: ["OMP_NUM_THREADS": value], timeout: 60)
            #expect(r.status == 0 && r.err.isEmpty, "OMP_NUM_THREADS=\(value): status \(r.status), stderr \(r.err.debugDescription)")
        }
        for name in ["OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "GOTO_NUM_THREADS", "OPENBLAS_DEFAULT_NUM_THREADS"] {
            for value in ["", "-1", "0", "99999999999999999999", "garbage"] {
                let r = try CLI.run(["info"], environment: [name: value], timeout: 60)
                #expect(r.status == 0, "\(name)=\(value.debugDescription): status \(r.status), stderr \(r.err.debugDescription)")
            }
        }
        for value in ["", "/nonexistent", "/dev/zero", "%s%n"] {
            let r = try CLI.run(["organize", "--neurons", "5"], environment: ["BITKERNELS_DATA": value], timeout: 60)
            #expect(r.status == 66 || r.status == 0, "BITKERNELS_DATA=\(value.debugDescription): status \(r.status), stderr \(r.err.debugDescription)")
            #expect(r.status == 0 || (r.err.hasPrefix("Error: no --data given") && r.err.filter { $0 == "\n" }.count == 1))
        }
    }
}

/// Fixtures of the CLI tests.
enum CLIFixtures {
    static let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let mnist = tests.appendingPathComponent("BitNeuronsTests/Fixtures/mnist").path
    static let model = tests.appendingPathComponent("BitNetTests/Fixtures/bitnet-tiny").path

    /// An uncompressed IDX dataset: `train` training and `test` test images of the given sizes,
    /// pixels and labels cycling so every class appears; in the test process's shared temporary
    /// directory (removed when it exits).
    static func idx(_ name: String, train: Int, trainSize: (rows: Int, columns: Int), test: Int,
                    testSize: (rows: Int, columns: Int)) throws -> String {
        let dir = sharedTemporaryDirectory + "/" + name
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        func header(_ values: [UInt32]) -> [UInt8] { values.flatMap { v in (0..<4).reversed().map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } } }
        for (split, count, size) in [("train", train, trainSize), ("t10k", test, testSize)] {
            let pixels = (0..<(count * size.rows * size.columns)).map { UInt8(truncatingIfNeeded: $0 &* 37) }
            let images = header([2051, UInt32(count), UInt32(size.rows), UInt32(size.columns)]) + pixels
            let labels = header([2049, UInt32(count)]) + (0..<count).map { UInt8($0 % 10) }
            try Data(images).write(to: URL(fileURLWithPath: "\(dir)/\(split)-images-idx3-ubyte"))
            try Data(labels).write(to: URL(fileURLWithPath: "\(dir)/\(split)-labels-idx1-ubyte"))
        }
        return dir
    }
}

/// Issue 15, the CLI: arguments checked where they enter, sysexits statuses, outputs written atomically.
@Suite struct CLIBoundaryTests {
    /// A bad argument or data set, the status it must give and the first line of stderr
    /// (`nil`: only the status and the "Error: " start are checked).
    struct Case: CustomStringConvertible, Sendable {
        var arguments: [String]
        var status: Int32
        var line: String?
        /// Whether the usage text follows (parse-time usage errors only).
        var usage: Bool
        /// How the first line starts, when the rest depends on the machine.
        var linePrefix: String? = nil
        var description: String { "bitkernels " + arguments.joined(separator: " ") }
    }

    static let small = try! CLIFixtures.idx("small", train: 20, trainSize: (10, 10), test: 10, testSize: (10, 10))
    static let mixed = try! CLIFixtures.idx("mixed", train: 20, trainSize: (28, 28), test: 10, testSize: (14, 14))
    static let empty = try! CLIFixtures.idx("empty", train: 0, trainSize: (28, 28), test: 0, testSize: (28, 28))
    static let mnist = CLIFixtures.mnist
    static let popcount = ["bench", "popcount", "--quick", "--levels", "l1"]

    static let cases: [Case] = [
        Case(arguments: popcount + ["--threads", "2147483648"], status: 64, line: "Error: --threads must be in 1...1024, got 2147483648", usage: true),
        Case(arguments: popcount + ["--threads", "100000"], status: 64, line: "Error: --threads must be in 1...1024, got 100000", usage: true),
        Case(arguments: popcount + ["--threads", "1000000000000"], status: 64, line: "Error: --threads must be in 1...1024, got 1000000000000", usage: true),
        Case(arguments: popcount + ["--threads", "-1"], status: 64, line: "Error: --threads must be in 1...1024, got -1", usage: true),
        Case(arguments: popcount + ["--threads=-1"], status: 64, line: "Error: --threads must be in 1...1024, got -1", usage: true),
        Case(arguments: ["logits", "--model", "m", "--prompt-ids", "1", "--out", "o", "--threads", "-1"], status: 64, line: "Error: --threads must be in 0...1024, got -1", usage: true),
        Case(arguments: ["generate", "--model", "m", "--prompt-ids", "1", "--threads", "5000"], status: 64, line: "Error: --threads must be in 0...1024, got 5000", usage: true),
        Case(arguments: ["serve", "--model", "m", "--threads", "5000"], status: 64, line: "Error: --threads must be in 0...1024, got 5000", usage: true),
        Case(arguments: ["serve", "--model", "m", "--threads=-1"], status: 64, line: "Error: --threads must be in 0...1024, got -1", usage: true),
        Case(arguments: ["info", "--threads", "0"], status: 64, line: "Error: --threads must be in 1...1024, got 0", usage: true),
        Case(arguments: ["train", "--data", "d", "--out", "o", "--threads", "100000"], status: 64, line: "Error: --threads must be in 1...1024, got 100000", usage: true),
        Case(arguments: ["tune", "--threads", "1...9223372036854775807"], status: 64, line: "Error: bad thread range '1...9223372036854775807'; write e.g. 1...8, counts in 1...1024", usage: true),
        Case(arguments: ["organize", "--data", mnist, "--limit", "0"], status: 64, line: "Error: --limit must be in 1...9223372036854775807, got 0", usage: true),
        Case(arguments: ["organize", "--data", mnist, "--limit=-1"], status: 64, line: "Error: --limit must be in 1...9223372036854775807, got -1", usage: true),
        Case(arguments: ["organize", "--data", mnist, "--neurons", "100000000000"], status: 64, line: "Error: --neurons must be in 1...1000000, got 100000000000", usage: true),
        Case(arguments: ["bench", "neurons", "--neurons", "100000000000"], status: 64, line: "Error: --neurons must be in 1...1000000, got 100000000000", usage: true),
        Case(arguments: ["bench", "model", "--model", "m", "--prompt-tokens", "0", "--new-tokens", "0"], status: 64,
             line: "Error: --prompt-tokens and --new-tokens are all 0: no test to run", usage: true),
        Case(arguments: ["bench", "model", "-m", "m", "-p", "-1"], status: 64,
             line: "Error: bad --prompt-tokens '-1'; use whole numbers in 0...1048576, comma-separated", usage: true),
        Case(arguments: ["bench", "model", "-m", "m", "-p", "64,,512"], status: 64,
             line: "Error: bad --prompt-tokens ''; use whole numbers in 0...1048576, comma-separated", usage: true),
        Case(arguments: ["bench", "model", "-m", "m", "-n", "9223372036854775808"], status: 64,
             line: "Error: bad --new-tokens '9223372036854775808'; use whole numbers in 0...1048576, comma-separated", usage: true),
        Case(arguments: ["bench", "model", "-m", "m", "-t", "1,0"], status: 64,
             line: "Error: bad --threads '0'; use whole numbers in 1...1024, comma-separated", usage: true),
        Case(arguments: ["bench", "model", "-m", "m", "-r", "0"], status: 64, line: "Error: --repeats must be in 1...1000, got 0", usage: true),
        Case(arguments: ["bench", "model", "-m", "m", "-o", "text"], status: 64,
             line: "Error: --output-format must be one of md, csv, json, jsonl, got text", usage: true),
        Case(arguments: ["bench", "model", "-m", "m", "-o", "xml"], status: 64, line: nil, usage: true),
        Case(arguments: ["bench", "model", "-m", "m,", "-p", "1"], status: 64, line: "Error: --model: an empty path in 'm,'", usage: true),
        Case(arguments: ["bench", "model", "-m", CLIFixtures.model, "-p", "100000"], status: 64,
             line: "Error: --prompt-tokens 100000: \(CLIFixtures.model) holds at most 512 positions", usage: false),
        Case(arguments: ["info", "-o", "md"], status: 64, line: "Error: --output-format must be one of text, json, got md", usage: true),
        Case(arguments: ["info", "--json", "/dev/full"], status: 74, line: "Error: /dev/full: not a regular file; refusing to replace it", usage: false),
        Case(arguments: ["generate", "--model", "m", "--prompt-ids", "1", "--max-tokens", "9223372036854775807"], status: 64, line: "Error: --max-tokens must be in 1...1048576, got 9223372036854775807", usage: true),
        Case(arguments: ["generate", "--model", "m", "--prompt-ids", "1", "--tokens", "4"], status: 64, line: nil, usage: true),
        Case(arguments: ["bench", "kernels", "ternary", "--batch-sizes", "0"], status: 64,
             line: "Error: bad --batch-sizes '0'; use whole numbers from 1 to 4096", usage: true),
        Case(arguments: ["search-bench", "--rows", "r", "--queries", "q", "--width", "9223372036854775807"], status: 64, line: "Error: --width must be in 1...1048576, got 9223372036854775807", usage: true),
        Case(arguments: ["bench", "kernels", "ternary", "--shapes", "100000000x100000000"], status: 64, line: "Error: bad shape '100000000x100000000'; write ROWSxCOLUMNS, each in 1...1048576, e.g. 2560x6912", usage: true),
        Case(arguments: ["bench", "kernels", "ternary", "--shapes", "1048576x1048576"], status: 64, line: nil, usage: true),
        Case(arguments: ["tune", "--size", "100000000"], status: 64, line: nil, usage: true),
        Case(arguments: ["tune", "--size", "9223372036854775807"], status: 64, line: nil, usage: true),
        // Values that only the data can refute: one line, no usage.
        Case(arguments: ["train", "--data", CLIFixtures.tests.appendingPathComponent("BitTrainingTests/Fixtures/make_reference.py").path,
                         "--out", "/nonexistent/o", "--layers", "1024", "--width", "65536", "--heads", "1"], status: 64,
             line: nil, usage: false, linePrefix: "Error: --layers 1024 --width 65536 --batch 12 --context 64 --threads 1: training needs about "),
        Case(arguments: ["organize", "--data", mnist, "--limit", "50"], status: 64,
             line: "Error: --neurons 100: --start inputs picks them among 50 training images (--limit 50); use at most 50, or --start dense", usage: false),
        Case(arguments: ["organize", "--data", mnist, "--k", "785"], status: 64, line: "Error: --k 785: \(mnist) has 784-pixel images; use --k 1...784", usage: false),
        Case(arguments: ["organize", "--data", small, "--neurons", "5"], status: 64, line: "Error: --k 118: \(small) has 100-pixel images; use --k 1...100", usage: false),
        Case(arguments: ["organize", "--data", mnist, "--continual", "--limit", "1", "--neurons", "1"], status: 65, line: nil, usage: false),
        Case(arguments: ["organize", "--data", mixed, "--neurons", "5"], status: 65, line: "Error: \(mixed): training images are 28×28, test images 14×14", usage: false),
        Case(arguments: ["organize", "--data", mnist, "--other", small, "--limit", "100", "--neurons", "5"], status: 65,
             line: "Error: --other \(small): 10×10 images, but \(mnist) has 28×28", usage: false),
        Case(arguments: ["organize", "--data", empty], status: 65, line: "Error: \(empty): 0 training and 0 test images; need at least one of each", usage: false),
        Case(arguments: ["bench", "neurons", "--data", empty, "--quick"], status: 65, line: "Error: \(empty): no training images", usage: false),
        Case(arguments: ["organize", "--data", "/nonexistent-bitkernels"], status: 66, line: nil, usage: false),
        Case(arguments: ["search-bench", "--rows", "/nonexistent-bitkernels", "--queries", "q", "--width", "8"], status: 66,
             line: "Error: cannot read /nonexistent-bitkernels", usage: false),
        Case(arguments: ["logits", "--model", CLIFixtures.model, "--prompt-ids", "1,2", "--out", "/dev/full"], status: 74,
             line: "Error: /dev/full: not a regular file; refusing to replace it", usage: false),
        Case(arguments: ["info", "--export-topology", "/dev/full"], status: 74,
             line: "Error: /dev/full: not a regular file; refusing to replace it", usage: false),
        Case(arguments: ["organize", "--data", mnist, "--limit", "100", "--neurons", "5", "--json", "/dev/null"], status: 74,
             line: "Error: /dev/null: not a regular file; refusing to replace it", usage: false),
    ]

    @Test(arguments: cases)
    func badArgumentIsOneCleanLine(_ c: Case) throws {
        let r = try CLI.run(c.arguments, environment: [:])
        let lines = r.err.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            .filter { !$0.hasPrefix("loading ") }
        let first = lines.first ?? ""
        #expect(r.status == c.status, "\(c): status \(r.status), stderr \(r.err.debugDescription)")
        #expect(first.hasPrefix("Error: "), "\(c): stderr \(r.err.debugDescription)")
        if let line = c.line { #expect(first == line, "\(c)") }
        if let prefix = c.linePrefix { #expect(first.hasPrefix(prefix), "\(c): \(first)") }
        #expect(r.err.contains("Usage:") == c.usage, "\(c): stderr \(r.err.debugDescription)")
        if !c.usage { #expect(lines.filter { !$0.isEmpty }.count == 1, "\(c): stderr \(r.err.debugDescription)") }
    }

    /// An output named through a symbolic link replaces the link's target; the link stays.
    @Test func outputThroughSymlinkKeepsTheLink() throws {
        try withTemporaryDirectory("bitkernels-cli-symlink") { dir in
            let target = dir + "/target.f32", link = dir + "/link.f32"
            try Data([1, 2, 3]).write(to: URL(fileURLWithPath: target))
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "target.f32")
            let r = try CLI.run(["logits", "--model", CLIFixtures.model, "--prompt-ids", "1,2", "--out", link], environment: [:])
            #expect(r.status == 0, "stderr \(r.err)")
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == "target.f32")
            let size = try FileManager.default.attributesOfItem(atPath: target)[.size] as? Int ?? 0
            #expect(size > 3 && size % 8 == 0)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["link.f32", "target.f32"])  // no temporary left
        }
    }

    /// The same command gives the same bytes: logits exactly, organize's JSON but for its timing.
    @Test func outputsAreDeterministic() throws {
        try withTemporaryDirectory("bitkernels-cli-determinism") { dir in
            for run in 1...2 {
                let r = try CLI.run(["logits", "--model", CLIFixtures.model, "--prompt-ids", "1,2,3", "--out", "\(dir)/\(run).f32"], environment: [:])
                #expect(r.status == 0, "stderr \(r.err)")
                let o = try CLI.run(["organize", "--data", CLIFixtures.mnist, "--limit", "200", "--neurons", "10", "--json", "\(dir)/\(run).json"], environment: [:])
                #expect(o.status == 0, "stderr \(o.err)")
            }
            let a = try Data(contentsOf: URL(fileURLWithPath: dir + "/1.f32")), b = try Data(contentsOf: URL(fileURLWithPath: dir + "/2.f32"))
            #expect(!a.isEmpty && a == b)
            func json(_ run: Int) throws -> String {
                try String(contentsOfFile: "\(dir)/\(run).json", encoding: .utf8).split(separator: "\n")
                    .filter { !$0.contains("\"imagesPerSecond\"") }.joined(separator: "\n")
            }
            let first = try json(1), second = try json(2)
            #expect(first.contains("\"accuracy\"") && first == second)
        }
    }
}
