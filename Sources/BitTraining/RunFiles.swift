import BitKernels
import Foundation

extension Trainer {
    /// The run's evaluations as JSON: the shape, the settings, one object per evaluation, and the
    /// `version` and `commit` of the build that trained.
    ///
    /// ```swift
    /// let json = String(decoding: trainer.evaluationLogJSON(), as: UTF8.self)
    /// ```
    public func evaluationLogJSON() -> Data {
        struct Log: JSONDocument {
            var configuration: ModelConfiguration
            var settings: TrainingSettings
            var threads: Int
            var data: String
            var tokenizer: String
            var evaluations: [Evaluation]
        }
        let log = Log(configuration: model.configuration, settings: settings, threads: model.threads,
                      data: "\(data.tokens.count) tokens, \(data.trainCount) train", tokenizer: data.tokenizerName, evaluations: evaluations)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return (try? encoder.encode(Stamped(log))) ?? Data()
    }

    /// Writes `evaluations.json` and `loss.svg` into `directory`, each atomically.
    ///
    /// ```swift
    /// try trainer.writeRunFiles(to: "run")
    /// ```
    public func writeRunFiles(to directory: String) throws(TrainingError) {
        try writeFile(evaluationLogJSON(), to: directory + "/evaluations.json")
        try writeFile(Data(lossCurveSVG().utf8), to: directory + "/loss.svg")
    }

    /// An SVG loss curve: training and validation loss against step, labelled axes, the run's
    /// settings in the title.
    public func lossCurveSVG() -> String {
        let c = model.configuration, s = settings
        let title = "BitNet b1.58 \(c.precision.rawValue): \(c.layers) layers, width \(c.width), \(c.heads) heads, context \(s.context), "
            + "batch \(s.batch), \(s.steps) steps, lr \(s.schedule.peak) \(s.schedule.decay.rawValue)\(s.schedule.twoStage ? " two-stage" : ""), seed \(s.seed)"
        let points = evaluations
        let w = 720.0, h = 420.0, left = 60.0, right = 20.0, top = 40.0, bottom = 50.0
        let losses = points.flatMap { [$0.trainLoss, $0.validationLoss] }.filter(\.isFinite)
        let lo = (losses.min() ?? 0) * 0.95, hi = max((losses.max() ?? 1) * 1.02, lo + 1e-3)
        let maxStep = Double(max(s.steps, 1))
        func x(_ step: Int) -> Double { left + Double(step) / maxStep * (w - left - right) }
        func y(_ v: Double) -> Double { top + (hi - v) / (hi - lo) * (h - top - bottom) }
        func line(_ key: KeyPath<Evaluation, Double>, _ colour: String) -> String {
            let pts = points.filter { $0[keyPath: key].isFinite }.map { String(format: "%.1f,%.1f", x($0.step), y($0[keyPath: key])) }
            return "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(pts.joined(separator: " "))\"/>"
        }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        svg += "<text x=\"\(Int(w / 2))\" y=\"20\" text-anchor=\"middle\" font-size=\"11\">\(title)</text>\n"
        svg += "<line x1=\"\(left)\" y1=\"\(h - bottom)\" x2=\"\(w - right)\" y2=\"\(h - bottom)\" stroke=\"black\"/>\n"
        svg += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(h - bottom)\" stroke=\"black\"/>\n"
        for i in 0...4 {
            let v = lo + (hi - lo) * Double(i) / 4, step = Int(maxStep * Double(i) / 4)
            svg += String(format: "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n", left - 5, y(v) + 4, v)
            svg += String(format: "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%d</text>\n", x(step), h - bottom + 16, step)
        }
        svg += "<text x=\"\(Int(w / 2))\" y=\"\(Int(h - 10))\" text-anchor=\"middle\">step</text>\n"
        svg += "<text x=\"15\" y=\"\(Int(h / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 15 \(Int(h / 2)))\">loss (nats per token)</text>\n"
        svg += line(\.trainLoss, "#1f77b4") + "\n" + line(\.validationLoss, "#d62728") + "\n"
        svg += "<text x=\"\(Int(w - 160))\" y=\"\(Int(top + 15))\" fill=\"#1f77b4\">train</text>\n"
        svg += "<text x=\"\(Int(w - 100))\" y=\"\(Int(top + 15))\" fill=\"#d62728\">validation</text>\n"
        svg += "</svg>\n"
        return svg
    }
}
