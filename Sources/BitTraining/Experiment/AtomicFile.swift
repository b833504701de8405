import Foundation

/// A failure of the experiment's files, as one line naming the file.
public enum ExperimentError: Error, CustomStringConvertible, Equatable {
    /// An input that does not exist (sysexits 66).
    case missing(path: String)
    /// Reading, writing or listing failed (sysexits 74).
    case io(path: String, reason: String)
    /// A file exists but does not hold what it should (sysexits 65).
    case badData(path: String, reason: String)

    public var description: String {
        switch self {
        case .missing(let path): return "\(path): no such file or directory"
        case .io(let path, let reason): return "\(path): \(reason)"
        case .badData(let path, let reason): return "\(path): \(reason)"
        }
    }
}

/// Writes `data` to `path` as SQLite commits: a temporary file beside the target, fsync, rename
/// over the target, fsync the directory. A symlink at `path` is followed (its target is
/// replaced); a device node or directory there is refused.
///
/// ```swift
/// try writeFileAtomically(Data("hello".utf8), to: "out/REPORT.md")
/// ```
public func writeFileAtomically(_ data: Data, to path: String) throws(ExperimentError) {
    var target = path
    if let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: path) {
        target = resolved.hasPrefix("/") ? resolved : (path as NSString).deletingLastPathComponent + "/" + resolved
    }
    var st = stat()
    if stat(target, &st) == 0, (st.st_mode & S_IFMT) != S_IFREG {
        throw .io(path: path, reason: "not a regular file; refusing to replace it")
    }
    let directory = (target as NSString).deletingLastPathComponent.isEmpty ? "." : (target as NSString).deletingLastPathComponent
    let temporary = directory + "/." + (target as NSString).lastPathComponent + ".tmp-\(getpid())"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw .io(path: temporary, reason: String(cString: strerror(errno))) }
    var failure: String? = nil
    data.withUnsafeBytes { raw in
        var offset = 0
        while offset < raw.count {
            let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                failure = String(cString: strerror(errno))
                return
            }
            offset += n
        }
    }
    if failure == nil, fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
    close(fd)
    if let failure {
        unlink(temporary)
        throw .io(path: temporary, reason: failure)
    }
    guard rename(temporary, target) == 0 else {
        let reason = String(cString: strerror(errno))
        unlink(temporary)
        throw .io(path: target, reason: reason)
    }
    let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if dfd >= 0 {
        _ = fsync(dfd)
        close(dfd)
    }
}

/// Creates `path` and its parents if missing.
func makeDirectory(_ path: String) throws(ExperimentError) {
    do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
        throw .io(path: path, reason: "cannot create directory: \(error.localizedDescription)")
    }
}
