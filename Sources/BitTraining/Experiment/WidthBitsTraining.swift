import BitKernels
import Foundation

// The width × bits grid on the native trainer: the model seen by the instruments, and one run
// trained, checkpointed, resumed and sampled for frustration.

extension TrainableModel: InstrumentedModel {
    /// The model's width.
    public var instrumentedWidth: Int { configuration.width }

    /// The token embedding, vocabulary × width, row-major.
    public var embeddingTable: [Float] { embeddingMatrix }

    /// The residual stream after the embedding and after every layer.
    public func residualStream(_ tokens: [Int]) -> [[Float]] { hiddenStates(tokens) }

    /// Every BitLinear matrix's latent weights: 0-based layer, matrix name (q k v o gate up down).
    public var latentMatrices: [(layer: Int, matrix: String, values: [Float])] {
        var out: [(layer: Int, matrix: String, values: [Float])] = []
        for l in 0..<configuration.layers {
            for slot in Slot.allCases {
                guard let name = slot.matrixName else { continue }
                out.append((l, name, weights[configuration.index(layer: l, slot)].array))
            }
        }
        return out
    }
}

extension WidthBitsGrid {
    /// The characters of a `chars` vocabulary, in token order; an error for other tokenizers.
    public static func characters(of data: TextData) throws(ExperimentError) -> [Character] {
        var out = [Character]()
        for (i, piece) in data.pieces.enumerated() {
            let s = String(decoding: piece, as: UTF8.self)
            guard s.count == 1 else {
                throw .badData(path: data.tokenizerName, reason: "token \(i) is not one character; width-bits measures a character vocabulary (--tokenizer chars)")
            }
            out.append(s.first!)
        }
        return out
    }

    /// Trains every pending run of the grid on `data` with the native trainer and writes each
    /// run's record (see `run(in:vocabulary:validationTokens:progress:train:)`); checkpoints go to
    /// `<run>/checkpoints/` while a run trains and are removed once its record is written.
    ///
    /// ```swift
    /// try grid.run(in: "runs", data: try TextData(path: "input.txt", context: 64), threads: 2)
    /// ```
    public func run(in directory: String, data: TextData, threads: Int, progress: (String) -> Void = { print($0) }) throws {
        let vocabulary = try WidthBitsGrid.characters(of: data)
        let validation = data.tokens[data.trainCount...].map(Int.init)
        try run(in: directory, vocabulary: vocabulary, validationTokens: validation, progress: progress) { spec, checkpoints in
            try train(spec, data: data, threads: threads, checkpoints: checkpoints, progress: progress)
        }
    }

    /// Trains one run, resuming from `checkpoints/checkpoint.bkt` (and the frustration samples
    /// saved beside it) when present. Evaluates and checkpoints every `evalEvery` steps; counts
    /// code flips at every step and samples frustration every `frustrationEvery` steps.
    /// `stopAfter`: stop with `CancellationError` at the first checkpoint at or after that step
    /// (to test resuming).
    public func train(
        _ spec: WidthBitsRun, data: TextData, threads: Int, checkpoints: String, stopAfter: Int? = nil,
        progress: (String) -> Void
    ) throws -> TrainedRun<TrainableModel> {
        guard let precision = Precision(rawValue: spec.precision.rawValue) else {
            throw ExperimentError.badData(path: spec.name, reason: "precision \(spec.precision.rawValue) unknown to the trainer")
        }
        let configuration = try ModelConfiguration(
            vocabularySize: data.vocabularySize, width: spec.width, layers: layers, heads: spec.heads, precision: precision)
        let schedule = Schedule(peak: spec.learningRate, minimum: spec.learningRate / 10, warmup: min(warmup, steps / 10), steps: steps)
        let settings = TrainingSettings(
            steps: steps, batch: batch, context: context, schedule: schedule, seed: spec.seed,
            evalEvery: evalEvery, evalBatches: evalBatches)
        let trainer = try Trainer(configuration: configuration, data: data, settings: settings, threads: threads)
        try makeDirectory(checkpoints)
        let checkpointPath = checkpoints + "/checkpoint.bkt"
        let samplesPath = checkpoints + "/frustration.json"
        var recorder = FrustrationRecorder(precision: spec.precision)
        if FileManager.default.fileExists(atPath: checkpointPath) {
            try trainer.loadCheckpoint(from: checkpointPath)
            if FileManager.default.fileExists(atPath: samplesPath) {
                let saved = try readExperimentFile(samplesPath)
                do { recorder.samples = try RunRecord.decoder().decode([FrustrationSample].self, from: saved) } catch {
                    throw ExperimentError.badData(path: samplesPath, reason: "not frustration samples: \(oneLine(error))")
                }
                recorder.samples.removeAll { $0.step > trainer.step }
            }
            progress("  \(spec.name): resumed at step \(trainer.step)")
        } else {
            recorder.sample(step: 0, model: trainer.model)
        }
        let model = trainer.model
        let every = frustrationEvery, total = steps
        if spec.precision != .float {
            trainer.observer = { step, statistics in
                for m in statistics { recorder.countFlips(layer: m.layer, matrix: m.matrix, flips: m.flips) }
                if step % every == 0 || step == total { recorder.sample(step: step, model: model) }
            }
        }
        while trainer.step < steps {
            let loss = trainer.trainStep()
            guard loss.isFinite else {
                throw ExperimentError.badData(path: spec.name, reason: "step \(trainer.step): the loss is \(loss); lower the learning rate (\(spec.learningRate))")
            }
            let s = trainer.step
            if s % evalEvery == 0 || s == steps {
                let e = trainer.evaluate()
                let eta = e.tokensPerSecond > 0 ? Double((steps - s) * batch * context) / e.tokensPerSecond : 0
                progress("  \(spec.name): step \(s)/\(steps)  train \(fmt(e.trainLoss, 4))  val \(fmt(e.validationLoss, 4))  \(fmt(e.tokensPerSecond, 0)) tok/s  ETA \(fmt(eta, 0)) s")
                try trainer.saveCheckpoint(to: checkpointPath)
                try writeFileAtomically(try RunRecord.encoder().encode(recorder.samples), to: samplesPath)
                if let stopAfter, s >= stopAfter, s < steps { throw CancellationError() }
            }
        }
        let evaluations = trainer.evaluations
        guard let last = evaluations.last else {
            throw ExperimentError.badData(path: spec.name, reason: "no evaluation after \(steps) steps")
        }
        return TrainedRun(
            model: model, steps: steps, threads: threads, tokensSeen: steps * batch * context, wallSeconds: last.elapsedSeconds,
            trainLoss: evaluations.filter { $0.trainLoss.isFinite }.map { RunRecord.LossPoint(step: $0.step, loss: $0.trainLoss) },
            validationLoss: evaluations.map { RunRecord.LossPoint(step: $0.step, loss: $0.validationLoss) },
            finalValidationLoss: last.validationLoss, frustration: recorder.samples)
    }
}
