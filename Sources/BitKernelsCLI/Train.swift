import ArgumentParser
import BitKernels
import BitKernelsBench
import BitNet
import BitTraining
import Foundation
#if MPI
import BitDistributed
#endif

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a BitNet b1.58 model from scratch (ternary, binary or float) on a text file.",
        discussion: """
            The forward pass runs the quantized layers on the inference kernels; the backward pass \
            uses the straight-through estimator and OpenBLAS for float products. Writes into --out: \
            evaluations.json (every evaluation), loss.svg (the curve), checkpoint.bkt (to --resume), \
            and samples.txt.

            Example (nanoGPT's CPU recipe on Tiny Shakespeare):
              bitkernels train --data input.txt --layers 4 --width 128 --heads 4 --context 64 \\
                --batch 12 --steps 2000 --lr 1e-3 --precision ternary --out run

            Under `mpirun -np R` (bitkernels built with `--traits MPI`) training is data-parallel: \
            --batch is each rank's batch, each rank takes its share of the R·batch windows one \
            process would draw, gradients are averaged with MPI_Allreduce and the ranks' weights \
            are compared by checksum every 50 steps; rank 0 logs and writes --out.
            """)

    @Option(help: "Training text.") var data: String
    @Option(help: "chars (sorted unique characters), bytes, or a tokenizer.json.") var tokenizer = "chars"
    @Option(help: "Decoder layers.") var layers = 4
    @Option(help: "Model width.") var width = 128
    @Option(help: "Attention heads.") var heads = 4
    @Option(name: .customLong("kv-heads"), help: "Key/value heads (default: heads).") var kvHeads: Int?
    @Option(name: .customLong("mlp-hidden"), help: "MLP hidden size (default 8·⌈8·width/24⌉).") var mlpHidden: Int?
    @Option(help: "Context (window) length.") var context = 64
    @Option(help: "Sequences per step.") var batch = 12
    @Option(help: "Optimizer steps.") var steps = 2000
    @Option(help: "Peak learning rate.") var lr = 1e-3
    @Option(name: .customLong("min-lr"), help: "Final learning rate (default lr / 10).") var minLR: Double?
    @Option(help: "Warmup steps.") var warmup = 100
    @Option(help: "cosine, linear, constant, or two-stage (cosine; from mid-training lr × 0.5 and no weight decay).") var schedule = "cosine"
    @Option(help: "AdamW β2.") var beta2 = 0.99
    @Option(name: .customLong("weight-decay"), help: "Decoupled weight decay on matrices.") var weightDecay = 0.1
    @Option(help: "Gradient-norm clip (0 = none).") var clip = 1.0
    @Option(help: "ternary, binary or float.") var precision = "ternary"
    @Flag(name: .customLong("tied"), help: "Tie the LM head to the embedding.") var tied = false
    @Option(help: "Seed for initialization and data windows.") var seed: UInt64 = 1
    @Option(parsing: .unconditional, help: "Worker threads (1...1024): each takes a share of the batch's sequences (data parallel; at most one per sequence), and each after the first holds its own gradients; a run is reproducible for the same seed and thread count. A run that would not fit in half the machine's memory is refused before it starts.") var threads = 1
    @Option(help: "Output directory.") var out: String
    @Option(help: "Continue from a checkpoint (a file, or a directory holding checkpoint.bkt).") var resume: String?
    @Option(name: .customLong("eval-every"), help: "Evaluate every N steps.") var evalEvery = 250
    @Option(name: .customLong("eval-batches"), help: "Fixed validation batches.") var evalBatches = 200
    @Option(name: .customLong("checkpoint-every"), help: "Save a checkpoint every N steps (0 = at evaluations and the end).") var checkpointEvery = 0
    @Option(help: "Export at the end: hf (config.json + model.safetensors), gguf-tq2, gguf-i2s, or none.") var export = "hf"
    @Option(name: .customLong("stop-after"), help: "Stop (with a checkpoint) after this many steps of this invocation (testing resume).") var stopAfter: Int?

    func validate() throws {
        guard steps > 0 else { throw ValidationError("--steps must be positive (got \(steps))") }
        guard batch > 0 else { throw ValidationError("--batch must be positive (got \(batch))") }
        guard context > 0 else { throw ValidationError("--context must be positive (got \(context))") }
        try check("--threads", threads, in: 1...maxThreads)
        try check("--steps", steps, in: 1...1_000_000_000)
        try check("--batch", batch, in: 1...65536)
        try check("--context", context, in: 1...65536)
        guard batch * context <= 1 << 24 else { throw ValidationError("--batch × --context must be at most 16777216 tokens a step, got \(batch * context)") }
        try check("--layers", layers, in: 1...1024)
        try check("--width", width, in: 1...65536)
        try check("--heads", heads, in: 1...width)
        if let k = kvHeads { try check("--kv-heads", k, in: 1...heads) }
        if let m = mlpHidden { try check("--mlp-hidden", m, in: 1...(1 << 20)) }
        try check("--warmup", warmup, in: 0...steps)
        try check("--eval-batches", evalBatches, in: 1...1_000_000)
        try check("--checkpoint-every", checkpointEvery, in: 0...Int.max)
        if let s = stopAfter { try check("--stop-after", s, in: 1...Int.max) }
        try check("--beta2", beta2, in: 0...0.999_999)
        try check("--weight-decay", weightDecay, in: 0...1_000)
        try check("--clip", clip, in: 0...1e9)
        guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be positive (got \(lr))") }
        if let m = minLR { try check("--min-lr", m, in: 0...lr) }
        guard warmup >= 0 else { throw ValidationError("--warmup must be ≥ 0") }
        guard evalEvery > 0 else { throw ValidationError("--eval-every must be positive") }
        guard Precision(rawValue: precision) != nil else { throw ValidationError("--precision: expected ternary, binary or float, got '\(precision)'") }
        guard ["cosine", "linear", "constant", "two-stage"].contains(schedule) else {
            throw ValidationError("--schedule: expected cosine, linear, constant or two-stage, got '\(schedule)'")
        }
        guard ["hf", "gguf-tq2", "gguf-i2s", "none"].contains(export) else {
            throw ValidationError("--export: expected hf, gguf-tq2, gguf-i2s or none, got '\(export)'")
        }
        guard width % heads == 0 else { throw ValidationError("--width \(width) is not divisible by --heads \(heads)") }
    }

    func run() throws {
        let text: TextData
        do { text = try TextData(path: data, tokenizer: tokenizer, context: context) } catch { throw Failure("--data: \(error)", code: exitStatus(of: error)) }
        let config: ModelConfiguration
        do {
            config = try ModelConfiguration(vocabularySize: text.vocabularySize, width: width, layers: layers, heads: heads, kvHeads: kvHeads,
                                            mlpHidden: mlpHidden, tiedHead: tied, precision: Precision(rawValue: precision)!)
        } catch { throw ValidationError("\(error)") }
        // Refuse a run that cannot fit before allocating it (a failed allocation is a crash, not an
        // error): weights, optimizer state, one gradient copy per worker thread, activations.
        let need = config.trainingBytes(batch: batch, context: context, threads: threads)
        guard need <= Double(memoryBudget) else {
            throw ValidationError("--layers \(layers) --width \(width) --batch \(batch) --context \(context) --threads \(threads): training needs about "
                + "\(bytes(Int(min(need, 1e18)))) (\(config.parameterCount) parameters, \(min(threads, batch)) worker(s)), more than half this machine's memory "
                + "(\(bytes(memoryBudget))); use a smaller model, batch or thread count")
        }
        let sched = Schedule(peak: lr, minimum: minLR ?? lr / 10, warmup: warmup, steps: steps,
                             decay: schedule == "two-stage" ? .cosine : Schedule.Decay(rawValue: schedule)!, twoStage: schedule == "two-stage")
        let settings = TrainingSettings(steps: steps, batch: batch, context: context, schedule: sched,
                                        optimizer: AdamWSettings(beta2: beta2, weightDecay: weightDecay, clip: clip), seed: seed,
                                        evalEvery: evalEvery, evalBatches: evalBatches)
        let trainer: Trainer
        #if MPI
        let world = distributedWorld()
        defer { world?.finalize() }
        let isRoot = world?.isRoot ?? true
        var parallel: DataParallelTrainer?
        do {
            if let world {
                parallel = try DataParallelTrainer(configuration: config, data: text, settings: settings, threads: threads, communicator: world)
                trainer = parallel!.trainer
            } else {
                trainer = try Trainer(configuration: config, data: text, settings: settings, threads: threads)
            }
        } catch { throw ValidationError("\(error)") }
        let ranks = world?.size ?? 1
        let rankNote = ranks > 1 ? " on each of \(ranks) ranks (batch \(batch) per rank)" : ""
        func step() throws -> Float {
            guard let parallel else { return trainer.trainStep() }
            do { return try parallel.trainStep() } catch { throw Failure(error.description, code: ExitStatus.software) }
        }
        #else
        try refuseMPIWithoutTrait("train")
        let isRoot = isRootRank(), ranks = 1, rankNote = ""
        do { trainer = try Trainer(configuration: config, data: text, settings: settings, threads: threads) } catch { throw ValidationError("\(error)") }
        func step() throws -> Float { trainer.trainStep() }
        #endif
        func log(_ s: String) { if isRoot { self.log(s) } }
        do { try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true) } catch {
            throw Failure("--out \(out): \(error.localizedDescription)", code: ExitStatus.io)
        }
        if let r = resume {
            var isDir: ObjCBool = false
            let path = FileManager.default.fileExists(atPath: r, isDirectory: &isDir) && isDir.boolValue ? r + "/checkpoint.bkt" : r
            do { try trainer.loadCheckpoint(from: path) } catch { throw Failure("--resume: \(error)", code: exitStatus(of: error)) }
            log("resumed at step \(trainer.step) from \(path)")
        }
        let params = trainer.model.parameters.reduce(0) { $0 + $1.values.count }
        log("training \(precision) model, \(params) parameters, vocabulary \(text.vocabularySize), \(text.trainCount) train / \(text.validationCount) val tokens, \(threads) thread(s)"
            + rankNote)

        func save() throws {
            guard isRoot else { return }
            do {
                try trainer.saveCheckpoint(to: out + "/checkpoint.bkt")
                try trainer.writeRunFiles(to: out)
            } catch { throw Failure(error) }
        }
        var lastLoss: Float = .nan
        let first = trainer.step
        var lastVal = trainer.evaluations.last?.validationLoss ?? .nan
        while trainer.step < steps {
            lastLoss = try step()
            guard lastLoss.isFinite else { throw Failure("step \(trainer.step): the loss is \(lastLoss); try a smaller --lr") }
            let s = trainer.step
            let evalNow = s % evalEvery == 0 || s == steps
            if evalNow { lastVal = trainer.evaluate().validationLoss }
            if evalNow || s % 10 == 0 {
                let tps = trainer.tokensPerSecond
                let eta = tps > 0 ? Double((steps - s) * batch * ranks * context) / tps : 0
                log(String(format: "step %d/%d  train %.4f  val %@  %.0f tok/s  ETA %@", s, steps, lastLoss,
                           lastVal.isFinite ? String(format: "%.4f", lastVal) : "-", tps, formatDuration(eta)))
            }
            if evalNow || (checkpointEvery > 0 && s % checkpointEvery == 0) { try save() }
            if let stop = stopAfter, s - first >= stop, s < steps {
                try save()
                log("stopped after \(stop) steps at step \(s) (checkpoint saved)")
                return
            }
        }
        try save()
        guard isRoot else { return }
        let sample = text.decode(trainer.sample(prompt: [], count: 300, seed: seed))
        do { try writeAtomically(sample, to: out + "/samples.txt") } catch { throw Failure(error) }
        if export != "none" {
            if trainer.model.configuration.precision == .float {
                log("not exporting: a float model has no ternary weights (--export none to silence)")
            } else {
                do {
                    let weights = try trainer.model.bitNetWeights(maxPositions: context)
                    let tok = tokenizer == "chars" || tokenizer == "bytes" ? Tokenizer(pieces: text.pieces) : try Tokenizer(tokenizerJSON: tokenizer)
                    switch export {
                    case "hf": try weights.writeHuggingFace(to: out + "/model", tokenizer: tok)
                    case "gguf-tq2": try weights.writeGGUF(to: out + "/model.gguf", format: .tq2_0, tokenizer: tok)
                    default: try weights.writeGGUF(to: out + "/model.gguf", format: .i2_s, tokenizer: tok)
                    }
                    log("exported \(export) to \(out)/\(export == "hf" ? "model" : "model.gguf")")
                } catch { throw Failure("export: \(error)", code: exitStatus(of: error)) }
            }
        }
        if let e = trainer.evaluations.last {
            print(String(format: "final step %d  train %.4f  val %.4f  %.0f tok/s", e.step, e.trainLoss, e.validationLoss, e.tokensPerSecond))
        }
    }

    func log(_ s: String) { FileHandle.standardError.write((s + "\n").data(using: .utf8)!) }
}

func formatDuration(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return s >= 3600 ? "\(s / 3600)h\(s % 3600 / 60)m" : s >= 60 ? "\(s / 60)m\(s % 60)s" : "\(s)s"
}
