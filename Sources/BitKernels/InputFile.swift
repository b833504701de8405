#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why an input file could not be opened or read. The message names the file.
public struct FileReadError: Error, Equatable, CustomStringConvertible, Sendable {
    /// What went wrong, in the categories a caller maps to exit codes.
    public enum Kind: Sendable, Equatable {
        /// The path names nothing.
        case missing
        /// It exists but is not a regular file (directory, FIFO, device, socket).
        case notRegular
        /// Permission denied, I/O error and the like.
        case unreadable
        /// Larger than the reader accepts.
        case tooLarge
    }
    /// The path the caller asked to read.
    public let path: String
    /// Why it could not be read.
    public let kind: Kind
    /// The cause in words, e.g. "No such file or directory".
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

/// Opens `path` read-only, refusing anything but a regular file. The open itself never blocks
/// (a FIFO is opened non-blocking, seen for what it is and closed), so a FIFO, a device or a
/// directory is an error, never a hang. Returns the descriptor (the caller closes it) and the size.
///
/// ```swift
/// let (fd, size) = try openRegularFile("model.gguf")
/// defer { close(fd) }
/// ```
public func openRegularFile(_ path: String) throws(FileReadError) -> (descriptor: Int32, size: Int) {
    func failure(_ kind: FileReadError.Kind? = nil) -> FileReadError {
        let e = errno
        let k = kind ?? (e == ENOENT || e == ENOTDIR ? .missing : .unreadable)
        return FileReadError(path: path, kind: k, reason: k == .missing ? "no such file" : String(cString: strerror(e)))
    }
    guard !path.isEmpty else { throw FileReadError(path: path, kind: .missing, reason: "empty path") }
    let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
    guard fd >= 0 else { throw failure() }
    var info = stat()
    guard fstat(fd, &info) == 0 else {
        let error = failure()
        close(fd)
        throw error
    }
    guard (info.st_mode & S_IFMT) == S_IFREG else {
        close(fd)
        throw FileReadError(path: path, kind: .notRegular, reason: "not a regular file (\(fileTypeName(info.st_mode)))")
    }
    // Back to ordinary blocking reads (a no-op for regular files, but explicit).
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
    return (fd, Int(info.st_size))
}

/// The whole content of a regular file of at most `limit` bytes (see `openRegularFile`).
///
/// ```swift
/// let json = try readRegularFile("config.json", limit: 1 << 24)
/// ```
public func readRegularFile(_ path: String, limit: Int) throws(FileReadError) -> [UInt8] {
    let (fd, size) = try openRegularFile(path)
    defer { close(fd) }
    guard size <= limit else {
        throw FileReadError(path: path, kind: .tooLarge, reason: "\(size) bytes, more than the \(limit) this reader accepts")
    }
    var out = [UInt8](repeating: 0, count: size)
    var done = 0
    while done < size {
        let n = out.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, size - done) }
        if n < 0 && errno == EINTR { continue }
        guard n >= 0 else { throw FileReadError(path: path, kind: .unreadable, reason: "read: \(String(cString: strerror(errno)))") }
        if n == 0 { break }  // shrank while reading
        done += n
    }
    return done == size ? out : Array(out[0..<done])
}

/// The regular-file check alone, for readers that open the file themselves (hwloc, zlib).
///
/// ```swift
/// try requireRegularFile("topology.xml")
/// ```
public func requireRegularFile(_ path: String) throws(FileReadError) {
    let (fd, _) = try openRegularFile(path)
    close(fd)
}

private func fileTypeName(_ mode: mode_t) -> String {
    switch mode & S_IFMT {
    case S_IFDIR: "a directory"
    case S_IFIFO: "a FIFO"
    case S_IFCHR: "a character device"
    case S_IFBLK: "a block device"
    case S_IFSOCK: "a socket"
    default: "not a regular file"
    }
}
