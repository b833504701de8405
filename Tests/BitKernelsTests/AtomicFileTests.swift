import BitKernels
import Foundation
import TestSupport
import Testing

@Suite struct AtomicFileTests {
    @Test func writesReplacesAndLeavesNoTemporaryFile() throws {
        try withTemporaryDirectory("bk-atomic") { dir in
            let path = dir + "/out.json"
            try writeAtomically("first", to: path)
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "first")
            try writeAtomically([1, 2, 3], to: path)
            #expect(FileManager.default.contents(atPath: path) == Data([1, 2, 3]))
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["out.json"])
        }
    }

    @Test func keepsModeAndFollowsSymlinks() throws {
        try withTemporaryDirectory("bk-atomic") { dir in
            let real = dir + "/real.txt", link = dir + "/link.txt"
            try writeAtomically("old", to: real)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: real)
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "real.txt")
            try writeAtomically("new", to: link)
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == "real.txt", "the link stays a link")
            #expect(try String(contentsOfFile: real, encoding: .utf8) == "new")
            let mode = try FileManager.default.attributesOfItem(atPath: real)[.posixPermissions] as? Int
            #expect(mode == 0o600)
        }
    }

    @Test func refusesNonRegularTargetsAndMissingDirectories() throws {
        try withTemporaryDirectory("bk-atomic") { dir in
            #expect(throws: FileWriteError.self) { try writeAtomically("x", to: "/dev/null") }
            #expect(throws: FileWriteError.self) { try writeAtomically("x", to: dir) }
            #expect(throws: FileWriteError.self) { try writeAtomically("x", to: dir + "/no/such/dir/f") }
            let left = try FileManager.default.contentsOfDirectory(atPath: dir)
            #expect(left.isEmpty, "no temporary file left behind")
        }
        do {
            try writeAtomically("x", to: "/dev/null")
        } catch {
            #expect(error.description == "/dev/null: not a regular file; refusing to replace it")
        }
    }
}
