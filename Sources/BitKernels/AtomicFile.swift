#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why an output file could not be written. The message names the file and the step that failed.
public struct FileWriteError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The path the caller asked to write.
    public let path: String
    /// What failed, e.g. "not a regular file" or "rename: No space left on device".
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

/// Writes `bytes` to `path` so that a reader — or a crash, a kill, a full disk — sees either the
/// old complete file or the new complete one, never a mixture.
///
/// The way SQLite commits: a temporary file beside the target, written and `fsync`ed, renamed over
/// the target, then the directory `fsync`ed so the rename itself is durable. A symbolic link is
/// followed (its target is replaced, the link stays); devices, FIFOs and directories are refused;
/// an existing file keeps its permission bits; the temporary file is removed on every error path.
///
/// ```swift
/// try writeAtomically(Array("{\"ok\":true}\n".utf8), to: "out/result.json")
/// ```
public func writeAtomically(_ bytes: [UInt8], to path: String) throws(FileWriteError) {
    func failure(_ step: String) -> FileWriteError {
        FileWriteError(path: path, reason: "\(step): \(String(cString: strerror(errno)))")
    }
    guard !path.isEmpty else { throw FileWriteError(path: path, reason: "empty path") }

    // Resolve a symlink chain to the file it names, so the link survives and its target changes.
    var target = path
    var hops = 0
    var info = stat()
    while lstat(target, &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK {
        hops += 1
        guard hops <= 32 else { throw FileWriteError(path: path, reason: "too many symbolic links") }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(target, &buffer, Int(PATH_MAX))
        guard n > 0 else { throw failure("readlink") }
        let link = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        target = link.hasPrefix("/") ? link : directoryOf(target) + "/" + link
    }
    var mode: mode_t = 0o644
    if lstat(target, &info) == 0 {
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw FileWriteError(path: path, reason: "not a regular file; refusing to replace it")
        }
        mode = info.st_mode & 0o7777
    } else if errno != ENOENT {
        throw failure("stat")
    }

    let directory = directoryOf(target)
    let base = target.split(separator: "/").last.map(String.init) ?? target
    var template = Array("\(directory)/.\(base).tmp-XXXXXX".utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    guard fd >= 0 else { throw failure("create temporary file in \(directory)") }
    let temporary = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    var done = false
    defer {
        if !done { unlink(temporary) }
    }

    var written = 0
    while written < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
        if n < 0 {
            if errno == EINTR { continue }
            let error = failure("write")
            close(fd)
            throw error
        }
        written += n
    }
    if fchmod(fd, mode) != 0 || fsync(fd) != 0 {
        let error = failure("fsync")
        close(fd)
        throw error
    }
    guard close(fd) == 0 else { throw failure("close") }
    guard rename(temporary, target) == 0 else { throw failure("rename") }
    done = true
    // Make the rename durable; a directory that cannot be opened for fsync (rare) is not an error.
    let dfd = open(directory, O_RDONLY | O_DIRECTORY)
    if dfd >= 0 {
        _ = fsync(dfd)
        close(dfd)
    }
}

/// Writes UTF-8 `text` atomically, as the byte version does.
///
/// ```swift
/// try writeAtomically("step,loss\n1,4.17\n", to: "run/log.csv")
/// ```
public func writeAtomically(_ text: String, to path: String) throws(FileWriteError) {
    try writeAtomically(Array(text.utf8), to: path)
}

private func directoryOf(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}
