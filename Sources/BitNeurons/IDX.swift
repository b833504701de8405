import CZlib
import Foundation

/// Why a dataset could not be read.
public enum DatasetError: Error, Equatable, CustomStringConvertible {
    case missingFile(String)
    case badMagic(file: String, found: UInt32, expected: UInt32)
    case truncated(file: String, expected: Int, actual: Int)
    case countMismatch(images: Int, labels: Int)
    case unreadable(file: String, reason: String)

    public var description: String {
        switch self {
        case .missingFile(let f): "no such file: \(f)"
        case let .badMagic(f, found, expected): "\(f): magic number \(found), expected \(expected) — not an IDX file of this kind"
        case let .truncated(f, expected, actual): "\(f) is truncated: the header promises \(expected) data bytes, the file has \(actual)"
        case let .countMismatch(images, labels): "\(images) images but \(labels) labels"
        case let .unreadable(f, reason): "\(f): \(reason)"
        }
    }
}

/// The whole content of a file, gunzipped through zlib when it is gzip (plain files pass through).
func readMaybeGzip(_ path: String) throws(DatasetError) -> [UInt8] {
    guard FileManager.default.fileExists(atPath: path) else { throw .missingFile(path) }
    guard let f = gzopen(path, "rb") else { throw .unreadable(file: path, reason: "cannot open") }
    defer { gzclose(f) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let n = chunk.withUnsafeMutableBytes { gzread(f, $0.baseAddress, UInt32($0.count)) }
        if n < 0 { throw .unreadable(file: path, reason: "corrupt gzip data") }
        if n == 0 { break }
        out.append(contentsOf: chunk[0..<Int(n)])
    }
    return out
}

/// Labeled 8-bit images in the IDX format of MNIST and Fashion-MNIST (magic 2051 for images,
/// 2049 for labels, big-endian dimensions, then raw bytes), read directly from `.gz` files.
public struct LabeledImages: Sendable {
    public let count: Int
    public let rows: Int
    public let columns: Int
    /// count × rows × columns pixels, 0 = background, 255 = ink.
    public let pixels: [UInt8]
    public let labels: [UInt8]

    public var pixelsPerImage: Int { rows * columns }

    public func image(_ i: Int) -> ArraySlice<UInt8> { pixels[(i * pixelsPerImage)..<((i + 1) * pixelsPerImage)] }

    public init(images imagePath: String, labels labelPath: String, limit: Int? = nil) throws(DatasetError) {
        let img = try readMaybeGzip(imagePath), lab = try readMaybeGzip(labelPath)
        func be32(_ b: [UInt8], _ o: Int) -> Int { Int(b[o]) << 24 | Int(b[o + 1]) << 16 | Int(b[o + 2]) << 8 | Int(b[o + 3]) }
        guard img.count >= 16 else { throw .truncated(file: imagePath, expected: 16, actual: img.count) }
        guard be32(img, 0) == 2051 else { throw .badMagic(file: imagePath, found: UInt32(be32(img, 0)), expected: 2051) }
        guard lab.count >= 8 else { throw .truncated(file: labelPath, expected: 8, actual: lab.count) }
        guard be32(lab, 0) == 2049 else { throw .badMagic(file: labelPath, found: UInt32(be32(lab, 0)), expected: 2049) }
        let n = be32(img, 4), r = be32(img, 8), c = be32(img, 12), nl = be32(lab, 4)
        let (perImage, o1) = r.multipliedReportingOverflow(by: c)
        let (total, o2) = n.multipliedReportingOverflow(by: perImage)
        guard !o1, !o2, img.count - 16 >= total else {
            throw .truncated(file: imagePath, expected: o1 || o2 ? Int.max : total, actual: img.count - 16)
        }
        guard lab.count - 8 >= nl else { throw .truncated(file: labelPath, expected: nl, actual: lab.count - 8) }
        guard n == nl else { throw .countMismatch(images: n, labels: nl) }
        let keep = min(n, limit ?? n)
        count = keep
        rows = r
        columns = c
        pixels = Array(img[16..<(16 + keep * r * c)])
        labels = Array(lab[8..<(8 + keep)])
    }

    /// `train-images-idx3-ubyte.gz` etc. in `directory` (split "train" or "t10k").
    public init(directory: String, split: String, limit: Int? = nil) throws(DatasetError) {
        func file(_ kind: String) -> String {
            let base = "\(directory)/\(split)-\(kind)"
            return FileManager.default.fileExists(atPath: base + ".gz") ? base + ".gz" : base
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .missingFile("\(directory) (a folder with \(split)-images-idx3-ubyte.gz and \(split)-labels-idx1-ubyte.gz)")
        }
        try self.init(images: file("images-idx3-ubyte"), labels: file("labels-idx1-ubyte"), limit: limit)
    }
}
