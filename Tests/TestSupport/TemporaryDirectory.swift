import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `body` with a fresh, empty directory under the temporary directory (`$TMPDIR`, else
/// /tmp), named `<name>-XXXXXX`, then removes it with everything in it however `body` ends:
/// a test leaves nothing behind.
///
/// ```swift
/// try withTemporaryDirectory("symlink") { dir in
///     try Data([1, 2, 3]).write(to: URL(fileURLWithPath: dir + "/target.f32"))
/// }
/// ```
public func withTemporaryDirectory<T>(_ name: String, _ body: (String) throws -> T) throws -> T {
    let dir = try makeTemporaryDirectory(name)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    return try body(dir)
}

/// `withTemporaryDirectory` for async work.
public func withTemporaryDirectory<T>(_ name: String, _ body: (String) async throws -> T) async throws -> T {
    let dir = try makeTemporaryDirectory(name)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    return try await body(dir)
}

/// A directory for fixtures shared by every test of this process (created on first use),
/// removed when the process exits: `sharedTemporaryDirectory + "/small"`.
public let sharedTemporaryDirectory: String = {
    let dir = temporaryRoot() + "/bitkernels-tests-\(getpid())"
    try? FileManager.default.removeItem(atPath: dir)
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(atPath: temporaryRoot() + "/bitkernels-tests-\(getpid())") }
    return dir
}()

/// A new unique directory `<tmp>/<name>-XXXXXX` (mkdtemp), or the reason it could not be made.
func makeTemporaryDirectory(_ name: String) throws -> String {
    let path = "\(temporaryRoot())/\(name)-XXXXXX"
    var template = Array(path.utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!).map { String(cString: $0) } }
    guard let made else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
    return made
}

func temporaryRoot() -> String {
    var root = FileManager.default.temporaryDirectory.path
    while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
    return root
}
