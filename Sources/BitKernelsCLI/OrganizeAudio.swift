import ArgumentParser
import BitKernels
import BitKernelsBench
import BitNeurons
import Foundation

/// `organize` on a folder of spoken digits ({digit}_{speaker}_{index}.wav, e.g. FSDD): log-mel
/// features pooled to a 28 × 28 time–frequency grid (784 values, the width of an MNIST image, so a
/// population can be asked how novel MNIST digits look), rank-encoded (the k largest set), then
/// the same online loop and metrics as for images, with k-means on the same float features beside
/// it as the yardstick for plain clustering.
struct AudioOrganize {
    let directory: String
    let split: String  // "published", "loso" (every speaker in turn) or "speaker:NAME"
    let k: Int
    let neurons: Int
    let learningRate: Double
    let scoring: BitPopulation.Configuration.Scoring
    let seeds: [UInt64]
    let shuffle: Bool
    let other: String?
    let json: String?
    /// Neurons of a first layer on parts (0: one flat population). A part is a window of 4 of the
    /// 28 time segments (stride 2: 13 per recording), rank-encoded (28 of 112 values); a recording
    /// reaches the second layer as the sequence of its parts' winners, one bit per
    /// (window, winner) pair: 13 × parts bits, 13 set.
    var parts = 0
    var kernels: Kernels = .default

    static let windowSegments = 4, windowStride = 2

    /// Trains the parts layer on the windows of `train` (in that order) and returns how a
    /// recording reaches the second layer.
    func partsLayer(features: [[Float]], bands: Int, segments: Int, train: [Int], seed: UInt64) -> (width: Int, encode: (Int) -> BitVector) {
        let windows = (segments - Self.windowSegments) / Self.windowStride + 1
        let values = Self.windowSegments * bands
        let encoder = FeatureEncoder(.topK(values / 4), inputs: values)
        func window(_ r: Int, _ w: Int) -> BitVector {
            let start = w * Self.windowStride * bands
            return encoder.encode(Array(features[r][start..<(start + values)]))
        }
        let stream = train.flatMap { r in (0..<windows).map { window(r, $0) } }
        let config = BitPopulation.Configuration(neurons: parts, scoring: scoring, learningRate: learningRate, seed: seed &+ 101)
        let starts = stride(from: 0, to: stream.count, by: max(stream.count / parts, 1)).prefix(parts).map { stream[$0] }
        var layer = BitPopulation(width: values, configuration: config, seedInputs: starts, using: kernels)
        for x in stream { layer.learn(x) }
        let trained = layer, n = parts
        return (windows * n, { r in
            BitVector(width: windows * n, setBits: (0..<windows).map { w in w * n + trained.winner(for: window(r, w)).row })
        })
    }

    struct Fold: Codable {
        var test: String
        var seed: UInt64
        var trainRecordings, testRecordings: Int
        var purity, accuracy: Double
        var recallTimesChance: Double
        var noveltyAUROCNoise: Double
        var noveltyAUROCOther: Double?
        var kmeansPurity: Double
        var recordingsPerSecond: Double
    }

    struct Report: Codable, JSONDocument {
        var data: String
        var features: String
        var encoding: String
        var neurons: Int
        var split: String
        var featureRecordingsPerSecond: Double
        var folds: [Fold]
        var purity, kmeansPurity: Summary
    }

    struct Summary: Codable {
        var mean, sd: Double
        var n: Int
        init(_ xs: [Double]) {
            n = xs.count
            let m = xs.reduce(0, +) / Double(max(xs.count, 1))
            mean = m
            sd = xs.count > 1 ? (xs.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(xs.count - 1)).squareRoot() : 0
        }
        var text: String { "\(format(mean, 3)) ± \(format(sd, 3)) (n = \(n))" }
    }

    static func isAudioFolder(_ path: String) -> Bool {
        let nested = (path as NSString).appendingPathComponent("recordings")
        for folder in [path, nested] {
            if let names = try? FileManager.default.contentsOfDirectory(atPath: folder), names.contains(where: { $0.hasSuffix(".wav") }) {
                return true
            }
        }
        return false
    }

    func run() throws {
        let data: SpokenDigits
        do { data = try SpokenDigits(directory: directory) } catch { throw Failure(error) }
        let mel = LogMelFeatures(sampleRate: 8000, bands: 28, segments: 28)
        guard !data.recordings.isEmpty else { throw Failure("\(directory): no recordings") }
        guard k <= mel.count else { throw Failure("--k \(k): the audio grid has \(mel.count) cells; use --k 1...\(mel.count)", code: ExitStatus.usage) }
        progress("organize: log-mel features of \(data.recordings.count) recordings")
        let t0 = now()
        var features: [[Float]] = data.recordings.map { mel.features(of: $0.audio) }
        let featureRate = Double(features.count) / (now() - t0)
        clearProgress()
        // Per-recording standardization (zero mean, unit variance over the grid) for k-means; the
        // rank encoding is unaffected (it is invariant to any increasing map of the values).
        features = features.map { x in
            let m = x.reduce(0, +) / Float(x.count)
            let v = x.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Float(x.count)
            let s = 1 / max(v.squareRoot(), 1e-6)
            return x.map { ($0 - m) * s }
        }
        let encoder = FeatureEncoder(.topK(k), inputs: mel.count)
        let bits = features.map { encoder.encode($0) }

        let folds: [(name: String, test: (SpokenDigits.Recording) -> Bool)]
        switch split {
        case "published": folds = [("published (indices 0-4)", { $0.index < 5 })]
        case "loso": folds = data.speakers.map { s in ("speaker \(s)", { $0.speaker == s }) }
        default:
            let s = String(split.dropFirst("speaker:".count))
            guard split.hasPrefix("speaker:"), data.speakers.contains(s) else {
                throw ValidationError("--split is published, loso or speaker:NAME (speakers: \(data.speakers.joined(separator: ", ")))")
            }
            folds = [("speaker \(s)", { $0.speaker == s })]
        }
        var otherImages: [BitVector]?
        if let o = other {
            do {
                let t = try LabeledImages(directory: o, split: "t10k")
                guard t.pixelsPerImage == mel.count else {
                    throw Failure("--other: \(o) has \(t.pixelsPerImage)-pixel images; the audio grid is \(mel.count)")
                }
                var e = ImageEncoder.rank(k: k, pixels: t.pixelsPerImage)
                otherImages = (0..<min(t.count, 2000)).map { e.encode(t.image($0)) }
            } catch let error as DatasetError { throw Failure(error) }
        }

        var results: [Fold] = []
        for fold in folds {
            let testIdx = data.recordings.indices.filter { fold.test(data.recordings[$0]) }
            let trainIdx = data.recordings.indices.filter { !fold.test(data.recordings[$0]) }
            guard !trainIdx.isEmpty, !testIdx.isEmpty else {
                throw Failure("\(directory): split \(fold.name) leaves \(trainIdx.count) training and \(testIdx.count) test recordings; both must be non-empty")
            }
            for seed in seeds {
                var order = trainIdx
                if shuffle {
                    var rng = SplitMix64(seed: seed)
                    order.shuffle(using: &rng)
                }
                var width = mel.count, input: (Int) -> BitVector = { bits[$0] }
                if parts > 0 {
                    (width, input) = partsLayer(features: features, bands: mel.bands, segments: mel.segments, train: order, seed: seed)
                }
                let testSet = EncodedSet(inputs: testIdx.map(input), labels: testIdx.map { data.recordings[$0].digit })
                let trainSet = EncodedSet(inputs: order.map(input), labels: order.map { data.recordings[$0].digit })
                let config = BitPopulation.Configuration(neurons: neurons, scoring: scoring, learningRate: learningRate, seed: seed)
                let starts = stride(from: 0, to: order.count, by: max(order.count / neurons, 1)).prefix(neurons).map { trainSet.inputs[$0] }
                var population = BitPopulation(width: width, configuration: config, seedInputs: starts, using: kernels)
                let t1 = now()
                for x in trainSet.inputs { population.learn(x) }
                let rate = Double(trainSet.count) / (now() - t1)
                let labels = Metrics.neuronLabels(population, from: trainSet)
                let noise = Metrics.noise(count: testSet.count, width: width, density: testSet.density, seed: seed &+ 17)
                let km = KMeans(clusters: neurons, points: order.map { features[$0] }, dimension: mel.count, seed: seed)
                results.append(Fold(
                    test: fold.name, seed: seed, trainRecordings: trainSet.count, testRecordings: testSet.count,
                    purity: Metrics.purity(population, on: testSet),
                    accuracy: Metrics.accuracy(population, labels: labels, on: testSet),
                    recallTimesChance: Metrics.recall(population, labels: labels, on: testSet, seed: seed &+ 5).timesChance,
                    noveltyAUROCNoise: Metrics.noveltyAUROC(population, familiar: testSet.inputs, novel: noise),
                    noveltyAUROCOther: parts > 0 ? nil : otherImages.map { Metrics.noveltyAUROC(population, familiar: testSet.inputs, novel: $0) },
                    kmeansPurity: km.purity(of: testIdx.map { features[$0] }, labels: testSet.labels),
                    recordingsPerSecond: rate))
                progress("organize: \(fold.name), seed \(seed): purity \(format(results.last!.purity, 3)), k-means \(format(results.last!.kmeansPurity, 3))")
            }
        }
        clearProgress()
        let report = Report(
            data: directory, features: "log-mel, 28 bands (60-4000 Hz) x 28 time segments, 25 ms frames, 10 ms hop",
            encoding: parts > 0 ? "two layers: \(parts) part neurons on 4-segment windows (rank 28 of 112), then (window, winner) bits" : "rank k=\(k) of \(mel.count)",
            neurons: neurons + parts, split: split,
            featureRecordingsPerSecond: featureRate, folds: results,
            purity: Summary(results.map(\.purity)), kmeansPurity: Summary(results.map(\.kmeansPurity)))
        print("\(directory): \(data.recordings.count) recordings, \(data.speakers.count) speakers; \(report.features); \(report.encoding); \(neurons) neurons; split \(split); seeds \(seeds.map(String.init).joined(separator: ","))")
        print("fold                       purity   accuracy  recall×chance  novelty(noise)  novelty(other)  k-means purity  recordings/s")
        for f in results {
            let other = f.noveltyAUROCOther.map { format($0, 3) } ?? "-"
            print("\(f.test.padding(toLength: 25, withPad: " ", startingAt: 0)) s\(f.seed)  \(format(f.purity, 3))    \(format(f.accuracy, 3))     \(format(f.recallTimesChance, 2))          \(format(f.noveltyAUROCNoise, 3))           \(other)           \(format(f.kmeansPurity, 3))           \(format(f.recordingsPerSecond / 1000, 1))k")
        }
        print("purity \(report.purity.text); k-means on the same features \(report.kmeansPurity.text); features \(format(featureRate, 0)) recordings/s")
        if let path = json {
            try writeJSON(report, to: path)
            print("wrote \(path)")
        }
    }
}
