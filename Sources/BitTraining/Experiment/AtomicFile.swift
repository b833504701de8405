import BitKernels
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

/// Writes `data` to `path` atomically through BitKernels' `writeAtomically` (temporary file
/// beside the target, fsync, rename, fsync the directory), its failure as an `ExperimentError`.
///
/// ```swift
/// try writeFileAtomically(Data("hello".utf8), to: "out/REPORT.md")
/// ```
package func writeFileAtomically(_ data: Data, to path: String) throws(ExperimentError) {
    do { try writeAtomically([UInt8](data), to: path) } catch { throw .io(path: error.path, reason: error.reason) }
}

/// A regular file's bytes (a FIFO or directory is an error, not a hang) of at most `limit` bytes
/// (64 MiB unless told: records and sweep points are JSON), its failure as an `ExperimentError`.
func readExperimentFile(_ path: String, limit: Int = 1 << 26) throws(ExperimentError) -> Data {
    do { return Data(try readRegularFile(path, limit: limit)) } catch {
        if error.kind == .missing { throw .missing(path: path) }
        throw .io(path: path, reason: error.reason)
    }
}

/// Creates `path` and its parents if missing.
func makeDirectory(_ path: String) throws(ExperimentError) {
    do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
        throw .io(path: path, reason: "cannot create directory: \(error.localizedDescription)")
    }
}
