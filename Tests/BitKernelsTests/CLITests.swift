import BitKernels
import Foundation
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

    static func run(_ arguments: [String], environment extra: [String: String]) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = arguments
        p.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
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
        ["logits", "--model", "no-such-model", "--tokens", "1", "--out", "/dev/null"], ["organize"],
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
