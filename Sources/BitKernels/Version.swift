#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The version of BitKernels (semantic versioning), also printed by `bitkernels --version`,
/// written into every JSON file the tools write, and installed as the C library's version.
///
/// ```swift
/// print("BitKernels \(bitKernelsVersion)")   // BitKernels 0.2.0
/// ```
public let bitKernelsVersion = "0.2.0"

/// The commit these sources were built from: the first 12 hex digits of the source checkout's
/// `HEAD`, or "unknown" when the sources are not a git checkout any more (a copied binary, a
/// release tarball). Written beside `version` into every JSON file the tools write.
///
/// SwiftPM has no build-time hook that is both portable and cheap, so the commit is read at run
/// time, once, from the git files of the checkout that compiled this file (`#filePath`): `.git`
/// (a folder, or a worktree's `gitdir:` file), `HEAD`, the loose ref it names, else
/// `packed-refs`. No `git` process is started and nothing here can fail a run: any surprise
/// gives "unknown". A binary run after new commits reports the checkout's HEAD, not the build's:
/// rebuild before quoting figures (the README's benchmark rule anyway).
package let bitKernelsCommit: String = {
    let root = sourceCheckout(of: #filePath)
    return gitHead(checkout: root).map { String($0.prefix(12)) } ?? "unknown"
}()

/// The checkout holding `file` (…/Sources/BitKernels/Version.swift → …).
func sourceCheckout(of file: String) -> String {
    var parts = file.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(min(3, parts.count))
    return parts.joined(separator: "/")
}

/// The commit `HEAD` of the git checkout at `root` resolves to (40 hex digits), or nil.
func gitHead(checkout root: String) -> String? {
    var gitDir = root + "/.git"
    if let link = readSmallTextFile(gitDir), link.hasPrefix("gitdir: ") {  // a worktree or submodule
        let target = trimmed(String(link.dropFirst("gitdir: ".count)))
        gitDir = target.hasPrefix("/") ? target : root + "/" + target
    }
    guard let head = readSmallTextFile(gitDir + "/HEAD").map(trimmed) else { return nil }
    if isCommitID(head) { return head }  // a detached HEAD
    guard head.hasPrefix("ref: ") else { return nil }
    let ref = trimmed(String(head.dropFirst("ref: ".count)))
    guard ref.hasPrefix("refs/"), !ref.contains("..") else { return nil }
    var commonDir = gitDir
    if let common = readSmallTextFile(gitDir + "/commondir").map(trimmed), !common.isEmpty {
        commonDir = common.hasPrefix("/") ? common : gitDir + "/" + common
    }
    for dir in [gitDir, commonDir] {
        if let id = readSmallTextFile(dir + "/" + ref).map(trimmed), isCommitID(id) { return id }
    }
    for line in (readSmallTextFile(commonDir + "/packed-refs") ?? "").split(separator: "\n") {
        let fields = line.split(separator: " ")
        if fields.count == 2, fields[1] == ref, isCommitID(String(fields[0])) { return String(fields[0]) }
    }
    return nil
}

func isCommitID(_ s: String) -> Bool {
    (s.utf8.count == 40 || s.utf8.count == 64) && s.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
}

func trimmed(_ s: String) -> String {
    String(s.drop { $0 == " " || $0 == "\n" || $0 == "\r" }.reversed().drop { $0 == " " || $0 == "\n" || $0 == "\r" }.reversed())
}

/// The contents of a regular file of at most 1 MiB as UTF-8, or nil (missing, a folder, too big).
func readSmallTextFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_size <= 1 << 20 else { return nil }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 { if errno == EINTR { continue } else { return nil } }
        if n == 0 { break }
        bytes += chunk[0..<n]
        if bytes.count > 1 << 20 { return nil }
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// The version and commit that every JSON file the tools write carries, as two top-level keys
/// `"version"` and `"commit"` (see `bitKernelsVersion`, `bitKernelsCommit`).
package struct BuildStamp: Codable, Sendable, Equatable {
    package var version: String
    package var commit: String
    package init(version: String, commit: String) {
        self.version = version
        self.commit = commit
    }
    /// This build's.
    package static var current: BuildStamp { BuildStamp(version: bitKernelsVersion, commit: bitKernelsCommit) }
}

/// A JSON document whose top level is an object (a struct with keyed coding), so the build stamp
/// can join its keys. Conform only types that encode a keyed container: an array or a single
/// value at the top level has nowhere to put the stamp.
package protocol JSONDocument: Encodable {}

/// `document`'s own keys plus `"version"` and `"commit"`, in one object.
///
/// ```swift
/// let data = try encoder.encode(Stamped(report))   // {"commit": "…", "version": "0.2.0", …report's keys}
/// ```
package struct Stamped<Document: JSONDocument>: Encodable {
    package var document: Document
    package var stamp: BuildStamp
    package init(_ document: Document, stamp: BuildStamp = .current) {
        self.document = document
        self.stamp = stamp
    }
    package func encode(to encoder: any Encoder) throws {
        try document.encode(to: encoder)
        try stamp.encode(to: encoder)  // the same keyed container: the keys join the document's
    }
}
