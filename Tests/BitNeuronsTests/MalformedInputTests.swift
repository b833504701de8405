import BitKernels
import BitNeurons
import Foundation
import TestSupport
import Testing

/// CRC-32 (zlib's polynomial), to re-seal a population file after changing a field.
func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    var crc: UInt32 = 0xffff_ffff
    for b in bytes {
        crc ^= UInt32(b)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xedb8_8320 : crc >> 1 }
    }
    return ~crc
}

/// A saved population with one field changed and a valid checksum.
func resealed(_ original: [UInt8], _ change: (inout [UInt8]) -> Void) -> [UInt8] {
    var b = original
    change(&b)
    let crc = crc32(b[0..<(b.count - 4)])
    b.replaceSubrange((b.count - 4)..., with: withUnsafeBytes(of: crc.littleEndian) { Array($0) })
    return b
}

func putLE<T: FixedWidthInteger>(_ v: T, into b: inout [UInt8], at o: Int) {
    b.replaceSubrange(o..<(o + MemoryLayout<T>.size), with: withUnsafeBytes(of: v.littleEndian) { Array($0) })
}

/// Issue 15's classes for saved populations and IDX files: each builds the bad file and expects
/// the specific error.
@Suite struct MalformedNeuronFileTests {
    static func population() -> BitPopulation {
        let (set, _) = clusters(k: 3, perCluster: 4, width: 100)
        var p = BitPopulation(width: 100, configuration: .init(neurons: 3, settleAfter: 5), seedInputs: set.inputs)
        for x in set.inputs { p.learn(x) }
        return p
    }

    /// Class 8: counters ≥ 2^63 or near overflow, rates outside 0...1, an absurd width: errors,
    /// though the checksum is valid.
    @Test func impossibleFieldsBehindAValidChecksum() throws {
        let bytes = Self.population().serialized()
        let jsonLength = Int(bytes[28]) | Int(bytes[29]) << 8
        let wins = 32 + jsonLength
        let cases: [(String, (inout [UInt8]) -> Void)] = [
            ("9223372036854775808 steps learned (at most 2^62)", { putLE(UInt64(1) << 63, into: &$0, at: 20) }),
            ("9223372036854775807 steps learned (at most 2^62)", { putLE(UInt64(Int64.max), into: &$0, at: 20) }),
            ("neuron 1 has 18446744073709551615 wins (at most 2^62)", { putLE(UInt64.max, into: &$0, at: wins + 8) }),
            ("width 0 bits is outside 1...16777216", { putLE(UInt32(0), into: &$0, at: 12) }),
        ]
        for (message, change) in cases {
            #expect(throws: PopulationFileError.corrupt(message)) { try BitPopulation(serialized: resealed(bytes, change)) }
        }
        // Width 2^32 − 1 with no neurons: a 200-byte file that would grow to gigabytes on learn.
        let json = Array(String(decoding: bytes[32..<wins], as: UTF8.self).utf8)
        var empty = Array(bytes[0..<32]) + json + [0, 0, 0, 0]
        putLE(UInt32.max, into: &empty, at: 12)
        putLE(UInt32(0), into: &empty, at: 16)
        #expect(throws: PopulationFileError.corrupt("width 4294967295 bits is outside 1...16777216")) {
            try BitPopulation(serialized: resealed(empty) { _ in })
        }
        putLE(UInt32(100), into: &empty, at: 12)
        #expect(throws: PopulationFileError.corrupt("it holds no neurons")) { try BitPopulation(serialized: resealed(empty) { _ in }) }

        // Rates in the configuration JSON (same length, so the layout stays).
        let text = String(decoding: json, as: UTF8.self)
        #expect(text.contains("\"learningRate\":0.1"))
        for (original, replacement, message) in [("\"learningRate\":0.1", "\"learningRate\":5", "learningRate 5.0 is outside 0...1"),
                                                 ("\"learningRate\":0.1", "\"learningRate\":-1.0", "learningRate -1.0 is outside 0...1"),
                                                 ("\"settledRate\":0.02", "\"settledRate\":2", "settledRate 2.0 is outside 0...1"),
                                                 ("\"capacity\":1000", "\"capacity\":-1", "capacity -1 is outside 0...4294967296")] {
            #expect(text.contains(original), "\(text)")
            let edited = Array(text.replacingOccurrences(of: original, with: replacement).utf8)
            let file = resealed(Array(bytes[0..<32]) + edited + bytes[wins...]) { putLE(UInt32(edited.count), into: &$0, at: 28) }
            #expect(throws: PopulationFileError.corrupt(message)) { try BitPopulation(serialized: file) }
        }
        // The valid file still loads, learns, and its counters are what was saved.
        var q = try BitPopulation(serialized: bytes)
        q.learn(BitVector(width: 100))
        #expect(q.steps == Self.population().steps + 1)
    }

    /// Class 10 (file side): saving is atomic, deterministic and goes through symlinks.
    @Test func savingIsAtomicAndDeterministic() throws {
        try withTemporaryDirectory("neurons-save") { dir in
            let p = Self.population()
            #expect(p.serialized() == Self.population().serialized())
            try p.save(to: dir + "/a.bkn")
            try FileManager.default.createSymbolicLink(atPath: dir + "/link.bkn", withDestinationPath: dir + "/a.bkn")
            try p.save(to: dir + "/link.bkn")
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dir + "/link.bkn") == dir + "/a.bkn")
            #expect(try [UInt8](Foundation.Data(contentsOf: URL(fileURLWithPath: dir + "/a.bkn"))) == p.serialized())
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["a.bkn", "link.bkn"])  // no temporary left
            #expect(throws: PopulationFileError.self) { try p.save(to: "/dev/null") }
            let q = try BitPopulation(contentsOf: dir + "/link.bkn")
            #expect(q.neurons == p.neurons && q.wins == p.wins)
        }
    }

    /// Class 9: FIFOs, devices and directories are refused, never waited on.
    @Test func nonRegularFilesAreRefusedWithoutBlocking() throws {
        try withTemporaryDirectory("neurons-fifo") { dir in
            let fifo = dir + "/fifo"
            #expect(mkfifo(fifo, 0o600) == 0)
            #expect(throws: PopulationFileError.unreadable("cannot read \(fifo): not a regular file (a FIFO)")) { try BitPopulation(contentsOf: fifo) }
            #expect(throws: PopulationFileError.unreadable("cannot read \(dir): not a regular file (a directory)")) { try BitPopulation(contentsOf: dir) }
            let labels = Data.fixtures + "/mnist/t10k-labels-idx1-ubyte.gz"
            #expect(throws: DatasetError.unreadable(file: fifo, reason: "not a regular file (a FIFO)")) { try LabeledImages(images: fifo, labels: labels) }
            #expect(throws: DatasetError.unreadable(file: "/dev/zero", reason: "not a regular file (a character device)")) {
                try LabeledImages(images: "/dev/zero", labels: labels)
            }
            #expect(throws: PlacementError.topology("\(fifo): not a regular file (a FIFO)")) { try HardwareTopology(xmlFile: fifo) }
        }
    }

    /// Class 7 (file side): IDX headers promising more than the file, or than any dataset, are
    /// errors before anything that size is allocated; raw and gzip files read alike.
    @Test func idxSizesAreCheckedBeforeAllocating() throws {
        try withTemporaryDirectory("neurons-idx") { dir in
            let labels = Data.fixtures + "/mnist/t10k-labels-idx1-ubyte.gz"
            func header(_ n: UInt32, _ r: UInt32, _ c: UInt32) -> [UInt8] {
                [2051, n, r, c].flatMap { v in withUnsafeBytes(of: UInt32(v).bigEndian) { Array($0) } }
            }
            let path = dir + "/images"
            try Foundation.Data(header(300, 0xffff_ffff, 0xffff_ffff) + [1, 2, 3]).write(to: URL(fileURLWithPath: path))
            #expect(throws: DatasetError.unreadable(file: path, reason: "the header promises 300 × 4294967295 × 4294967295 data bytes, more than the 4294967296 this reader accepts")) {
                try LabeledImages(images: path, labels: labels)
            }
            try Foundation.Data(header(300, 28, 28) + [1, 2, 3]).write(to: URL(fileURLWithPath: path))
            #expect(throws: DatasetError.truncated(file: path, expected: 300 * 784, actual: 3)) { try LabeledImages(images: path, labels: labels) }
            try Foundation.Data(header(300, 0, 28)).write(to: URL(fileURLWithPath: path))
            #expect(throws: DatasetError.unreadable(file: path, reason: "images of 0 × 28 pixels")) { try LabeledImages(images: path, labels: labels) }
            try Foundation.Data(header(1, 2, 2).prefix(10)).write(to: URL(fileURLWithPath: path))
            #expect(throws: DatasetError.truncated(file: path, expected: 16, actual: 10)) { try LabeledImages(images: path, labels: labels) }
            // The raw (gunzipped) fixture reads as the .gz one does.
            let raw = dir + "/raw-images"
            try Foundation.Data(LabeledImagesRaw.gunzip(Data.fixtures + "/mnist/t10k-images-idx3-ubyte.gz")).write(to: URL(fileURLWithPath: raw))
            let a = try LabeledImages(images: raw, labels: labels)
            let b = try LabeledImages(images: Data.fixtures + "/mnist/t10k-images-idx3-ubyte.gz", labels: labels)
            #expect(a.pixels == b.pixels && a.count == 300)
        }
    }
}

/// Issue 15's bounded corruption run over IDX (gzip and raw) and saved populations: truncations,
/// byte flips, boundary integers in the count and size fields; each case an error or a valid load
/// (the process surviving is the check), most of them errors.
@Suite struct NeuronFileCorruptionTests {
    struct Rng {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33) % max(bound, 1)
        }
    }
    static let boundaries: [UInt64] = [0, 1, 2, 255, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 1 << 32, 1 << 62, UInt64(Int64.max),
                                       1 << 63, .max]

    /// Truncation, flips (mostly within `header` bytes), or boundary values in `fields`
    /// (offset, size, big-endian).
    func corrupt(_ original: [UInt8], _ r: inout Rng, header: Int, fields: [(Int, Int, Bool)]) -> [UInt8] {
        var b = original
        switch r.next(3) {
        case 0: return Array(b.prefix(r.next(2) == 0 ? r.next(header) : r.next(b.count)))
        case 1:
            let span = r.next(3) == 0 ? b.count : min(header, b.count)
            for _ in 0...r.next(4) { b[r.next(span)] ^= UInt8(1 << r.next(8)) }
        default:
            let (offset, size, bigEndian) = fields[r.next(fields.count)]
            let v = Self.boundaries[r.next(Self.boundaries.count)]
            for i in 0..<size where offset + i < b.count {
                b[offset + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(bigEndian ? size - 1 - i : i)))
            }
        }
        return b
    }

    @Test func idxFiles() throws {
        try withTemporaryDirectory("neurons-corrupt-idx") { dir in
            let mnist = Data.fixtures + "/mnist"
            let images = try [UInt8](Foundation.Data(contentsOf: URL(fileURLWithPath: mnist + "/t10k-images-idx3-ubyte.gz")))
            let labels = try [UInt8](Foundation.Data(contentsOf: URL(fileURLWithPath: mnist + "/t10k-labels-idx1-ubyte.gz")))
            let rawImages = try LabeledImagesRaw.gunzip(mnist + "/t10k-images-idx3-ubyte.gz")
            let rawLabels = try LabeledImagesRaw.gunzip(mnist + "/t10k-labels-idx1-ubyte.gz")
            let imageFields = [(0, 4, true), (4, 4, true), (8, 4, true), (12, 4, true)], labelFields = [(0, 4, true), (4, 4, true)]
            var r = Rng(state: 21)
            var errors = 0, loads = 0
            for i in 0..<240 {
                // Alternate: raw images, raw labels, gzip images, gzip labels (compressed bytes corrupted).
                let (img, lab): ([UInt8], [UInt8])
                switch i % 4 {
                case 0: (img, lab) = (corrupt(rawImages, &r, header: 64, fields: imageFields), rawLabels)
                case 1: (img, lab) = (rawImages, corrupt(rawLabels, &r, header: 32, fields: labelFields))
                case 2: (img, lab) = (corrupt(images, &r, header: 200, fields: [(0, 4, false)]), labels)
                default: (img, lab) = (images, corrupt(labels, &r, header: 64, fields: [(0, 4, false)]))
                }
                try Foundation.Data(img).write(to: URL(fileURLWithPath: dir + "/images"))
                try Foundation.Data(lab).write(to: URL(fileURLWithPath: dir + "/labels"))
                do { _ = try LabeledImages(images: dir + "/images", labels: dir + "/labels"); loads += 1 } catch { errors += 1 }
            }
            print("corruption IDX: 240 cases, \(errors) errors, \(loads) valid loads")
            #expect(errors > 100)
        }
    }

    @Test func populationFiles() throws {
        let original = MalformedNeuronFileTests.population().serialized()
        let jsonLength = Int(original[28]) | Int(original[29]) << 8
        let fields = [(8, 4, false), (12, 4, false), (16, 4, false), (20, 8, false), (28, 4, false)]
            + (0..<3).map { (32 + jsonLength + 8 * $0, 8, false) }
        var r = Rng(state: 23)
        var errors = 0, loads = 0
        for i in 0..<600 {
            var b = corrupt(original, &r, header: 32 + jsonLength + 24, fields: fields)
            if i % 2 == 0, b.count >= 36 {  // re-seal, so the checks behind the checksum are reached
                b = resealed(b) { _ in }
            }
            do {
                var p = try BitPopulation(serialized: b)
                p.learn(BitVector(width: p.width))
                _ = p.novelty(BitVector(width: p.width))
                loads += 1
            } catch { errors += 1 }
        }
        print("corruption population: 600 cases, \(errors) errors, \(loads) valid loads")
        #expect(errors > 300)
    }
}
