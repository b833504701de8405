import BitKernels
import BitNeurons
import Foundation
import TestSupport
import Testing

enum Data {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path
    static let shared = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/data").standardized.path
    static var hasFullData: Bool { FileManager.default.fileExists(atPath: shared + "/mnist/t10k-images-idx3-ubyte.gz") }

    static func encode(_ d: LabeledImages, _ encoder: ImageEncoder) -> EncodedSet {
        var e = encoder
        return EncodedSet(inputs: (0..<d.count).map { e.encode(d.image($0)) }, labels: d.labels.map(Int.init))
    }
}

/// Synthetic clusters: `k` random prototypes of density 0.15, samples with 5% of bits flipped.
func clusters(k: Int, perCluster: Int, width: Int = 512, seed: UInt64 = 3) -> (EncodedSet, [BitVector]) {
    var g = BitMask(seed: seed)
    let prototypes = (0..<k).map { _ in g.next(width: width, density: 0.15) }
    var inputs: [BitVector] = [], labels: [Int] = []
    for i in 0..<(k * perCluster) {
        let c = i % k
        let noise = g.next(width: width, density: 0.05)
        inputs.append(BitVector(width: width, words: zip(prototypes[c].words, noise.words).map { $0 ^ $1 }))
        labels.append(c)
    }
    return (EncodedSet(inputs: inputs, labels: labels), prototypes)
}

@Suite struct IDXTests {
    @Test func readsTheFixtureSubset() throws {
        let d = try LabeledImages(directory: Data.fixtures + "/mnist", split: "t10k")
        #expect(d.count == 300 && d.rows == 28 && d.columns == 28)
        #expect(d.labels.prefix(5) == [7, 2, 1, 0, 4])  // MNIST's first test digits
        #expect(d.pixels.count == 300 * 784 && d.pixels.contains(255))
        let limited = try LabeledImages(directory: Data.fixtures + "/fashion-mnist", split: "train", limit: 10)
        #expect(limited.count == 10)
    }

    @Test func badFilesAreClearErrors() throws {
        try withTemporaryDirectory("neurons-idx") { dir in
            let images = Data.fixtures + "/mnist/t10k-images-idx3-ubyte.gz", labels = Data.fixtures + "/mnist/t10k-labels-idx1-ubyte.gz"
            #expect(throws: DatasetError.badMagic(file: labels, found: 2049, expected: 2051)) {
                try LabeledImages(images: labels, labels: labels)
            }
            #expect(throws: DatasetError.missingFile(dir + "/nope.gz")) { try LabeledImages(images: dir + "/nope.gz", labels: labels) }
            // Truncated: the header promises 300 images, the file holds fewer.
            let cut = dir + "/cut-images"
            let full = try LabeledImagesRaw.gunzip(images)
            try Foundation.Data(full.prefix(16 + 100 * 784)).write(to: URL(fileURLWithPath: cut))
            #expect(throws: DatasetError.truncated(file: cut, expected: 300 * 784, actual: 100 * 784)) {
                try LabeledImages(images: cut, labels: labels)
            }
            // Counts that disagree.
            let fewer = dir + "/fewer-labels"
            var lab = try LabeledImagesRaw.gunzip(labels)
            lab[4...7] = [0, 0, 0, 200]
            try Foundation.Data(lab.prefix(8 + 200)).write(to: URL(fileURLWithPath: fewer))
            #expect(throws: DatasetError.countMismatch(images: 300, labels: 200)) { try LabeledImages(images: images, labels: fewer) }
        }
    }
}

enum LabeledImagesRaw {
    static func gunzip(_ path: String) throws -> [UInt8] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/gzip")
        p.arguments = ["-dc", path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return [UInt8](out)
    }
}

@Suite struct EncoderTests {
    @Test func rankSetsExactlyKWithTiesByIndex() {
        var e = ImageEncoder.rank(k: 3, pixels: 8)
        #expect(e.encode([0, 9, 5, 9, 5, 5, 0, 1][...]).setBitIndices == [1, 2, 3])  // 9, 9, then the first 5
        #expect(e.encode([0, 0, 0, 0, 0, 0, 0, 7][...]).setBitIndices == [0, 1, 7])  // too few: background by index
        var t = ImageEncoder.threshold(127, pixels: 8)
        #expect(t.encode([0, 128, 127, 255, 0, 0, 0, 200][...]).setBitIndices == [1, 3, 7])
    }

    @Test func realImagesEncode() throws {
        let d = try LabeledImages(directory: Data.fixtures + "/mnist", split: "t10k")
        let rank = Data.encode(d, .rank(k: 118, pixels: 784))
        #expect(rank.inputs.allSatisfy { $0.setBitCount == 118 })
        let thr = Data.encode(d, .threshold(127, pixels: 784))
        #expect(thr.density > 0.1 && thr.density < 0.3)
    }

    @Test func featureEncoders() {
        let top = FeatureEncoder(.topK(2), inputs: 5)
        #expect(top.encode([0.1, 3, -1, 3, 2]).setBitIndices == [1, 3])
        let sp = FeatureEncoder(.signProjection(seed: 5), inputs: 16, width: 128)
        let x = (0..<16).map { Float($0) - 7.5 }
        let near = x.map { $0 + 0.05 }, far = x.map { -$0 }
        #expect(sp.encode(x).differingBits(from: sp.encode(near)) < 10)
        #expect(sp.encode(x).differingBits(from: sp.encode(far)) > 100)  // opposite vectors: nearly all bits differ
    }
}

@Suite struct PopulationTests {
    @Test func winnerTakeAllSeparatesClusters() {
        let (set, prototypes) = clusters(k: 8, perCluster: 40)
        var p = BitPopulation(width: 512, configuration: .init(neurons: 8, seed: 2),
                              seedInputs: (0..<8).map { set.inputs[$0] })  // one of each cluster
        for x in set.inputs { p.learn(x) }
        #expect(Metrics.purity(p, on: set) > 0.95)
        // Recall from damaged cues lands on the right cluster; novelty flags noise.
        let labels = Metrics.neuronLabels(p, from: set)
        let r = Metrics.recall(p, labels: labels, on: set, classes: 8)
        #expect(r.timesChance > 7)
        #expect(r.bitsAgreeing > r.zeroPatternAgreeing)
        let noise = Metrics.noise(count: 100, width: 512, density: 0.15, seed: 4)
        #expect(Metrics.noveltyAUROC(p, familiar: set.inputs, novel: noise) > 0.99)
        // Each neuron moved toward its prototype.
        #expect(p.neurons.rows.enumerated().allSatisfy { i, n in n.differingBits(from: prototypes[labels[i]]) < 60 })
    }

    @Test func unboundedControlBlurs() {
        let (set, _) = clusters(k: 8, perCluster: 40)
        let seeds = (0..<8).map { set.inputs[$0] }
        var wta = BitPopulation(width: 512, configuration: .init(neurons: 8), seedInputs: seeds)
        var blur = BitPopulation(width: 512, configuration: .init(neurons: 8, mode: .unbounded), seedInputs: seeds)
        for x in set.inputs { wta.learn(x); blur.learn(x) }
        #expect(blur.meanPairwiseDistance < wta.meanPairwiseDistance)
        #expect(Metrics.purity(blur, on: set) < Metrics.purity(wta, on: set))
    }

    @Test func growsNeuronsOnNoveltyAndIsDeterministic() {
        let (set, _) = clusters(k: 6, perCluster: 30)
        let config = BitPopulation.Configuration(neurons: 0, growBelow: 0.3, capacity: 20, seed: 9)
        var a = BitPopulation(width: 512, configuration: config), b = BitPopulation(width: 512, configuration: config)
        for x in set.inputs { a.learn(x); b.learn(x) }
        #expect(a.neurons.rowCount == 6)  // one per cluster: members resonate above 0.3 with their first, other clusters ~0.08
        #expect(a.neurons == b.neurons)   // same seed, same inputs → same population
    }

    @Test func saveAndLoadRoundTripAndRejectCorruption() throws {
        let (set, _) = clusters(k: 4, perCluster: 10)
        var p = BitPopulation(width: 512, configuration: .init(neurons: 4, settleAfter: 5), seedInputs: set.inputs)
        for x in set.inputs { p.learn(x) }
        let bytes = p.serialized()
        let q = try BitPopulation(serialized: bytes)
        #expect(q.neurons == p.neurons && q.wins == p.wins && q.steps == p.steps && q.configuration == p.configuration)
        var flipped = bytes
        flipped[bytes.count / 2] ^= 1
        #expect(throws: PopulationFileError.self) { try BitPopulation(serialized: flipped) }
        #expect(throws: PopulationFileError.truncated(expected: bytes.count, actual: bytes.count - 9)) {
            try BitPopulation(serialized: Array(bytes.dropLast(9)))
        }
        #expect(throws: PopulationFileError.notAPopulation("data")) { try BitPopulation(serialized: Array(repeating: 0, count: 64)) }
    }

    /// The fixture subset of MNIST: the loop organizes real digits well above chance.
    @Test func organizesTheMNISTSubset() throws {
        let train = try LabeledImages(directory: Data.fixtures + "/mnist", split: "train")
        let test = try LabeledImages(directory: Data.fixtures + "/mnist", split: "t10k")
        let tr = Data.encode(train, .rank(k: 118, pixels: 784)), te = Data.encode(test, .rank(k: 118, pixels: 784))
        var p = BitPopulation(width: 784, configuration: .init(neurons: 20, seed: 1), seedInputs: tr.inputs)
        for x in tr.inputs { p.learn(x) }
        let purity = Metrics.purity(p, on: te)
        print("MNIST subset (1,000 train, 300 test), N = 20, rank, Jaccard: purity \(purity)")
        #expect(purity > 0.45)
    }
}

/// The full datasets from ../shared/data, when present (skipped, visibly, otherwise).
@Suite struct FullDataTests {
    @Test(.enabled(if: Data.hasFullData, "../shared/data is absent: full-data checks skipped"))
    func mnistGoalsOnTheFullSplits() throws {
        let train = try LabeledImages(directory: Data.shared + "/mnist", split: "train")
        let test = try LabeledImages(directory: Data.shared + "/mnist", split: "t10k")
        #expect(train.count == 60_000 && test.count == 10_000)
        let tr = Data.encode(train, .rank(k: 118, pixels: 784)), te = Data.encode(test, .rank(k: 118, pixels: 784))
        for (n, goal) in [(10, 0.48), (100, 0.76)] {
            let seeds = stride(from: 0, to: tr.count, by: tr.count / n).prefix(n).map { tr.inputs[$0] }
            var p = BitPopulation(width: 784, configuration: .init(neurons: n, seed: 1), seedInputs: seeds)
            for x in tr.inputs { p.learn(x) }
            let purity = Metrics.purity(p, on: te)
            print("full MNIST, N = \(n), rank, Jaccard, seed 1: purity \(purity)")
            #expect(purity >= goal)
            let r = Metrics.recall(p, labels: Metrics.neuronLabels(p, from: tr), on: te)
            #expect(r.timesChance >= 3.8)
        }
    }
}

/// Corrupt inputs are errors, never crashes: IDX headers with absurd dimensions, population files
/// with every single byte flipped in turn (the CRC catches each).
@Suite struct CorruptInputTests {
    @Test func absurdIDXHeadersAreErrors() throws {
        try withTemporaryDirectory("neurons-idx-bad") { dir in
            let labels = Data.fixtures + "/mnist/t10k-labels-idx1-ubyte.gz"
            for dims: [UInt32] in [[0xffff_ffff, 0xffff_ffff, 0xffff_ffff], [3, 0x8000_0000, 0x8000_0000], [300, 28, 0xffff]] {
                var header: [UInt8] = [0, 0, 8, 3]
                for d in dims { header += [UInt8(d >> 24), UInt8(d >> 16 & 255), UInt8(d >> 8 & 255), UInt8(d & 255)] }
                let path = dir + "/images"
                try Foundation.Data(header + [UInt8](repeating: 7, count: 1000)).write(to: URL(fileURLWithPath: path))
                #expect(throws: DatasetError.self) { try LabeledImages(images: path, labels: labels) }
            }
        }
    }

    @Test func everyFlippedByteOfAPopulationFileIsCaught() throws {
        let (set, _) = clusters(k: 2, perCluster: 4, width: 70)
        var p = BitPopulation(width: 70, configuration: .init(neurons: 2), seedInputs: set.inputs)
        for x in set.inputs { p.learn(x) }
        let bytes = p.serialized()
        for i in 0..<bytes.count {
            var b = bytes
            b[i] ^= 0x20
            #expect(throws: PopulationFileError.self, "byte \(i)") { try BitPopulation(serialized: b) }
        }
    }
}
