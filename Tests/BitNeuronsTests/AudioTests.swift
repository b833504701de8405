import BitKernels
import BitNeurons
import Foundation
import TestSupport
import Testing

/// A WAV file's bytes: RIFF header, a fmt chunk and a data chunk, little-endian.
func wavBytes(rate: Int = 8000, channels: Int = 1, bits: Int = 16, format: Int = 1, samples: [Int16],
              truncateBy: Int = 0, extraChunk: Bool = false) -> [UInt8] {
    func le32(_ v: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    func le16(_ v: Int) -> [UInt8] { (0..<2).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    let data = samples.flatMap { le16(Int(UInt16(bitPattern: $0))) }
    var fmt = le16(format) + le16(channels) + le32(rate) + le32(rate * channels * bits / 8)
    fmt += le16(channels * bits / 8) + le16(bits)
    var body = Array("WAVE".utf8) + Array("fmt ".utf8) + le32(fmt.count) + fmt
    if extraChunk { body += Array("LIST".utf8) + le32(3) + [1, 2, 3, 0] }  // odd size: padded
    body += Array("data".utf8) + le32(data.count) + data
    let file = Array("RIFF".utf8) + le32(body.count) + body
    return Array(file.dropLast(truncateBy))
}

@Suite struct AudioTests {
    @Test func readsMono16BitPCM() throws {
        let a = try PCMAudio(wavBytes: wavBytes(samples: [0, 16384, -32768, 32767], extraChunk: true), name: "t.wav")
        #expect(a.sampleRate == 8000)
        #expect(a.samples == [0, 0.5, -1, Float(32767) / 32768])
    }

    @Test func refusesWhatItCannotRead() {
        let cases: [([UInt8], String)] = [
            (Array("not a wav file at all".utf8), "t.wav: not a RIFF/WAVE file"),
            (wavBytes(format: 3, samples: [1, 2]), "t.wav: audio format 3 is not PCM (1)"),
            (wavBytes(channels: 2, samples: [1, 2]), "t.wav: 2 channels; only mono is read"),
            (wavBytes(bits: 8, samples: [1, 2]), "t.wav: 8-bit samples; only 16-bit PCM is read"),
            (wavBytes(samples: [1, 2, 3], truncateBy: 2), "t.wav: chunk 'data' at byte 36 declares 6 bytes, only 4 remain (truncated)"),
        ]
        for (bytes, message) in cases {
            #expect(throws: AudioError.malformed(path: "t.wav", reason: String(message.dropFirst("t.wav: ".count)))) {
                try PCMAudio(wavBytes: bytes, name: "t.wav")
            }
        }
        #expect(throws: AudioError.self) { try PCMAudio(wavFile: "/dev/null") }
        #expect(throws: AudioError.self) { try PCMAudio(wavFile: "/no/such/file.wav") }
    }

    @Test func spokenDigitFolderSplitsAndRefusesOtherRates() throws {
        try withTemporaryDirectory("bk-fsdd") { dir in
            for (name, rate) in [("3_ann_0.wav", 8000), ("3_ann_7.wav", 8000), ("5_bob_2.wav", 8000), ("readme.txt", 0)] {
                let bytes = rate == 0 ? Array("x".utf8) : wavBytes(rate: rate, samples: [1, 2, 3])
                #expect(FileManager.default.createFile(atPath: dir + "/" + name, contents: Foundation.Data(bytes)))
            }
            let set = try SpokenDigits(directory: dir)
            #expect(set.speakers == ["ann", "bob"])
            #expect(set.publishedSplit().test.map(\.index) == [0, 2])
            #expect(set.split(leavingOut: "bob").train.map(\.digit) == [3, 3])
            #expect(FileManager.default.createFile(atPath: dir + "/1_cy_0.wav", contents: Foundation.Data(wavBytes(rate: 16000, samples: [1]))))
            #expect(throws: AudioError.malformed(path: dir + "/1_cy_0.wav", reason: "sample rate 16000 Hz, expected 8000 (no resampling)")) {
                try SpokenDigits(directory: dir)
            }
        }
    }

    @Test func logMelPeaksInTheToneBand() {
        let mel = LogMelFeatures(sampleRate: 8000, bands: 28, segments: 4)
        func tone(_ hz: Double) -> PCMAudio {
            PCMAudio(sampleRate: 8000, samples: (0..<4000).map { Float(0.5 * sin(2 * Double.pi * hz * Double($0) / 8000)) })
        }
        let low = mel.features(of: tone(300)), high = mel.features(of: tone(3000))
        #expect(low.count == 28 * 4)
        let lowBand = (0..<28).max { low[$0] < low[$1] }!, highBand = (0..<28).max { high[$0] < high[$1] }!
        #expect(lowBand < 10 && highBand > 20, "300 Hz peaks in band \(lowBand), 3 kHz in band \(highBand)")
        // Every segment of a steady tone is the same spectrum.
        #expect(abs(low[lowBand] - low[2 * 28 + lowBand]) < 0.05)
        // A clip shorter than one frame still gives a full-size, finite vector.
        let short = mel.features(of: PCMAudio(sampleRate: 8000, samples: [0.1, -0.1, 0.2]))
        #expect(short.count == 28 * 4 && short.allSatisfy(\.isFinite))
    }

    @Test func kMeansSeparatesTwoBlobs() {
        var points: [[Float]] = [], labels: [Int] = []
        for i in 0..<40 {
            let c: Float = i % 2 == 0 ? 0 : 10
            points.append([c + Float(i % 5) * 0.1, c - Float(i % 3) * 0.1])
            labels.append(i % 2)
        }
        let km = KMeans(clusters: 2, points: points, dimension: 2, seed: 3)
        #expect(km.purity(of: points, labels: labels) == 1)
        #expect(km.cluster(of: [0, 0]) != km.cluster(of: [10, 10]))
        let one = KMeans(clusters: 1, points: points, dimension: 2, seed: 3)
        #expect(one.purity(of: points, labels: labels) == 0.5)
    }
}
