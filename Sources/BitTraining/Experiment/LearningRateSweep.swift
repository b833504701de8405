import BitKernels
import Foundation

// The short learning-rate sweep that fixes each precision's rate before the grid (issue 14: "a
// short sweep at width 128, then fixed"). One small JSON file per point under `<runs>/sweep/`,
// so a sweep resumes point by point and the report can show it.

/// One point of a learning-rate sweep: the final validation loss of a short run (infinity when
/// the run diverged).
public struct SweepPoint: Sendable, Equatable, Codable, JSONDocument {
    /// The precision of the short run.
    public var precision: RunRecord.Precision
    /// Its width.
    public var width: Int
    /// Its seed.
    public var seed: UInt64
    /// Its steps (shorter than the grid's).
    public var steps: Int
    /// The peak learning rate tried.
    public var learningRate: Double
    /// The validation loss at the end (infinity: diverged).
    public var finalValidationLoss: Double

    /// A point from its values.
    public init(precision: RunRecord.Precision, width: Int, seed: UInt64, steps: Int, learningRate: Double, finalValidationLoss: Double) {
        self.precision = precision
        self.width = width
        self.seed = seed
        self.steps = steps
        self.learningRate = learningRate
        self.finalValidationLoss = finalValidationLoss
    }

    /// `<precision>-w<width>-s<seed>-lr<rate>`, the point's file name without `.json`.
    public var name: String { "\(precision.rawValue)-w\(width)-s\(seed)-lr\(learningRate)" }

    /// The rate with the lowest finite loss for each precision.
    ///
    /// ```swift
    /// SweepPoint.best(points)[.ternary]   // e.g. 0.002
    /// ```
    public static func best(_ points: [SweepPoint]) -> [RunRecord.Precision: Double] {
        var out = [RunRecord.Precision: (Double, Double)]()
        for p in points where p.finalValidationLoss.isFinite {
            if let current = out[p.precision], current.1 < p.finalValidationLoss || (current.1 == p.finalValidationLoss && current.0 < p.learningRate) { continue }
            out[p.precision] = (p.learningRate, p.finalValidationLoss)
        }
        return out.mapValues(\.0)
    }

    /// Every sweep point under `<runsDirectory>/sweep/`, sorted; none if there is no sweep.
    public static func load(from runsDirectory: String) throws(ExperimentError) -> [SweepPoint] {
        let directory = runsDirectory + "/sweep"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        var points = [SweepPoint]()
        for name in names.sorted() where name.hasSuffix(".json") {
            let path = directory + "/" + name
            let data = try readExperimentFile(path)
            do { points.append(try RunRecord.decoder().decode(SweepPoint.self, from: data)) } catch {
                throw .badData(path: path, reason: "not a sweep point: \(oneLine(error))")
            }
        }
        return points.sorted { ($0.precision, $0.width, $0.seed, $0.learningRate) < ($1.precision, $1.width, $1.seed, $1.learningRate) }
    }
}

extension WidthBitsGrid {
    /// Trains one short run per precision and rate at `width` (seed `seed`, `steps` steps, the
    /// grid's other settings) and returns every point, skipping points already on disk.
    ///
    /// ```swift
    /// let points = try grid.sweepLearningRates([5e-4, 1e-3, 2e-3, 4e-3], steps: 500, in: "runs", data: data, threads: 2)
    /// ```
    public func sweepLearningRates(
        _ rates: [Double], width: Int = 128, seed: UInt64 = 1, steps sweepSteps: Int, in directory: String,
        data: TextData, threads: Int, progress: (String) -> Void = { print($0) }
    ) throws -> [SweepPoint] {
        let sweepDirectory = directory + "/sweep"
        try makeDirectory(sweepDirectory)
        var short = self
        short.steps = sweepSteps
        short.evalEvery = sweepSteps
        short.frustrationEvery = sweepSteps
        for precision in precisions {
            for rate in rates {
                var point = SweepPoint(precision: precision, width: width, seed: seed, steps: sweepSteps, learningRate: rate, finalValidationLoss: .nan)
                let path = sweepDirectory + "/" + point.name + ".json"
                if FileManager.default.fileExists(atPath: path) { continue }
                let spec = WidthBitsRun(precision: precision, width: width, heads: max(1, width / 32), seed: seed, learningRate: rate)
                progress("sweep \(point.name): \(sweepSteps) steps")
                let checkpoints = sweepDirectory + "/" + point.name + "-checkpoints"
                do {
                    point.finalValidationLoss = try short.train(spec, data: data, threads: threads, checkpoints: checkpoints, progress: progress).finalValidationLoss
                } catch let error as ExperimentError {
                    guard case .badData(_, let reason) = error, reason.contains("the loss is") else { throw error }
                    point.finalValidationLoss = .infinity  // diverged: a result of the sweep, not a failure
                    progress("sweep \(point.name): diverged")
                }
                try writeFileAtomically(try RunRecord.encoder().encode(Stamped(point)), to: path)  // + version, commit
                try? FileManager.default.removeItem(atPath: checkpoints)
            }
        }
        return try SweepPoint.load(from: directory)
    }
}
