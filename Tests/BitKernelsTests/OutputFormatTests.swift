@testable import BitKernels
import Foundation
import TestSupport
import Testing

/// The build stamp: the commit read from git's files, never a failure.
@Suite struct BuildStampTests {
    /// A folder `name` in `dir` laid out as a git checkout, `.git` holding `files` (path → contents).
    static func checkout(_ name: String, in dir: String, files: [String: String]) throws -> String {
        let root = dir + "/" + name
        for (path, text) in files {
            let url = URL(fileURLWithPath: root + "/" + path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
        return root
    }

    static let a = String(repeating: "a1", count: 20), b = String(repeating: "0b", count: 20)

    @Test func looseRefPackedRefDetachedAndWorktree() throws {
        try withTemporaryDirectory("bitkernels-git") { dir in
            let loose = try Self.checkout("loose", in: dir, files: [".git/HEAD": "ref: refs/heads/main\n", ".git/refs/heads/main": Self.a + "\n"])
            #expect(gitHead(checkout: loose) == Self.a)
            let packed = try Self.checkout("packed", in: dir, files: [
                ".git/HEAD": "ref: refs/heads/dev\n", ".git/packed-refs": "# pack-refs with: peeled\n\(Self.a) refs/heads/main\n\(Self.b) refs/heads/dev\n",
            ])
            #expect(gitHead(checkout: packed) == Self.b)
            let detached = try Self.checkout("detached", in: dir, files: [".git/HEAD": Self.b + "\n"])
            #expect(gitHead(checkout: detached) == Self.b)
            // A worktree: .git is a file naming its git dir, whose commondir holds the refs.
            let main = try Self.checkout("main", in: dir, files: [".git/refs/heads/wt": Self.a, ".git/worktrees/w/HEAD": "ref: refs/heads/wt\n",
                                                                   ".git/worktrees/w/commondir": "../..\n"])
            let worktree = try Self.checkout("worktree", in: dir, files: [".git": "gitdir: \(main)/.git/worktrees/w\n"])
            #expect(gitHead(checkout: worktree) == Self.a)
        }
    }

    @Test func anythingElseIsNil() throws {
        #expect(gitHead(checkout: "/nonexistent-bitkernels") == nil)
        try withTemporaryDirectory("bitkernels-git") { dir in
            let garbage = try Self.checkout("garbage", in: dir, files: [".git/HEAD": "ref: refs/heads/main\n", ".git/refs/heads/main": "not a commit\n"])
            #expect(gitHead(checkout: garbage) == nil)
            let escape = try Self.checkout("escape", in: dir, files: [".git/HEAD": "ref: refs/../../../etc/passwd\n"])
            #expect(gitHead(checkout: escape) == nil)
            let folder = try Self.checkout("folder", in: dir, files: [".git/HEAD/x": "y"])
            #expect(gitHead(checkout: folder) == nil)
        }
    }

    /// This build's commit is the checkout's HEAD when the tests run from a git checkout.
    @Test func currentCommitIsThisCheckoutsHead() throws {
        let root = sourceCheckout(of: #filePath.replacingOccurrences(of: "/Tests/BitKernelsTests/", with: "/Sources/BitKernels/"))
        guard let head = gitHead(checkout: root) else {
            #expect(bitKernelsCommit == "unknown")
            return
        }
        #expect(bitKernelsCommit == String(head.prefix(12)))
        #expect(BuildStamp.current == BuildStamp(version: bitKernelsVersion, commit: bitKernelsCommit))
    }
}

/// Output formats and stamps of the tools, run as a user runs them.
@Suite struct OutputFormatTests {
    static func object(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    static func expectStamp(_ o: [String: Any], _ what: String) {
        #expect(o["version"] as? String == bitKernelsVersion, "\(what): version")
        #expect(o["commit"] as? String == bitKernelsCommit, "\(what): commit")
    }

    /// `bench model` on the fixture: 2 prompt sizes + 1 generation length for 2 thread counts is 6
    /// tests, in the same order in every format; mean and standard deviation are the samples'.
    @Test func benchModelFormats() throws {
        let base = ["bench", "model", "-m", CLIFixtures.model, "-p", "4,8", "-n", "3", "-t", "1,2", "-r", "2"]
        let md = try CLI.run(base + ["-o", "md"], environment: [:])
        #expect(md.status == 0, "stderr \(md.err)")
        let lines = md.out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.count == 2 + 6 + 3, "\(md.out)")  // header, rule, 6 rows, blank, build, final newline
        func cells(_ line: String) -> [String] {
            line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast().map { $0.trimmingCharacters(in: .whitespaces) }
        }
        #expect(cells(lines[0]) == ["model", "size", "params", "backend", "threads", "test", "t/s", "memory bound"])
        #expect(cells(lines[1]).allSatisfy { $0.allSatisfy { $0 == "-" || $0 == ":" } && $0.count >= 3 })
        #expect(Set(lines.map(\.count).prefix(8)).count == 1, "columns aligned: \(md.out)")
        #expect(lines[2...7].map { cells($0)[5] } == ["pp4", "pp8", "tg3", "pp4", "pp8", "tg3"])
        #expect(lines[2...7].map { cells($0)[4] } == ["1", "1", "1", "2", "2", "2"])
        #expect(lines[2...7].allSatisfy { cells($0)[6].contains(" ± ") })
        #expect(lines[2...7].map { cells($0)[7] == "-" } == [true, true, false, true, true, false])
        #expect(lines[9] == "build: \(bitKernelsCommit) (\(bitKernelsVersion))")

        let json = try CLI.run(base + ["-o", "json"], environment: [:])
        #expect(json.status == 0, "stderr \(json.err)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [[String: Any]])
        #expect(rows.map { $0["test"] as? String } == ["pp4", "pp8", "tg3", "pp4", "pp8", "tg3"])
        #expect(rows.map { $0["threads"] as? Int } == [1, 1, 1, 2, 2, 2])
        for row in rows {
            Self.expectStamp(row, "bench model -o json")
            let samples = try #require(row["samples"] as? [Double])
            #expect(samples.count == 2 && samples.allSatisfy { $0 > 0 })
            let mean = samples.reduce(0, +) / 2, sd = abs(samples[0] - samples[1]) / 2.0.squareRoot()
            #expect(abs((row["mean"] as? Double ?? -1) - mean) <= 1e-9 * mean)
            #expect(abs((row["standardDeviation"] as? Double ?? -1) - sd) <= 1e-9 * mean + 1e-12)
            #expect((row["boundTokensPerSecond"] != nil) == (row["test"] as? String == "tg3"))
        }

        let jsonl = try CLI.run(base + ["-o", "jsonl"], environment: [:])
        #expect(jsonl.status == 0, "stderr \(jsonl.err)")
        let objects = try jsonl.out.split(separator: "\n").map { try Self.object(String($0)) }
        #expect(objects.map { $0["test"] as? String } == ["pp4", "pp8", "tg3", "pp4", "pp8", "tg3"])
        #expect(jsonl.out.hasSuffix("}\n") && !jsonl.out.contains("\n\n"))

        try withTemporaryDirectory("bitkernels-cli-bench-model") { dir in
            let csv = try CLI.run(base + ["-o", "csv", "--json", dir + "/out.json"], environment: [:])
            #expect(csv.status == 0, "stderr \(csv.err)")
            let records = csv.out.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
            #expect(records.count == 7)
            #expect(records[0].first == "model" && records[0].last == "commit")
            #expect(records.allSatisfy { $0.count == records[0].count }, "\(csv.out)")
            #expect(records.dropFirst().map { String($0[records[0].firstIndex(of: "test")!]) } == ["pp4", "pp8", "tg3", "pp4", "pp8", "tg3"])
            let file = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/out.json"))) as? [[String: Any]])
            #expect(file.count == 6)
            // Nothing but the results on stdout: progress and notes go to stderr.
            #expect(!csv.out.contains("loading") && csv.err.contains("wrote \(dir)/out.json"))
        }
    }

    /// `-p 0` or `-n 0` drops those tests.
    @Test func zeroSkipsATest() throws {
        let r = try CLI.run(["bench", "model", "-m", CLIFixtures.model, "-p", "0", "-n", "2", "-r", "1", "-o", "jsonl"], environment: [:])
        #expect(r.status == 0, "stderr \(r.err)")
        #expect(try r.out.split(separator: "\n").map { try Self.object(String($0))["test"] as? String } == ["tg2"])
    }

    /// `info -o json` prints and `info --json F` writes the same stamped document.
    @Test func infoJSON() throws {
        try withTemporaryDirectory("bitkernels-cli-info-json") { dir in
            let r = try CLI.run(["info", "-o", "json", "--json", dir + "/info.json"], environment: [:])
            #expect(r.status == 0, "stderr \(r.err)")
            let printed = try Self.object(r.out)
            Self.expectStamp(printed, "info -o json")
            #expect(printed["chosenVariant"] as? String != nil)
            let written = try Self.object(try String(contentsOfFile: dir + "/info.json", encoding: .utf8))
            Self.expectStamp(written, "info --json")
            #expect(Set(written.keys) == Set(printed.keys))
        }
    }

    /// The tune plot: a dash pattern and marker per policy, min–max bars, the reference lines,
    /// CPU, date and commit, and the last-level-cache warning for a working set that fits.
    @Test func tunePlotAndCacheWarning() throws {
        try withTemporaryDirectory("bitkernels-cli-tune") { dir in
            let r = try CLI.run(["tune", "--size", "1", "--threads", "1,2", "--repeats", "1", "--policies", "compact,scatter,cores",
                                 "--json", dir + "/tune.json", "--plot", dir + "/tune.svg"], environment: [:])
            #expect(r.status == 0, "stderr \(r.err)")
            let report = try Self.object(try String(contentsOfFile: dir + "/tune.json", encoding: .utf8))
            Self.expectStamp(report, "tune --json")
            let llc = report["lastLevelCacheBytes"] as? Int ?? -1
            #expect(report["fitsInLastLevelCache"] as? Bool == (llc >= 1 << 20))
            #expect(r.err.contains("fits in the") == (llc >= 1 << 20), "stderr \(r.err)")
            let svg = try String(contentsOfFile: dir + "/tune.svg", encoding: .utf8)
            #expect(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>\n"))
            #expect(svg.contains("commit \(bitKernelsCommit)") && svg.contains(" UTC"))
            #expect(svg.contains("warning: the working set fits") == (llc >= 1 << 20))
            for needle in ["<circle", "<rect x=", "<polygon", "stroke-dasharray=\"6,3\"", "stroke-dasharray=\"2,2\"",
                           "ideal (1 thread × n)", "read bandwidth (same run)", "clip-path=\"url(#plot)\""] {
                #expect(svg.contains(needle), "no \(needle) in the plot")
            }
            // Series that share PUs say so in the legend, and each point has its bar (3 policies × 2 counts).
            #expect(svg.contains("(same PUs as compact)"))
            #expect(svg.components(separatedBy: "stroke-width=\"1\"/>").count - 1 == 6)
        }
    }

    /// On another machine's topology `--json` writes the plans, and `--plot` is refused.
    @Test func tunePlansOnAnotherTopology() throws {
        try withTemporaryDirectory("bitkernels-cli-tune-plans") { dir in
            let r = try CLI.run(["tune", "--topology", "pack:2 core:4 pu:2", "--threads", "1,2", "--json", dir + "/plans.json"], environment: [:])
            #expect(r.status == 0, "stderr \(r.err)")
            let report = try Self.object(try String(contentsOfFile: dir + "/plans.json", encoding: .utf8))
            Self.expectStamp(report, "tune --topology --json")
            #expect(report["measured"] as? Bool == false)
            let plans = try #require(report["plans"] as? [[String: Any]])
            #expect(plans.map { $0["threads"] as? Int } == [1, 2, 1, 2])
            #expect(plans.allSatisfy { ($0["processingUnits"] as? [Int])?.count == $0["threads"] as? Int })
            let p = try CLI.run(["tune", "--topology", "pack:2 core:4 pu:2", "--plot", dir + "/x.svg"], environment: [:])
            #expect(p.status == 64 && p.err.hasPrefix("Error: --plot: ") && !FileManager.default.fileExists(atPath: dir + "/x.svg"))
        }
    }

    /// Round ticks: the y axis of the plot reads 0, 2, 4 … or 0, 0.5, 1 …, never 3.17.
    @Test func tickValuesAreRound() throws {
        try withTemporaryDirectory("bitkernels-cli-ticks") { dir in
            let r = try CLI.run(["tune", "--size", "1", "--threads", "1", "--repeats", "1", "--policies", "compact", "--plot", dir + "/t.svg"], environment: [:])
            #expect(r.status == 0, "stderr \(r.err)")
            let svg = try String(contentsOfFile: dir + "/t.svg", encoding: .utf8)
            let labels = svg.split(separator: "\n").filter { $0.contains("text-anchor=\"end\">") }.compactMap { line -> Double? in
                guard let start = line.range(of: "text-anchor=\"end\">")?.upperBound, let end = line[start...].firstIndex(of: "<") else { return nil }
                return Double(line[start..<end])
            }
            #expect(labels.count >= 3 && labels.first == 0)
            let step = labels[1] - labels[0]
            let mantissa = step / pow(10, (log10(step)).rounded(.down))
            #expect([1.0, 2, 5].contains { abs($0 - mantissa) < 1e-9 }, "step \(step)")
            #expect(zip(labels, labels.dropFirst()).allSatisfy { abs($1 - $0 - step) < 1e-9 * step })
        }
    }

    /// Every JSON file the bench and organize commands write carries version and commit.
    @Test(arguments: [
        ["bench", "popcount", "--quick", "--levels", "l1"],
        ["bench", "neurons", "--quick", "--neurons", "5", "--data", CLIFixtures.mnist],
        ["organize", "--data", CLIFixtures.mnist, "--limit", "100", "--neurons", "5"],
    ])
    func jsonFilesAreStamped(command: [String]) throws {
        try withTemporaryDirectory("bitkernels-cli-stamp-\(command[1])") { dir in
            let r = try CLI.run(command + ["--json", dir + "/out.json"], environment: [:])
            #expect(r.status == 0, "stderr \(r.err)")
            let text = try String(contentsOfFile: dir + "/out.json", encoding: .utf8)
            Self.expectStamp(try Self.object(text), command.joined(separator: " "))
        }
    }
}
