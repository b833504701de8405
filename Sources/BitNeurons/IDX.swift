import BitKernels
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

/// An IDX file, gunzipped through zlib when it is gzip (plain files pass through): the magic,
/// the big-endian dimensions, then exactly the data bytes they promise. Only a regular file is
/// opened (a FIFO or device is an error, never a hang); data is read as it arrives, so a header
/// promising more than the file holds fails as truncated without allocating what it promises.
func readIDX(_ path: String, magic: Int, dimensions: Int) throws(DatasetError) -> (dims: [Int], data: [UInt8]) {
    let fd: Int32
    do { fd = try openRegularFile(path).descriptor } catch {
        throw error.kind == .missing ? .missingFile(path) : .unreadable(file: path, reason: error.reason)
    }
    guard let f = gzdopen(fd, "rb") else {
        close(fd)
        throw .unreadable(file: path, reason: "cannot open")
    }
    defer { gzclose(f) }
    /// Up to `count` more bytes appended to `out`; false at the end of the data.
    func read(_ count: Int, into out: inout [UInt8]) throws(DatasetError) {
        var chunk = [UInt8](repeating: 0, count: min(count, 1 << 20))
        var left = count
        while left > 0 {
            let n = chunk.withUnsafeMutableBytes { gzread(f, $0.baseAddress, UInt32(min(left, $0.count))) }
            if n < 0 { throw .unreadable(file: path, reason: "corrupt gzip data") }
            if n == 0 { return }
            out.append(contentsOf: chunk[0..<Int(n)])
            left -= Int(n)
        }
    }
    let headerBytes = 4 + 4 * dimensions
    var header: [UInt8] = []
    try read(headerBytes, into: &header)
    guard header.count == headerBytes else { throw .truncated(file: path, expected: headerBytes, actual: header.count) }
    func be32(_ o: Int) -> Int { Int(header[o]) << 24 | Int(header[o + 1]) << 16 | Int(header[o + 2]) << 8 | Int(header[o + 3]) }
    guard be32(0) == magic else { throw .badMagic(file: path, found: UInt32(be32(0)), expected: UInt32(magic)) }
    let dims = (0..<dimensions).map { be32(4 + 4 * $0) }
    var total = 1
    for d in dims {
        let (product, overflow) = total.multipliedReportingOverflow(by: d)
        guard !overflow, product <= maxIDXBytes else {
            throw .unreadable(file: path, reason: "the header promises \(dims.map(String.init).joined(separator: " × ")) data bytes, more than the \(maxIDXBytes) this reader accepts")
        }
        total = product
    }
    var data: [UInt8] = []
    try read(total, into: &data)
    guard data.count == total else { throw .truncated(file: path, expected: total, actual: data.count) }
    return (dims, data)
}

/// The largest IDX payload read (MNIST's training images are 47 MB).
let maxIDXBytes = 1 << 32

/// Labeled 8-bit images in the IDX format of MNIST and Fashion-MNIST (magic 2051 for images,
/// 2049 for labels, big-endian dimensions, then raw bytes), read directly from `.gz` files.
public struct LabeledImages: Sendable {
    /// Images in the set.
    public let count: Int
    /// Pixel rows of each image.
    public let rows: Int
    /// Pixel columns of each image.
    public let columns: Int
    /// count × rows × columns pixels, 0 = background, 255 = ink.
    public let pixels: [UInt8]
    /// The class of each image.
    public let labels: [UInt8]

    /// `rows × columns`.
    public var pixelsPerImage: Int { rows * columns }

    /// The pixels of image `i`, row by row.
    ///
    /// ```swift
    /// let first = images.image(0)   // 784 bytes for MNIST
    /// ```
    public func image(_ i: Int) -> ArraySlice<UInt8> { pixels[(i * pixelsPerImage)..<((i + 1) * pixelsPerImage)] }

    /// Reads an image file and its label file (gzipped or not), the first `limit` images when given.
    ///
    /// ```swift
    /// let test = try LabeledImages(images: "t10k-images-idx3-ubyte.gz", labels: "t10k-labels-idx1-ubyte.gz")
    /// ```
    public init(images imagePath: String, labels labelPath: String, limit: Int? = nil) throws(DatasetError) {
        let (d, img) = try readIDX(imagePath, magic: 2051, dimensions: 3)
        let (dl, lab) = try readIDX(labelPath, magic: 2049, dimensions: 1)
        let n = d[0], r = d[1], c = d[2], nl = dl[0]
        guard r >= 1, c >= 1 else { throw .unreadable(file: imagePath, reason: "images of \(r) × \(c) pixels") }
        guard n == nl else { throw .countMismatch(images: n, labels: nl) }
        let keep = max(0, min(n, limit ?? n))
        count = keep
        rows = r
        columns = c
        pixels = keep == n ? img : Array(img[0..<(keep * r * c)])
        labels = keep == n ? lab : Array(lab[0..<keep])
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
