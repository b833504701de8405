import ArgumentParser
import BitKernels
import BitKernelsBench
import BitNeurons
import Foundation
#if MPI
import BitDistributed
#endif

struct Organize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Let a population of bit-neurons organize itself on an image dataset, then measure it.",
        discussion: """
            One online loop over the training split (encode, score, winner-take-all, masked flip), \
            then on the test split: cluster purity, accuracy with neuron labels taken from the \
            training split, recall from cues with 10% of their bits flipped (× chance, bits \
            agreeing against an all-zero pattern, set bits recovered), novelty AUROC against noise \
            of the same density and against another dataset, and the mean distance between neurons.

            --data is a folder with the four IDX files (train/t10k images/labels, .gz or not), e.g. \
            ../shared/data/mnist. Without it, the small MNIST subset of the source tree is used: \
            the folder $BITKERNELS_DATA names, else Tests/BitNeuronsTests/Fixtures/mnist under the \
            current directory (a checkout), else PREFIX/share/bitkernels/mnist beside \
            PREFIX/bin/bitkernels (an install).
            --continual trains on classes 0-4 first, then streams 5-9, and reports how well the \
            first classes are retained.

            Example: bitkernels organize --data ../shared/data/mnist --neurons 100 --other ../shared/data/fashion-mnist

            Under `mpirun -np R` (bitkernels built with `--traits MPI`) the neurons are spread over \
            the R ranks: every image is scored on every rank, the global winner learns on its owner \
            and grown neurons go to the least-loaded rank (the same population as one process, for \
            the same seed); the population is then gathered on rank 0, which measures, prints and \
            writes. Image folders only.
            """)

    @Option(help: ArgumentHelp("Dataset folder (IDX files). " + DefaultDataset.help, valueName: "dir"))
    var data: String?

    @Option(help: "A second dataset whose test images should look novel (cross-dataset novelty).")
    var other: String?

    @Option(help: "Encoding: rank (exactly --k brightest pixels) or threshold (pixel > 127).")
    var encoding = "rank"

    @Option(help: "Bits set by rank encoding.")
    var k = 118

    @Option(help: "Rank encoding: which pixels of the cut-off intensity win — blur (brightest 3×3 neighbourhood, then reading order; the default: on sparse images the leftover bits thicken the strokes), index (reading order), distance (nearest ink) or ink (none: sparse images set fewer than k bits).")
    var ties = "blur"

    @Option(help: "Evaluate on a sparse variant of the dataset (train, test and --other alike): thinned (strokes eroded by a pixel), edges or dropout (half the ink).")
    var variant: String?

    @Option(help: "Score: jaccard or basic (shared minus differing bits).")
    var score = "jaccard"

    @Option(help: "Neurons start as: inputs (evenly spaced training images), spread (farthest-point picks among the first 5,000 training images) or dense (random bits, density 0.5).")
    var start = "inputs"

    @Option(help: "Neurons.")
    var neurons = 100

    @Option(help: "Learning rate: the density of the flip mask.")
    var learningRate = 0.1

    @Flag(help: "Control: every neuron learns every input (no winner-take-all).")
    var unbounded = false

    @Flag(help: "Grow a neuron when the best Jaccard resonance is under --grow-below (up to --capacity).")
    var grow = false

    @Option(help: "Novelty threshold for --grow.")
    var growBelow = 0.3

    @Option(help: "Most neurons with --grow.")
    var capacity = 1000

    @Option(help: "Settle a neuron after this many wins (its mask shrinks to 0.02).")
    var settleAfter: Int?

    @Option(help: "Passes over the training split.")
    var epochs = 1

    @Option(help: "Use only the first N training images.")
    var limit: Int?

    @Option(help: "Random seed (stream order, starting neurons, masks, corruption, noise).")
    var seed: UInt64 = 1

    @Flag(help: "Continual learning: classes 0-4, then 5-9; report retention.")
    var continual = false

    @Option(help: "Write every metric as JSON to this file.")
    var json: String?

    @Option(help: "Save the trained population to this file.")
    var save: String?

    @Option(help: "Spoken digits (--data a folder of {digit}_{speaker}_{index}.wav, e.g. ../shared/data/fsdd): published (indices 0-4 test), loso (leave each speaker out in turn) or speaker:NAME.")
    var split = "published"

    @Option(help: "Spoken digits: runs per split, with seeds --seed, --seed+1, ...")
    var runs = 1

    @Option(help: "Spoken digits: neurons of a first layer on parts (windows of the time-frequency grid); --neurons then counts the second layer. 0: one flat population.")
    var parts = 0

    @Flag(help: "Stream the training inputs in file order (default: shuffled by --seed, which so also picks the starting neurons).")
    var noShuffle = false

    func validate() throws {
        guard ["rank", "threshold"].contains(encoding) else { throw ValidationError("--encoding is rank or threshold") }
        guard ["jaccard", "basic"].contains(score) else { throw ValidationError("--score is jaccard or basic") }
        guard ["inputs", "spread", "dense"].contains(start) else { throw ValidationError("--start is inputs, spread or dense") }
        guard neurons >= 1 || grow else { throw ValidationError("--neurons must be at least 1 (or use --grow)") }
        try check("--neurons", neurons, in: (grow ? 0 : 1)...1_000_000)
        try check("--capacity", capacity, in: 1...1_000_000)
        try check("--epochs", epochs, in: 1...1000)
        try check("--runs", runs, in: 1...100)
        try check("--parts", parts, in: 0...100_000)
        try check("--learning-rate", learningRate, in: 0...1)
        try check("--grow-below", growBelow, in: 0...1)
        if let s = settleAfter { try check("--settle-after", s, in: 1...Int.max) }
        if let l = limit { try check("--limit", l, in: 1...Int.max) }
        try check("--k", k, in: 1...(1 << 24))  // and at most the images' pixels, checked when they are read
        guard RankTieRule(rawValue: ties) != nil else { throw ValidationError("--ties is index, blur, distance or ink") }
        guard variant.map({ ImageVariant(rawValue: $0) != nil }) ?? true else { throw ValidationError("--variant is thinned, edges or dropout") }
    }

    struct Report: Codable, JSONDocument {
        var data: String
        var trainImages, testImages: Int
        var encoding: String
        var configuration: BitPopulation.Configuration
        var neurons: Int
        var purity: Double
        var accuracy: Double
        var recall: Metrics.Recall
        var noveltyAUROCNoise: Double
        var noveltyAUROCOther: Double?
        /// The same with novelty relative to the winner's typical resonance on the training set.
        var noveltyAUROCOtherRelative: Double?
        var meanPairwiseDistance: Double
        var meanNeuronBits: Double
        var imagesPerSecond: Double
        var continual: Continual?
        var perClass: [Metrics.ClassStats]
    }

    struct Continual: Codable {
        var oldClassesBefore: Double
        var oldClassesAfter: Double
        var retention: Double
        var newClasses: Double
    }

    func run() throws {
        let kernels = try resolveKernels()
        #if MPI
        let world = distributedWorld()
        defer { world?.finalize() }
        if world != nil, let d = data, AudioOrganize.isAudioFolder(d) {
            throw ValidationError("--data \(d): spoken digits are not distributed; run without mpirun")
        }
        #else
        try refuseMPIWithoutTrait("organize")
        #endif
        if let d = data, AudioOrganize.isAudioFolder(d) {
            try AudioOrganize(
                directory: d, split: split, k: k, neurons: neurons, learningRate: learningRate,
                scoring: score == "jaccard" ? .jaccard : .basic, seeds: (0..<UInt64(runs)).map { seed &+ $0 },
                shuffle: !noShuffle, other: other, json: json, parts: parts, kernels: kernels
            ).run()
            return
        }
        let dir = try data ?? DefaultDataset.locate()
        if data == nil { print("no --data: using the MNIST subset at \(dir)") }
        var train: LabeledImages, test: LabeledImages
        do {
            train = try LabeledImages(directory: dir, split: "train", limit: limit)
            test = try LabeledImages(directory: dir, split: "t10k")
        } catch { throw Failure(error) }
        try checkSets(train: train, test: test, in: dir)
        let sparse = variant.flatMap(ImageVariant.init(rawValue:))
        if let v = sparse {
            train = train.transformed(v)
            test = test.transformed(v)
        }
        let pixels = train.pixelsPerImage
        let encoder: ImageEncoder = encoding == "rank"
            ? .rank(k: k, pixels: pixels, columns: train.columns, ties: RankTieRule(rawValue: ties)!, using: kernels)
            : .threshold(127, pixels: pixels, using: kernels)
        let config = BitPopulation.Configuration(
            neurons: grow ? 0 : neurons, scoring: score == "jaccard" ? .jaccard : .basic,
            start: start == "dense" ? .randomDense : .inputs, mode: unbounded ? .unbounded : .winnerTakeAll,
            learningRate: learningRate, settleAfter: settleAfter, growBelow: grow ? growBelow : nil,
            capacity: capacity, seed: seed)

        var enc = encoder
        // The stream order: shuffled by the seed unless --no-shuffle (IDX files may be sorted by
        // class); the seed so also picks the starting neurons (evenly spaced along the stream).
        var order = Array(0..<train.count)
        if !noShuffle {
            var rng = SplitMix64(seed: seed)
            order.shuffle(using: &rng)
        }
        // The training split is encoded once, here, in stream order; the time counts as the online
        // loop's (which encodes each image once as it arrives).
        let encodeStart = now()
        var trainSet = EncodedSet(inputs: order.map { enc.encode(train.image($0)) }, labels: order.map { Int(train.labels[$0]) })
        let encodeSeconds = now() - encodeStart
        let testSet = EncodedSet(inputs: (0..<test.count).map { enc.encode(test.image($0)) }, labels: test.labels.map(Int.init))
        var continualReport: Continual?
        var oldLabels: [Int] = []
        var oldTest = testSet, newTest = testSet
        if continual {
            let old = trainSet.labels.indices.filter { trainSet.labels[$0] < 5 }, new = trainSet.labels.indices.filter { trainSet.labels[$0] >= 5 }
            trainSet = EncodedSet(inputs: (old + new).map { trainSet.inputs[$0] }, labels: (old + new).map { trainSet.labels[$0] })
            let to = testSet.labels.indices.filter { testSet.labels[$0] < 5 }, tn = testSet.labels.indices.filter { testSet.labels[$0] >= 5 }
            oldTest = EncodedSet(inputs: to.map { testSet.inputs[$0] }, labels: to.map { testSet.labels[$0] })
            newTest = EncodedSet(inputs: tn.map { testSet.inputs[$0] }, labels: tn.map { testSet.labels[$0] })
        }

        // Neurons start from evenly spaced training inputs (in continual mode, from the first phase only).
        let oldCount = continual ? trainSet.labels.filter { $0 < 5 }.count : 0
        let pool = continual ? oldCount : trainSet.count
        if continual, oldCount == 0 || oldCount == trainSet.count || oldTest.count == 0 || newTest.count == 0 {
            throw Failure("--continual needs training and test images of classes 0-4 and of 5-9; \(dir)\(limit.map { " with --limit \($0)" } ?? "") has "
                          + "\(oldCount) + \(trainSet.count - oldCount) training and \(oldTest.count) + \(newTest.count) test images")
        }
        if config.start == .inputs && !grow {
            let most = start == "spread" ? min(pool, 5000) : pool
            guard neurons <= most else {
                throw Failure("--neurons \(neurons): --start \(start) picks them among \(most) training images\(continual ? " of classes 0-4" : "")\(limit.map { " (--limit \($0))" } ?? ""); use at most \(most), or --start dense", code: ExitStatus.usage)
            }
        }
        let seeds = config.start != .inputs || grow ? []
            : start == "spread" ? BitPopulation.spreadSeeds(from: Array(trainSet.inputs.prefix(min(pool, 5000))), count: neurons, using: kernels)
            : stride(from: 0, to: pool, by: max(pool / max(neurons, 1), 1)).prefix(neurons).map { trainSet.inputs[$0] }
        var population = BitPopulation(width: pixels, configuration: config, seedInputs: seeds, using: kernels)
        #if MPI
        var sharded = world.map { ShardedPopulation(width: pixels, configuration: config, seedInputs: seeds, communicator: $0, using: kernels) }
        #endif
        // The timed online loop: score, winner, flip (the encoding above counts too).
        let trainIndices = Array(0..<trainSet.count)  // continual: already old classes, then new
        var seconds = encodeSeconds
        var oldBefore = 0.0
        for epoch in 0..<epochs {
            let t0 = now()
            for (n, i) in trainIndices.enumerated() {
                if continual && epoch == epochs - 1 && n == oldCount {
                    var measure = true
                    #if MPI
                    if let s = sharded {  // gathered on rank 0, which alone measures
                        if let whole = s.gathered() { population = whole } else { measure = false }
                    }
                    #endif
                    if measure {
                        let oldSet = EncodedSet(inputs: Array(trainSet.inputs[0..<oldCount]), labels: Array(trainSet.labels[0..<oldCount]))
                        oldLabels = Metrics.neuronLabels(population, from: oldSet)
                        oldBefore = Metrics.accuracy(population, labels: oldLabels, on: oldTest)
                    }
                }
                let x = trainSet.inputs[i]
                #if MPI
                if sharded != nil { sharded!.learn(x) } else { population.learn(x) }
                #else
                population.learn(x)
                #endif
                if n % 4096 == 0 { progress("organize: epoch \(epoch + 1)/\(epochs), image \(n)/\(trainIndices.count), \(population.neurons.rowCount) neurons") }
            }
            seconds += now() - t0
        }
        clearProgress()
        #if MPI
        if let s = sharded {
            guard let whole = s.gathered() else { return }  // rank 0 measures, prints and writes
            population = whole
        }
        #endif

        let labels = Metrics.neuronLabels(population, from: trainSet)
        if continual {
            let after = Metrics.accuracy(population, labels: oldLabels, on: oldTest)
            continualReport = Continual(oldClassesBefore: oldBefore, oldClassesAfter: after,
                                        retention: oldBefore > 0 ? after / oldBefore : 0,
                                        newClasses: Metrics.accuracy(population, labels: labels, on: newTest))
        }
        let noise = Metrics.noise(count: testSet.count, width: pixels, density: testSet.density, seed: seed &+ 17)
        var otherAUROC: Double?, otherRelative: Double?
        if let o = other {
            do {
                var t = try LabeledImages(directory: o, split: "t10k")
                guard t.count >= 1 else { throw Failure("--other \(o): no test images") }
                guard t.pixelsPerImage == train.pixelsPerImage && t.columns == train.columns else {
                    throw Failure("--other \(o): \(t.rows)×\(t.columns) images, but \(dir) has \(train.rows)×\(train.columns)")
                }
                if let v = sparse { t = t.transformed(v) }
                var e = encoder
                let novel = (0..<t.count).map { e.encode(t.image($0)) }
                otherAUROC = Metrics.noveltyAUROC(population, familiar: testSet.inputs, novel: novel)
                let relative = Metrics.relativeNovelty(population, reference: trainSet.inputs)
                otherRelative = Metrics.noveltyAUROC(familiar: testSet.inputs.map(relative), novel: novel.map(relative))
            } catch { throw Failure(error) }
        }
        let report = Report(
            data: dir, trainImages: train.count * epochs, testImages: test.count,
            encoding: (encoding == "rank" ? "rank k=\(k) ties=\(ties)" : "threshold >127") + (variant.map { " on \($0) images" } ?? ""),
            configuration: config,
            neurons: population.neurons.rowCount,
            purity: Metrics.purity(population, on: testSet),
            accuracy: Metrics.accuracy(population, labels: labels, on: testSet),
            recall: Metrics.recall(population, labels: labels, on: testSet, seed: seed &+ 5),
            noveltyAUROCNoise: Metrics.noveltyAUROC(population, familiar: testSet.inputs, novel: noise),
            noveltyAUROCOther: otherAUROC,
            noveltyAUROCOtherRelative: otherRelative,
            meanPairwiseDistance: population.meanPairwiseDistance,
            meanNeuronBits: Double(population.neurons.rows.reduce(0) { $0 + $1.setBitCount }) / Double(max(population.neurons.rowCount, 1)),
            imagesPerSecond: Double(trainIndices.count * epochs) / seconds,
            continual: continualReport,
            perClass: Metrics.perClass(population, labels: labels, on: testSet))
        printReport(report)
        if let path = save {
            do { try population.save(to: path) } catch { throw Failure(error.description, code: ExitStatus.io) }
            print("saved \(path)")
        }
        if let path = json {
            try writeJSON(report, to: path)
            print("wrote \(path)")
        }
    }

    func printReport(_ r: Report) {
        let c = r.configuration
        print("\(r.data): \(r.trainImages) training images, \(r.testImages) test; \(r.encoding); score \(c.scoring.rawValue); start \(c.start.rawValue); \(c.mode.rawValue); \(r.neurons) neurons")
        print("  purity (test)                \(format(r.purity, 3))")
        print("  accuracy (train labels)      \(format(r.accuracy, 3))")
        print("  recall, 10% bits flipped     \(format(r.recall.timesChance, 2))× chance; bits agreeing \(format(r.recall.bitsAgreeing, 3)) (all-zero pattern: \(format(r.recall.zeroPatternAgreeing, 3))); set bits recovered \(format(r.recall.setBitsRecovered, 3))")
        print("  novelty AUROC vs noise       \(format(r.noveltyAUROCNoise, 3))")
        if let o = r.noveltyAUROCOther {
            print("  novelty AUROC vs other set   \(format(o, 3)) (relative to the winner's typical resonance: \(format(r.noveltyAUROCOtherRelative ?? .nan, 3)))")
        }
        print("  mean distance between neurons \(format(r.meanPairwiseDistance, 1)) bits; mean bits per neuron \(format(r.meanNeuronBits, 1))")
        if let ct = r.continual {
            print("  continual: old classes \(format(ct.oldClassesBefore, 3)) → \(format(ct.oldClassesAfter, 3)) (retention \(format(ct.retention, 3))); new classes \(format(ct.newClasses, 3))")
        }
        print("  per class: specialists/purity " + r.perClass.map { "\($0.label): \($0.specialists)/\(format($0.purity, 2))" }.joined(separator: "  "))
        print("  online loop                  \(format(r.imagesPerSecond / 1000, 1))k images/s (encode, score, winner, flip; 1 thread)")
    }

    /// The training and test sets can be used together: not empty, images of one size, at least
    /// --k pixels for rank encoding. A set that breaks this is bad data (status 65).
    func checkSets(train: LabeledImages, test: LabeledImages, in dir: String) throws {
        guard train.pixelsPerImage >= 1 else { throw Failure("\(dir): images of \(train.rows)×\(train.columns) pixels") }
        guard train.count >= 1, test.count >= 1 else { throw Failure("\(dir): \(train.count) training and \(test.count) test images; need at least one of each") }
        guard test.pixelsPerImage == train.pixelsPerImage && test.columns == train.columns else {
            throw Failure("\(dir): training images are \(train.rows)×\(train.columns), test images \(test.rows)×\(test.columns)")
        }
        if encoding == "rank" && k > train.pixelsPerImage {
            throw Failure("--k \(k): \(dir) has \(train.pixelsPerImage)-pixel images; use --k 1...\(train.pixelsPerImage)", code: ExitStatus.usage)
        }
    }
}
