import Foundation

// The grid of the width × bits experiment and the glue between a trainer and the run record:
// which runs exist, which are still to do, the fixed validation sample, and the measurements
// taken on a trained model. Training itself is a closure, so the grid does not depend on how
// the trainer is built; a killed grid resumes by skipping every run whose record exists (the
// record is written last, after its hidden states).

/// What the instruments need from a model: its token table, its residual stream on a sequence,
/// and its latent BitLinear weights.
public protocol InstrumentedModel {
    /// The model width (embedding size).
    var instrumentedWidth: Int { get }
    /// The token embedding table, vocabulary × width, row-major.
    var embeddingTable: [Float] { get }
    /// The residual stream of one sequence: layers + 1 arrays of tokens × width, [0] the
    /// embedding output, [l] after block l.
    func residualStream(_ tokens: [Int]) -> [[Float]]
    /// Every BitLinear matrix's latent weights: 0-based layer, matrix name (q k v o gate up down).
    var latentMatrices: [(layer: Int, matrix: String, values: [Float])] { get }
}

/// The fixed validation positions every run is measured on: `positions / context` windows of
/// `context` tokens, starting evenly spaced over the validation tokens (the first at 0).
public struct ValidationSample: Sendable, Equatable {
    /// The token ids of each window.
    public var windows: [[Int]]
    /// Where each window starts in the validation tokens.
    public var starts: [Int]
    /// Positions over all windows.
    public var positions: Int { windows.reduce(0) { $0 + $1.count } }

    /// ```swift
    /// let sample = ValidationSample(validationTokens: tokens, context: 64)   // 4 windows, 256 positions
    /// ```
    public init(validationTokens tokens: [Int], context: Int, positions: Int = 256) {
        precondition(context > 0 && positions >= context, "validation sample: \(positions) positions of context \(context)")
        precondition(tokens.count >= context, "validation sample: \(tokens.count) tokens, context \(context)")
        let count = positions / context
        let span = tokens.count - context
        starts = (0..<count).map { count > 1 ? $0 * span / (count - 1) : 0 }
        windows = starts.map { Array(tokens[$0..<($0 + context)]) }
    }

    /// The model's states on the sample: layers + 1 matrices of positions × width.
    public func states(of model: some InstrumentedModel) -> [Matrix] {
        var blocks = [[Double]]()
        for window in windows {
            let stream = model.residualStream(window)
            if blocks.isEmpty { blocks = Array(repeating: [], count: stream.count) }
            precondition(stream.count == blocks.count, "residual stream: \(stream.count) blocks, earlier \(blocks.count)")
            for (b, s) in stream.enumerated() { blocks[b].append(contentsOf: s.map(Double.init)) }
        }
        return blocks.map { Matrix(rows: positions, cols: model.instrumentedWidth, values: $0) }
    }
}

/// Samples frustration of all of a model's BitLinear matrices during training.
///
/// ```swift
/// var recorder = FrustrationRecorder(precision: .ternary)
/// if step % 50 == 0 { recorder.sample(step: step, model: model) }
/// ```
public struct FrustrationRecorder: Sendable {
    private var tracker: FrustrationTracker?
    /// Every sample so far (a resumed run puts back the ones saved with its checkpoint).
    public var samples: [FrustrationSample] = []

    /// Records nothing for `.float`.
    public init(precision: RunRecord.Precision) {
        switch precision {
        case .float: tracker = nil
        case .ternary: tracker = FrustrationTracker(quantizer: .ternary)
        case .binary: tracker = FrustrationTracker(quantizer: .binary)
        }
    }

    /// Adds one optimizer step's code changes of a matrix (exact flip rates; see `FrustrationTracker`).
    public mutating func countFlips(layer: Int, matrix: String, flips: Int) {
        tracker?.countFlips(layer: layer, matrix: matrix, flips: flips)
    }

    /// Measures every BitLinear matrix of `model` at `step` (nothing for float).
    public mutating func sample(step: Int, model: some InstrumentedModel) {
        guard tracker != nil else { return }
        for m in model.latentMatrices {
            samples.append(tracker!.sample(step: step, layer: m.layer, matrix: m.matrix, latent: m.values))
        }
    }
}

/// One run of the grid.
public struct WidthBitsRun: Sendable, Equatable {
    /// The run's precision.
    public var precision: RunRecord.Precision
    /// The model width.
    public var width: Int
    /// Attention heads (width / 32, at least 1).
    public var heads: Int
    /// The run's seed.
    public var seed: UInt64
    /// The peak learning rate.
    public var learningRate: Double
    /// The run's folder name, `<precision>-w<width>-s<seed>`.
    public var name: String { RunRecord.runName(precision: precision, width: width, seed: seed) }
}

/// What a trainer hands back for one run.
public struct TrainedRun<Model: InstrumentedModel> {
    /// The trained model.
    public var model: Model
    /// Optimizer steps taken.
    public var steps: Int
    /// OpenMP threads of the training.
    public var threads: Int
    /// Training tokens over all steps.
    public var tokensSeen: Int
    /// Wall time of the training.
    public var wallSeconds: Double
    /// The training loss at each evaluation.
    public var trainLoss: [RunRecord.LossPoint]
    /// The validation loss at each evaluation.
    public var validationLoss: [RunRecord.LossPoint]
    /// The validation loss at the end.
    public var finalValidationLoss: Double
    /// From a `FrustrationRecorder` sampled during training (empty for float).
    public var frustration: [FrustrationSample]

    /// A run's results from its values.
    public init(
        model: Model, steps: Int, threads: Int, tokensSeen: Int, wallSeconds: Double, trainLoss: [RunRecord.LossPoint],
        validationLoss: [RunRecord.LossPoint], finalValidationLoss: Double, frustration: [FrustrationSample]
    ) {
        self.model = model
        self.steps = steps
        self.threads = threads
        self.tokensSeen = tokensSeen
        self.wallSeconds = wallSeconds
        self.trainLoss = trainLoss
        self.validationLoss = validationLoss
        self.finalValidationLoss = finalValidationLoss
        self.frustration = frustration
    }
}

/// The width × bits grid (issue 14): precisions × widths × seeds at one depth, context, batch
/// and step budget; heads = width / 32 (at least 1).
///
/// ```swift
/// let grid = WidthBitsGrid(learningRates: [.float: 1e-3, .ternary: 2e-3, .binary: 2e-3])
/// try grid.run(in: "runs", vocabulary: chars, validationTokens: val) { run, checkpoints in ... }
/// ```
public struct WidthBitsGrid: Sendable {
    /// The precisions of the grid, the control first.
    public var precisions: [RunRecord.Precision] = [.float, .ternary, .binary]
    /// The model widths of the grid.
    public var widths = [32, 64, 128, 256, 512]
    /// The seeds of every cell (see `wideSeeds`).
    public var seeds: [UInt64] = [1, 2, 3]
    /// Seeds for widths ≥ `wideFrom` when time forces fewer there (issue 14: "2 for widths ≥ 256");
    /// nil = `seeds`.
    public var wideSeeds: [UInt64]? = nil
    /// The width from which `wideSeeds` applies.
    public var wideFrom = 256
    /// Decoder layers of every run.
    public var layers = 4
    /// Positions per training sequence.
    public var context = 64
    /// Sequences per step.
    public var batch = 12
    /// Optimizer steps per run.
    public var steps = 2000
    /// The peak learning rate of each precision.
    public var learningRates: [RunRecord.Precision: Double]
    /// Positions of the fixed validation sample (hidden states for geometry and CKA).
    public var hiddenPositions = 256
    /// Learning-rate warmup steps (then cosine decay to a tenth of the peak).
    public var warmup = 100
    /// Evaluate (and checkpoint) every this many steps; a multiple of `frustrationEvery`.
    public var evalEvery = 250
    /// Validation batches per evaluation.
    public var evalBatches = 200
    /// Sample frustration statistics every this many steps (flips are counted at every step).
    public var frustrationEvery = 50

    /// The grid of issue 14 with these learning rates; see the type's example.
    public init(learningRates: [RunRecord.Precision: Double]) { self.learningRates = learningRates }

    /// All runs, small widths first and, within a width, seed by seed across precisions — so a
    /// grid stopped early leaves complete comparisons behind.
    public var runs: [WidthBitsRun] {
        widths.flatMap { w in
            (w >= wideFrom ? wideSeeds ?? seeds : seeds).flatMap { s in
                precisions.map { p in
                    WidthBitsRun(precision: p, width: w, heads: max(1, w / 32), seed: s, learningRate: learningRates[p] ?? 1e-3)
                }
            }
        }
    }

    /// Records in `directory` that belong to this grid's runs but were trained with other
    /// settings (learning rate, steps, depth, context, batch, heads): a grid resumed with a new
    /// learning rate must not silently keep the old runs beside the new ones.
    public func conflictingRecords(in directory: String) throws(ExperimentError) -> [String] {
        var conflicts: [String] = []
        for spec in runs {
            let path = directory + "/" + spec.name + "/" + RunRecord.fileName
            guard FileManager.default.fileExists(atPath: path) else { continue }
            let r = try RunRecord.read(from: path)
            var differences: [String] = []
            if r.learningRate != spec.learningRate { differences.append("lr \(r.learningRate) (grid: \(spec.learningRate))") }
            if r.steps != steps { differences.append("steps \(r.steps) (grid: \(steps))") }
            if r.layers != layers { differences.append("layers \(r.layers) (grid: \(layers))") }
            if r.context != context { differences.append("context \(r.context) (grid: \(context))") }
            if r.batch != batch { differences.append("batch \(r.batch) (grid: \(batch))") }
            if r.heads != spec.heads { differences.append("heads \(r.heads) (grid: \(spec.heads))") }
            if !differences.isEmpty { conflicts.append("\(spec.name): " + differences.joined(separator: ", ")) }
        }
        return conflicts
    }

    /// The runs without a record in `directory`.
    public func pending(in directory: String) -> [WidthBitsRun] {
        runs.filter { !FileManager.default.fileExists(atPath: directory + "/" + $0.name + "/" + RunRecord.fileName) }
    }

    /// Trains every pending run with `train` (given the run and a directory for its checkpoints),
    /// measures the model, writes `<directory>/<run>/hidden.f32` then `record.json`, and removes
    /// the checkpoint directory.
    /// `progress` gets one line per run started, skipped and finished.
    public func run<Model: InstrumentedModel>(
        in directory: String, vocabulary: [Character], validationTokens: [Int],
        progress: (String) -> Void = { print($0) },
        train: (WidthBitsRun, String) throws -> TrainedRun<Model>
    ) throws {
        try makeDirectory(directory)
        let conflicts = try conflictingRecords(in: directory)
        if !conflicts.isEmpty {
            throw ExperimentError.badData(
                path: directory,
                reason: "\(conflicts.count) existing run(s) were trained with other settings (\(conflicts[0])"
                    + (conflicts.count > 1 ? "; and \(conflicts.count - 1) more" : "")
                    + "); move them aside or pass the settings they were run with")
        }
        let all = runs
        let todo = pending(in: directory)
        let sample = ValidationSample(validationTokens: validationTokens, context: context, positions: hiddenPositions)
        progress("width-bits: \(all.count) runs, \(all.count - todo.count) done, \(todo.count) to run")
        for (i, spec) in todo.enumerated() {
            progress("[\(i + 1)/\(todo.count)] \(spec.name): training \(steps) steps (lr \(spec.learningRate), heads \(spec.heads))")
            let runDirectory = directory + "/" + spec.name
            try makeDirectory(runDirectory)
            let trained = try train(spec, runDirectory + "/checkpoints")
            let record = try measure(trained, spec: spec, vocabulary: vocabulary, sample: sample, runDirectory: runDirectory)
            // The record is final: the run's checkpoints (150 MB at width 512) have served.
            try? FileManager.default.removeItem(atPath: runDirectory + "/checkpoints")
            progress("[\(i + 1)/\(todo.count)] \(spec.name): val loss \(fmt(record.finalValidationLoss, 4)), \(fmt(trained.wallSeconds, 0)) s")
        }
    }

    /// Measures a trained model and writes its hidden states and record into `runDirectory`.
    @discardableResult
    public func measure<Model: InstrumentedModel>(
        _ trained: TrainedRun<Model>, spec: WidthBitsRun, vocabulary: [Character], sample: ValidationSample, runDirectory: String
    ) throws(ExperimentError) -> RunRecord {
        let model = trained.model
        let embedding = Matrix(rows: vocabulary.count, cols: model.instrumentedWidth, floats: model.embeddingTable)
        let states = sample.states(of: model)
        guard states.count == layers + 1 else {
            throw .badData(path: runDirectory, reason: "model gave \(states.count) residual blocks, want \(layers + 1)")
        }
        try writeHiddenStates(states, to: runDirectory + "/hidden.f32")
        let record = RunRecord(
            precision: spec.precision, width: spec.width, heads: spec.heads, layers: layers, context: context, batch: batch,
            steps: trained.steps, learningRate: spec.learningRate, seed: spec.seed, threads: trained.threads,
            tokensSeen: trained.tokensSeen, wallSeconds: trained.wallSeconds, trainLoss: trained.trainLoss,
            validationLoss: trained.validationLoss, finalValidationLoss: trained.finalValidationLoss,
            geometry: RunRecord.Geometry(embedding: embedding, hiddenStates: states),
            characters: RunRecord.CharacterStructure(vocabulary: vocabulary, embedding: embedding),
            frustration: trained.frustration,
            hiddenStates: .init(path: "hidden.f32", positions: sample.positions, width: spec.width, blocks: layers + 1, sampleOffset: sample.starts[0]))
        try record.write(toDirectory: runDirectory)
        return record
    }
}
