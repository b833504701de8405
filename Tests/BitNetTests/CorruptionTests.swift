import BitNet
import Foundation
import TestSupport
import Testing

/// Seeded corruptions of a file: truncations, byte flips (mostly in the header, where sizes and
/// counts live), and boundary integers written into the fields that hold lengths, counts and
/// offsets (binary formats) or in place of the numbers of a text format.
struct Corruptor {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next(_ bound: Int) -> Int {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int(truncatingIfNeeded: state >> 33) % max(bound, 1)
    }

    static let boundaries: [UInt64] = [0, 1, 2, 31, 33, 255, 0x7fff, 0xffff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 1 << 32,
                                       1 << 40, 1 << 62, UInt64(Int64.max), 1 << 63, .max - 1, .max]
    static let textBoundaries = ["-1", "0", "1e308", "-1e308", "4294967296", "9223372036854775807", "9223372036854775808",
                                 "18446744073709551615", "-9223372036854775809", "null", "\"x\"", "[]", "{}", "0.5", "1e-320",
                                 String(repeating: "[", count: 600), String(repeating: "9", count: 400)]

    /// A corrupted copy of a binary file; `fields` lists its integer fields, `header` its length.
    mutating func binary(_ original: [UInt8], header: Int, fields: [(offset: Int, size: Int)]) -> [UInt8] {
        var b = original
        switch next(4) {
        case 0: return Array(b.prefix(next(2) == 0 ? next(header) : next(b.count)))
        case 1, 2:
            let span = next(3) == 0 ? b.count : min(header, b.count)
            for _ in 0...next(4) { b[next(span)] ^= UInt8(1 << next(8)) | UInt8(truncatingIfNeeded: next(2) * next(256)) }
        default:
            for _ in 0...next(2) {
                guard let f = fields.isEmpty ? nil : fields[next(fields.count)] else { break }
                let v = Self.boundaries[next(Self.boundaries.count)]
                for i in 0..<f.size where f.offset + i < b.count { b[f.offset + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
            }
        }
        return b
    }

    /// A corrupted copy of a text file: a number replaced by a boundary value, a truncation, or flips.
    mutating func text(_ original: [UInt8]) -> [UInt8] {
        var b = original
        switch next(4) {
        case 0: return Array(b.prefix(next(b.count)))
        case 1:
            for _ in 0...next(4) { b[next(b.count)] = UInt8(truncatingIfNeeded: next(256)) }
        default:
            for _ in 0...next(3) {
                let digits = b.indices.filter { (48...57).contains(b[$0]) && ($0 == 0 || !(48...57).contains(b[$0 - 1])) }
                guard let start = digits.isEmpty ? nil : digits[next(digits.count)] else { break }
                var end = start
                while end < b.count, (48...57).contains(b[end]) || b[end] == 46 { end += 1 }
                b.replaceSubrange(start..<end, with: Array(Self.textBoundaries[next(Self.textBoundaries.count)].utf8))
            }
        }
        return b
    }
}

/// Issue 15's bounded corruption run over every model and tokenizer format: each case must be an
/// error or a valid load (the process surviving is the check), and most must be errors.
@Suite struct CorruptionTests {
    static let fixtures = Fixture.directory + "/.."
    let sample = "Hello, world! It's 2024:\n  aaaa1234 <|endoftext|> ünïcödé"

    func run(_ name: String, cases: Int, seed: UInt64, _ body: (inout Corruptor, String) throws -> Bool) throws -> (errors: Int, loads: Int) {
        return try withTemporaryDirectory("bitnet-corrupt-\(name)") { dir in
            var c = Corruptor(seed: seed)
            var errors = 0, loads = 0
            for _ in 0..<cases {
                if try body(&c, dir) { loads += 1 } else { errors += 1 }
            }
            print("corruption \(name): \(cases) cases, \(errors) errors, \(loads) valid loads")
            return (errors, loads)
        }
    }

    /// A model that loads runs: two tokens give finite logits (what load-time validation promises).
    func forwardIsFinite(_ m: BitNetModel) throws {
        let logits = try m.forward([0, m.config.vocabularySize - 1], cache: m.makeCache(capacity: 2))
        let finite = logits.allSatisfy { $0.isFinite }
        #expect(finite)
    }

    func loads(_ load: () throws -> Void) -> Bool {
        do { try load(); return true } catch { return false }
    }

    @Test(arguments: ["bitnet-tiny/model.gguf", "bitnet-tiny-i2s.gguf"])
    func gguf(_ file: String) throws {
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/" + file)))
        let layout = GGUFBuilder(parsing: original)
        let header = original.count - layout.data.count
        let r = try run("gguf-\(file.count)", cases: 80, seed: UInt64(file.count)) { c, dir in
            let path = dir + "/m.gguf"
            try write(c.binary(original, header: header, fields: layout.integerFields), to: path)
            let model = loads { try forwardIsFinite(BitNetModel.load(path: path)) }
            let tokenizer = loads { if let t = try Tokenizer.load(modelPath: path) { _ = try t.encode(sample) } }
            return model && tokenizer
        }
        #expect(r.errors > 40)
    }

    @Test func safetensorsAndConfig() throws {
        let st = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixture.directory + "/model.safetensors")))
        let config = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixture.directory + "/config.json")))
        let headerLength = Int(st[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        let r = try run("safetensors", cases: 120, seed: 5) { c, dir in
            if c.next(3) == 0 {  // config.json
                try write(c.text(config), to: dir + "/config.json")
                try write(st, to: dir + "/model.safetensors")
            } else {
                try write(config, to: dir + "/config.json")
                var bytes = st
                if c.next(2) == 0 {  // numbers of the JSON header, keeping its length field right
                    let header = c.text(Array(st[8..<(8 + headerLength)]))
                    bytes = withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) } + header + st[(8 + headerLength)...]
                } else {
                    bytes = c.binary(st, header: 8 + headerLength, fields: [(0, 8)])
                }
                try write(bytes, to: dir + "/model.safetensors")
            }
            return loads { try forwardIsFinite(BitNetModel.load(path: dir)) }
        }
        #expect(r.errors > 60)
    }

    @Test func tokenizerJSON() throws {
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/tokenizer/tokenizer.json")))
        let r = try run("tokenizer.json", cases: 150, seed: 7) { c, dir in
            try write(c.text(original), to: dir + "/tokenizer.json")
            return loads { _ = try Tokenizer(tokenizerJSON: dir + "/tokenizer.json").encode(sample) }
        }
        #expect(r.errors > 50)
    }

    @Test func tiktoken() throws {
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.fixtures + "/tokenizer/cl100k_subset.tiktoken")))
        let r = try run("tiktoken", cases: 150, seed: 9) { c, dir in
            try write(c.text(original), to: dir + "/ranks.tiktoken")
            return loads { _ = try Tokenizer(tiktokenFile: dir + "/ranks.tiktoken").encode(sample) }
        }
        #expect(r.errors > 50)
    }
}
