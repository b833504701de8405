import Foundation

/// Reads every run record under `runsDirectory` (one sub-directory per run holding
/// `record.json` and, if the record names it, its hidden-state file) and writes `REPORT.md` and
/// its SVG figures into `outputDirectory`. The same runs give a byte-identical report.
/// Returns the paths written.
///
/// ```swift
/// try writeWidthBitsReport(runsDirectory: "runs/width-bits", outputDirectory: "bench/experiments/width-bits")
/// ```
@discardableResult
public func writeWidthBitsReport(runsDirectory: String, outputDirectory: String) throws(ExperimentError) -> [String] {
    let runs = try loadRunRecords(runsDirectory)
    guard !runs.isEmpty else { throw .badData(path: runsDirectory, reason: "no run records (<run>/\(RunRecord.fileName))") }
    var report = try WidthBitsReport(runs: runs)
    report.sweep = try SweepPoint.load(from: runsDirectory)
    let markdown = report.render()
    try makeDirectory(outputDirectory)
    var written = [String]()
    for (name, svg) in report.figures {
        let path = outputDirectory + "/" + name
        try writeFileAtomically(Data(svg.utf8), to: path)
        written.append(path)
    }
    let path = outputDirectory + "/REPORT.md"
    try writeFileAtomically(Data(markdown.utf8), to: path)
    written.append(path)
    return written
}

/// A run record and the directory it was read from.
public struct LoadedRun: Sendable {
    /// The record.
    public var record: RunRecord
    /// The run directory it was read from.
    public var directory: String
}

/// The records in the sub-directories of `directory` (sorted by name); sub-directories without
/// a record are skipped (runs still training). Two records of the same run are an error.
public func loadRunRecords(_ directory: String) throws(ExperimentError) -> [LoadedRun] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw .missing(path: directory)
    }
    let names: [String]
    do { names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted() } catch {
        throw .io(path: directory, reason: "cannot list: \(error.localizedDescription)")
    }
    var runs = [LoadedRun]()
    var seen = [String: String]()
    for name in names where !name.hasPrefix(".") {
        let runDirectory = directory + "/" + name
        let path = runDirectory + "/" + RunRecord.fileName
        guard FileManager.default.fileExists(atPath: path) else { continue }
        let record = try RunRecord.read(from: path)
        if let other = seen[record.runName] {
            throw .badData(path: path, reason: "run \(record.runName) already recorded in \(other)")
        }
        seen[record.runName] = path
        runs.append(LoadedRun(record: record, directory: runDirectory))
    }
    return runs
}

/// Colours of the precisions in every figure.
private func colour(_ p: RunRecord.Precision) -> String {
    switch p {
    case .float: return "#1f77b4"
    case .ternary: return "#d62728"
    case .binary: return "#2ca02c"
    }
}

private let widthPalette = ["#440154", "#3b528b", "#21918c", "#5ec962", "#b8a200", "#e07000", "#a00000"]

/// A character as a report shows it: space ␣, newline ↵, tab ⇥.
private func visible(_ s: String) -> String {
    s.map { ch -> String in
        switch ch {
        case " ": return "␣"
        case "\n": return "↵"
        case "\t": return "⇥"
        case "|": return "\\|"
        default: return String(ch)
        }
    }.joined()
}

/// "2" or "2–3".
private func range(_ counts: [Int]) -> String {
    guard let low = counts.min(), let high = counts.max() else { return "0" }
    return low == high ? "\(low)" : "\(low)–\(high)"
}

/// A code span that survives backticks inside it.
private func code(_ s: String) -> String { s.contains("`") ? "`` \(s) ``" : "`\(s)`" }

struct WidthBitsReport {
    let runs: [LoadedRun]
    /// The learning-rate sweep under `<runs>/sweep/`, if any.
    var sweep: [SweepPoint] = []
    let widths: [Int]
    let precisions: [RunRecord.Precision]
    let lowBit: [RunRecord.Precision]
    var figures: [(String, String)] = []
    private var hiddenCache: [String: [Matrix]?] = [:]
    private var notes: [String] = []

    init(runs: [LoadedRun]) throws(ExperimentError) {
        self.runs = runs.sorted {
            ($0.record.precision, $0.record.width, $0.record.seed) < ($1.record.precision, $1.record.width, $1.record.seed)
        }
        widths = Array(Set(runs.map(\.record.width))).sorted()
        precisions = Array(Set(runs.map(\.record.precision))).sorted()
        lowBit = precisions.filter { $0 != .float }
    }

    // MARK: Grouping

    func cell(_ p: RunRecord.Precision, _ w: Int) -> [LoadedRun] {
        runs.filter { $0.record.precision == p && $0.record.width == w }
    }

    func stat(_ p: RunRecord.Precision, _ w: Int, _ value: (RunRecord) -> Double?) -> MeanSD {
        MeanSD(cell(p, w).compactMap { value($0.record) }.filter(\.isFinite))
    }

    /// Low-bit minus float final validation loss, paired by seed at the same width.
    func gap(_ p: RunRecord.Precision, _ w: Int) -> MeanSD {
        let floats = Dictionary(cell(.float, w).map { ($0.record.seed, $0.record.finalValidationLoss) }, uniquingKeysWith: { a, _ in a })
        return MeanSD(cell(p, w).compactMap { r in floats[r.record.seed].map { r.record.finalValidationLoss - $0 } }.filter(\.isFinite))
    }

    func series(_ title: String, _ p: RunRecord.Precision, _ value: (RunRecord.Precision, Int) -> MeanSD, dashed: Bool = false) -> ChartSeries {
        ChartSeries(name: title, color: colour(p), points: widths.map { (Double($0), value(p, $0)) }, dashed: dashed)
    }

    // MARK: Hidden states and CKA

    private mutating func hidden(_ run: LoadedRun) -> [Matrix]? {
        if let cached = hiddenCache[run.record.runName] { return cached }
        var loaded: [Matrix]? = nil
        if let file = run.record.hiddenStates {
            do { loaded = try readHiddenStates(file, relativeTo: run.directory) } catch {
                notes.append("Hidden states of \(run.record.runName) left out: \(error.description)")
            }
        }
        hiddenCache[run.record.runName] = loaded
        return loaded
    }

    /// CKA per block between two runs on the same validation sample; nil if either lacks states
    /// or the samples differ.
    private mutating func cka(_ a: LoadedRun, _ b: LoadedRun) -> [Double]? {
        guard let fa = a.record.hiddenStates, let fb = b.record.hiddenStates,
            fa.positions == fb.positions, fa.sampleOffset == fb.sampleOffset, fa.blocks == fb.blocks,
            let ha = hidden(a), let hb = hidden(b)
        else { return nil }
        return zip(ha, hb).map { linearCKA($0, $1) }
    }

    struct CKATables {
        /// [width][p1][p2] → per-pair CKA vectors (per block); p1 == p2: seed pairs.
        var pairs: [Int: [RunRecord.Precision: [RunRecord.Precision: [[Double]]]]] = [:]
    }

    private mutating func computeCKA() -> CKATables {
        var t = CKATables()
        for w in widths {
            var byPair: [RunRecord.Precision: [RunRecord.Precision: [[Double]]]] = [:]
            for (i, p) in precisions.enumerated() {
                for q in precisions[i...] {
                    var values = [[Double]]()
                    if p == q {
                        let c = cell(p, w)
                        for x in 0..<c.count { for y in (x + 1)..<max(c.count, x + 1) { if let v = cka(c[x], c[y]) { values.append(v) } } }
                    } else {
                        for a in cell(p, w) {
                            if let b = cell(q, w).first(where: { $0.record.seed == a.record.seed }), let v = cka(a, b) { values.append(v) }
                        }
                    }
                    byPair[p, default: [:]][q] = values
                    byPair[q, default: [:]][p] = values
                }
            }
            t.pairs[w] = byPair
        }
        return t
    }

    // MARK: Frustration

    /// Per run: steps sampled and, per step, the mean over layers and matrices of `value`.
    func frustrationCurve(_ r: RunRecord, _ value: (FrustrationSample) -> Double?) -> [(step: Int, value: Double)] {
        var byStep = [Int: [Double]]()
        for s in r.frustration { if let v = value(s), v.isFinite { byStep[s.step, default: []].append(v) } }
        return byStep.keys.sorted().map { ($0, byStep[$0]!.reduce(0, +) / Double(byStep[$0]!.count)) }
    }

    /// Mean of `value` over the samples in the last quarter of training that `include` accepts.
    func late(_ r: RunRecord, include: (FrustrationSample) -> Bool = { _ in true }, _ value: (FrustrationSample) -> Double?) -> Double? {
        let from = Double(r.steps) * 0.75
        let v = r.frustration.filter { Double($0.step) >= from && include($0) }.compactMap(value).filter(\.isFinite)
        return v.isEmpty ? nil : v.reduce(0, +) / Double(v.count)
    }

    func matrixNames() -> [String] {
        let order = ["q", "k", "v", "o", "gate", "up", "down"]
        let names = Set(runs.flatMap { $0.record.frustration.map(\.matrix) })
        return order.filter(names.contains) + names.subtracting(order).sorted()
    }

    // MARK: Render

    mutating func render() -> String {
        var md = ""
        let records = runs.map(\.record)
        let seedsPer = widths.flatMap { w in precisions.map { cell($0, w).count } }
        let steps = Array(Set(records.map(\.steps))).sorted()
        let layers = Array(Set(records.map(\.layers))).sorted()
        md += "# Width × bits: native low-bit training across embedding widths\n\n"
        md += "Generated by `writeWidthBitsReport` from \(records.count) run records; every number and figure below comes from them. "
        md += "Precisions: \(precisions.map(\.rawValue).joined(separator: ", ")); widths: \(widths.map(String.init).joined(separator: ", ")); "
        md += "seeds per cell: \(range(seedsPer.filter { $0 > 0 })); steps per run: \(steps.map(String.init).joined(separator: ", ")); layers: \(layers.map(String.init).joined(separator: ", ")). "
        md += "Error bars and ± are one sample standard deviation over seeds; n is the number of seeds.\n\n"
        if steps.count > 1 || Set(records.map(\.layers)).count > 1 || Set(records.map(\.context)).count > 1 || Set(records.map(\.batch)).count > 1 {
            notes.append("The runs differ in steps, layers, context or batch; every table pools them by precision and width. Compare such runs with care.")
        }

        // Runs.
        md += "## Runs\n\n| run | heads | context | batch | steps | lr | threads | tokens | wall s | final val loss |\n|---|---|---|---|---|---|---|---|---|---|\n"
        for r in records {
            md += "| \(r.runName) | \(r.heads) | \(r.context) | \(r.batch) | \(r.steps) | \(fmtG(r.learningRate)) | \(r.threads) | \(r.tokensSeen) | \(fmt(r.wallSeconds, 0)) | \(fmt(r.finalValidationLoss, 4)) |\n"
        }
        md += "\n"

        // 0. Learning-rate sweep, if one was run.
        if !sweep.isEmpty {
            let rates = Array(Set(sweep.map(\.learningRate))).sorted()
            let sweepPrecisions = Array(Set(sweep.map(\.precision))).sorted()
            let best = SweepPoint.best(sweep)
            let settings = Array(Set(sweep.map { "width \($0.width), seed \($0.seed), \($0.steps) steps" })).sorted()
            md += "## Learning-rate sweep\n\nFinal validation loss (nats/char) of short runs (\(settings.joined(separator: "; "))); ∞ = diverged; * = lowest per precision.\n\n"
            md += "| peak lr | " + sweepPrecisions.map(\.rawValue).joined(separator: " | ") + " |\n|---|" + String(repeating: "---|", count: sweepPrecisions.count) + "\n"
            for r in rates {
                md += "| \(fmtG(r)) | " + sweepPrecisions.map { p in
                    guard let point = sweep.first(where: { $0.precision == p && $0.learningRate == r }) else { return "—" }
                    let v = point.finalValidationLoss.isFinite ? fmt(point.finalValidationLoss, 4) : "∞"
                    return best[p] == r ? v + " *" : v
                }.joined(separator: " | ") + " |\n"
            }
            md += "\n"
        }

        // 1. Loss.
        md += "## 1. Validation loss vs width\n\nFinal validation loss (nats/char), mean ± sd (n) over seeds.\n\n"
        md += table(header: "width", columns: precisions.map(\.rawValue)) { w in precisions.map { stat($0, w) { $0.finalValidationLoss }.formatted(3) } }
        addFigure("loss-vs-width.svg", lineChart(
            title: "Final validation loss vs width", xLabel: "embedding width (log scale)", yLabel: "validation loss (nats/char)",
            series: precisions.map { p in series(p.rawValue, p) { q, w in stat(q, w) { $0.finalValidationLoss } } }, logX: true))
        md += "![validation loss vs width](loss-vs-width.svg)\n\n"
        md += "Validation loss during training, one line per width (mean ± sd over seeds at each evaluation):\n\n"
        for p in precisions {
            var lines = [ChartSeries]()
            for (i, w) in widths.enumerated() {
                let curves = cell(p, w).map(\.record.validationLoss)
                let stepSet = Array(Set(curves.flatMap { $0.map(\.step) })).sorted()
                let points = stepSet.map { s in (Double(s), MeanSD(curves.compactMap { c in c.first { $0.step == s }?.loss }.filter(\.isFinite))) }
                if !points.isEmpty { lines.append(ChartSeries(name: "width \(w)", color: widthPalette[i % widthPalette.count], points: points)) }
            }
            guard !lines.isEmpty else { continue }
            let file = "val-loss-\(p.rawValue).svg"
            addFigure(file, lineChart(
                title: "\(p.rawValue.capitalized): validation loss during training", xLabel: "training step",
                yLabel: "validation loss (nats/char)", series: lines, logX: false))
            md += "![\(p.rawValue) validation loss](\(file))\n\n"
        }

        // 2. Gap.
        md += "## 2. Low-bit gap to float vs width\n\nLow-bit minus float final validation loss, paired by seed at the same width (n = seeds with both runs).\n\n"
        if lowBit.isEmpty || !precisions.contains(.float) {
            md += "Not measurable: the runs need float and at least one low-bit precision.\n\n"
        } else {
            md += table(header: "width", columns: lowBit.map { "\($0.rawValue) − float" }) { w in lowBit.map { gap($0, w).formatted(3) } }
            addFigure("gap-vs-width.svg", lineChart(
                title: "Low-bit − float validation loss vs width", xLabel: "embedding width (log scale)", yLabel: "loss gap (nats/char)",
                series: lowBit.map { p in series("\(p.rawValue) − float", p) { q, w in gap(q, w) } }, logX: true))
            md += "![gap vs width](gap-vs-width.svg)\n\n"
        }

        // 3. Geometry.
        md += "## 3. Geometry: effective rank and isotropy\n\n"
        md += "Effective rank (exp of the entropy of the normalized singular values of the mean-centred states) and participation ratio ((Σσ²)²/Σσ⁴) "
        md += "of the token embedding table and of the last block's hidden states on the fixed validation sample; isotropy as the mean cosine between states of different positions "
        md += "(0 = isotropic, 1 = all alike). The hidden-state rank cannot exceed min(positions − 1, width).\n\n"
        md += "| width | precision | embedding erank | last-block erank | erank / width | last-block PR | embedding mean cos | last-block mean cos |\n|---|---|---|---|---|---|---|---|\n"
        for w in widths {
            for p in precisions where !cell(p, w).isEmpty {
                let last = { (r: RunRecord) in r.geometry.hiddenStates.last! }
                md += "| \(w) | \(p.rawValue) | \(stat(p, w) { $0.geometry.embedding.effectiveRank }.formatted(1)) | \(stat(p, w) { last($0).effectiveRank }.formatted(1)) | "
                md += "\(stat(p, w) { last($0).effectiveRank / Double($0.width) }.formatted(3)) | \(stat(p, w) { last($0).participationRatio }.formatted(1)) | "
                md += "\(stat(p, w) { $0.geometry.embedding.meanCosine }.formatted(3)) | \(stat(p, w) { last($0).meanCosine }.formatted(3)) |\n"
            }
        }
        md += "\n"
        let blocks = layers.max()! + 1
        md += "Effective rank by block (0 = embedding output, l = after block l), means over seeds:\n\n"
        md += "| width | precision | " + (0..<blocks).map { "block \($0)" }.joined(separator: " | ") + " |\n|---|---|" + String(repeating: "---|", count: blocks) + "\n"
        for w in widths {
            for p in precisions where !cell(p, w).isEmpty {
                md += "| \(w) | \(p.rawValue) | " + (0..<blocks).map { b in
                    let s = stat(p, w) { b < $0.geometry.hiddenStates.count ? $0.geometry.hiddenStates[b].effectiveRank : nil }
                    return s.n > 0 ? fmt(s.mean, 1) : "—"
                }.joined(separator: " | ") + " |\n"
            }
        }
        md += "\n"
        addFigure("erank-vs-width.svg", lineChart(
            title: "Effective rank vs width (solid: last block; dashed: embedding table)", xLabel: "embedding width (log scale)", yLabel: "effective rank",
            series: precisions.map { p in series("\(p.rawValue) last block", p) { q, w in stat(q, w) { $0.geometry.hiddenStates.last!.effectiveRank } } }
                + precisions.map { p in series("\(p.rawValue) embedding", p, { q, w in stat(q, w) { $0.geometry.embedding.effectiveRank } }, dashed: true) },
            logX: true))
        addFigure("isotropy-vs-width.svg", lineChart(
            title: "Mean cosine between positions vs width (solid: last block; dashed: embedding)", xLabel: "embedding width (log scale)", yLabel: "mean pairwise cosine",
            series: precisions.map { p in series("\(p.rawValue) last block", p) { q, w in stat(q, w) { $0.geometry.hiddenStates.last!.meanCosine } } }
                + precisions.map { p in series("\(p.rawValue) embedding", p, { q, w in stat(q, w) { $0.geometry.embedding.meanCosine } }, dashed: true) },
            logX: true))
        md += "![effective rank vs width](erank-vs-width.svg)\n\n![isotropy vs width](isotropy-vs-width.svg)\n\n"

        // 4. CKA.
        let ckaTables = computeCKA()
        let lastCKA = { (w: Int, p: RunRecord.Precision, q: RunRecord.Precision) -> MeanSD in
            MeanSD((ckaTables.pairs[w]?[p]?[q] ?? []).compactMap(\.last))
        }
        md += "## 4. Similarity of solutions: linear CKA\n\n"
        md += "Linear CKA (centred; Kornblith et al. 2019) between the last block's hidden states for the same validation positions. "
        md += "Diagonal: seed vs seed within a precision (all seed pairs); off-diagonal: different precisions at the same width and seed.\n\n"
        var panels = [(title: String, labels: [String], values: [[Double?]])]()
        for w in widths {
            md += "**Width \(w)**\n\n"
            md += table(header: "", columns: precisions.map(\.rawValue), rows: precisions.map(\.rawValue)) { i in
                precisions.map { lastCKA(w, precisions[i], $0).formatted(3) }
            }
            panels.append((
                "width \(w)", precisions.map(\.rawValue),
                precisions.map { p in precisions.map { q in let s = lastCKA(w, p, q); return s.n > 0 ? s.mean : nil } }))
        }
        addFigure("cka-matrices.svg", heatMaps(title: "Linear CKA of last-block hidden states", panels: panels))
        md += "![CKA matrices](cka-matrices.svg)\n\n"
        addFigure("cka-seeds-vs-width.svg", lineChart(
            title: "Seed-vs-seed CKA within a precision (last block)", xLabel: "embedding width (log scale)", yLabel: "linear CKA",
            series: precisions.map { p in series(p.rawValue, p) { q, w in lastCKA(w, q, q) } }, logX: true))
        md += "![seed vs seed CKA](cka-seeds-vs-width.svg)\n\n"
        md += "Seed-vs-seed CKA by block (means over seed pairs):\n\n"
        md += "| width | precision | " + (0..<blocks).map { "block \($0)" }.joined(separator: " | ") + " |\n|---|---|" + String(repeating: "---|", count: blocks) + "\n"
        for w in widths {
            for p in precisions {
                let pairs = ckaTables.pairs[w]?[p]?[p] ?? []
                guard !pairs.isEmpty else { continue }
                md += "| \(w) | \(p.rawValue) | " + (0..<blocks).map { b in
                    let s = MeanSD(pairs.compactMap { b < $0.count ? $0[b] : nil })
                    return s.n > 0 ? fmt(s.mean, 3) : "—"
                }.joined(separator: " | ") + " |\n"
            }
        }
        md += "\n"

        // 5. Frustration.
        md += "## 5. Frustration during training\n\n"
        let lowRuns = records.filter { !$0.frustration.isEmpty }
        if lowRuns.isEmpty {
            md += "No run recorded frustration samples.\n\n"
        } else {
            md += "Per matrix: shares of codes at −1/0/+1, share of latent weights within 5% of a step of a rounding threshold, ‖W − Wq‖/‖W‖, and the flip rate "
            md += "(codes changed per code per step since the previous sample). \"Late\" = mean over the samples in the last quarter of training, over all layers and matrices.\n\n"
            md += "| width | precision | −1 | 0 | +1 | near threshold | ‖W−Wq‖/‖W‖ | late flip rate |\n|---|---|---|---|---|---|---|---|\n"
            for w in widths {
                for p in lowBit where !cell(p, w).isEmpty {
                    let view = self
                    let l = { (f: @escaping (FrustrationSample) -> Double?) in view.stat(p, w) { view.late($0, f) } }
                    md += "| \(w) | \(p.rawValue) | \(l { $0.stats.shareNegative }.formatted(3)) | \(l { $0.stats.shareZero }.formatted(3)) | \(l { $0.stats.sharePositive }.formatted(3)) | "
                    let flip = l { $0.flipRate }
                    md += "\(l { $0.stats.nearThresholdShare }.formatted(3)) | \(l { $0.stats.relativeError }.formatted(3)) | \(flip.n > 0 ? "\(fmtG(flip.mean)) ± \(fmtG(flip.sd)) (n=\(flip.n))" : "—") |\n"
                }
            }
            md += "\n"
            let matrices = matrixNames()
            md += "Late flip rate by matrix type (means over layers and seeds):\n\n"
            md += "| width | precision | " + matrices.joined(separator: " | ") + " |\n|---|---|" + String(repeating: "---|", count: matrices.count) + "\n"
            for w in widths {
                for p in lowBit where !cell(p, w).isEmpty {
                    md += "| \(w) | \(p.rawValue) | " + matrices.map { m in
                        let s = stat(p, w) { late($0, include: { $0.matrix == m }) { $0.flipRate } }
                        return s.n > 0 ? fmtG(s.mean) : "—"
                    }.joined(separator: " | ") + " |\n"
                }
            }
            md += "\n"
            let layerCount = layers.max()!
            md += "Late flip rate by layer (means over matrix types and seeds):\n\n"
            md += "| width | precision | " + (0..<layerCount).map { "layer \($0 + 1)" }.joined(separator: " | ") + " |\n|---|---|" + String(repeating: "---|", count: layerCount) + "\n"
            for w in widths {
                for p in lowBit where !cell(p, w).isEmpty {
                    md += "| \(w) | \(p.rawValue) | " + (0..<layerCount).map { l in
                        let s = stat(p, w) { late($0, include: { $0.layer == l }) { $0.flipRate } }
                        return s.n > 0 ? fmtG(s.mean) : "—"
                    }.joined(separator: " | ") + " |\n"
                }
            }
            md += "\n"
            for p in lowBit {
                var metrics = [
                    ("flip", "flip rate (per code per step)", "flip-rate-\(p.rawValue).svg"),
                    ("near", "share within 5% of a threshold", "near-threshold-\(p.rawValue).svg"),
                ]
                if p == .ternary { metrics.append(("zero", "share of codes at 0", "zero-share-\(p.rawValue).svg")) }
                for (metric, label, file) in metrics {
                    let value: (FrustrationSample) -> Double? =
                        metric == "flip" ? { $0.flipRate } : metric == "near" ? { $0.stats.nearThresholdShare } : { $0.stats.shareZero }
                    var lines = [ChartSeries]()
                    for (i, w) in widths.enumerated() {
                        let curves = cell(p, w).map { frustrationCurve($0.record, value) }
                        let stepSet = Array(Set(curves.flatMap { $0.map(\.step) })).sorted()
                        let points = stepSet.map { s in
                            (Double(s), MeanSD(curves.compactMap { c in c.first { $0.step == s }?.value }))
                        }
                        if !points.isEmpty {
                            lines.append(ChartSeries(name: "width \(w)", color: widthPalette[i % widthPalette.count], points: points))
                        }
                    }
                    guard !lines.isEmpty else { continue }
                    addFigure(file, lineChart(
                        title: "\(p.rawValue.capitalized): \(metric == "flip" ? "flip rate" : metric == "near" ? "near-threshold share" : "zero share") during training (all matrices)",
                        xLabel: "training step", yLabel: label, series: lines, logX: false))
                    md += "![\(p.rawValue) \(metric)](\(file))\n\n"
                }
            }
        }

        // 6. Characters.
        md += "## 6. Character structure of the embeddings\n\n"
        md += "Silhouette (cosine distance) of character classes in the token embedding table: kinds = whitespace, punctuation, digits, vowels, consonants, capitals; "
        md += "vowels/consonants and case over letters only. Case pairs: rank of a letter's other case among its neighbours by cosine (1 = nearest; chance ≈ vocabulary/2).\n\n"
        let setNames = CharacterClassSet.standard.map(\.name)
        md += "| width | precision | " + setNames.map { "silhouette: \($0)" }.joined(separator: " | ") + " | case-pair mean rank | partner nearest | partner cosine |\n|---|---|" + String(repeating: "---|", count: setNames.count + 3) + "\n"
        for w in widths {
            for p in precisions where !cell(p, w).isEmpty {
                md += "| \(w) | \(p.rawValue) | " + setNames.map { name in
                    stat(p, w) { $0.characters.classSets.first { $0.name == name }?.silhouette }.formatted(3)
                }.joined(separator: " | ")
                md += " | \(stat(p, w) { $0.characters.casePairs.meanRank }.formatted(1)) | \(stat(p, w) { $0.characters.casePairs.shareNearest }.formatted(2)) | \(stat(p, w) { $0.characters.casePairs.meanCosine }.formatted(3)) |\n"
            }
        }
        md += "\n"
        let kinds = CharacterClassSet.kinds.classNames
        md += "Silhouette per class (kinds), means over seeds:\n\n| width | precision | " + kinds.joined(separator: " | ") + " |\n|---|---|" + String(repeating: "---|", count: kinds.count) + "\n"
        for w in widths {
            for p in precisions where !cell(p, w).isEmpty {
                md += "| \(w) | \(p.rawValue) | " + kinds.map { k in
                    let s = stat(p, w) { $0.characters.classSets.first { $0.name == "kinds" }?.classes.first { $0.name == k }?.silhouette }
                    return s.n > 0 ? fmt(s.mean, 3) : "—"
                }.joined(separator: " | ") + " |\n"
            }
        }
        md += "\n"
        for w in Array(Set([widths.first!, widths.last!])).sorted() {
            let examples = precisions.compactMap { p in cell(p, w).first.map { (p, $0.record) } }
            let chars = examples.first?.1.characters.neighbours.map(\.character) ?? []
            guard !chars.isEmpty else { continue }
            md += "Nearest neighbours at width \(w) (seed " + examples.map { "\($0.1.seed) for \($0.0.rawValue)" }.joined(separator: ", ") + "), nearest first:\n\n"
            md += "| char | " + examples.map { $0.0.rawValue }.joined(separator: " | ") + " |\n|---|" + String(repeating: "---|", count: examples.count) + "\n"
            for ch in chars {
                md += "| \(code(visible(ch))) | " + examples.map { e in
                    guard let n = e.1.characters.neighbours.first(where: { $0.character == ch }) else { return "—" }
                    return code(n.neighbours.map { visible($0.character) }.joined(separator: " "))
                }.joined(separator: " | ") + " |\n"
            }
            md += "\n"
        }

        // 7. Findings and limits.
        md += findings(ckaTables)
        md += limits()
        if !notes.isEmpty {
            md += "## Notes\n\n" + notes.map { "- \($0)\n" }.joined() + "\n"
        }
        return md
    }

    private mutating func addFigure(_ name: String, _ svg: String) { figures.append((name, svg)) }

    /// A markdown table with one row per width (or per `rows` label) and one column per `columns`.
    func table(header: String, columns: [String], rows: [String]? = nil, cells: (Int) -> [String]) -> String {
        var s = "| \(header) | " + columns.joined(separator: " | ") + " |\n|---|" + String(repeating: "---|", count: columns.count) + "\n"
        if let rows {
            for (i, r) in rows.enumerated() { s += "| \(r) | " + cells(i).joined(separator: " | ") + " |\n" }
        } else {
            for w in widths { s += "| \(w) | " + cells(w).joined(separator: " | ") + " |\n" }
        }
        return s + "\n"
    }

    // MARK: Findings

    private func verdict(_ a: MeanSD, _ b: MeanSD) -> String {
        switch a.differsClearly(from: b) {
        case .some(true): return "beyond two standard errors of the difference"
        case .some(false): return "within two standard errors of the difference, not distinguishable from noise"
        case .none: return "without an error estimate (fewer than two seeds)"
        }
    }

    private func trend(_ values: [MeanSD]) -> String {
        let m = values.filter { $0.n > 0 }.map(\.mean)
        guard m.count > 2 else { return "" }
        let steps = zip(m, m.dropFirst()).map { $1 - $0 }
        if steps.allSatisfy({ $0 > 0 }) { return " It rises at every step in width." }
        if steps.allSatisfy({ $0 < 0 }) { return " It falls at every step in width." }
        return " It is not monotonic in width (" + m.map { fmt($0, 3) }.joined(separator: ", ") + ")."
    }

    private func findings(_ cka: CKATables) -> String {
        var md = "## Findings\n\nEach sentence is generated from the tables above; \"clearly\" means the difference of means exceeds twice its standard error.\n\n"
        let w0 = widths.first!, wn = widths.last!
        var n = 1
        func say(_ s: String) {
            md += "\(n). \(s)\n"
            n += 1
        }
        // Gap vs width.
        if precisions.contains(.float) {
            for p in lowBit {
                let g0 = gap(p, w0), gn = gap(p, wn)
                guard g0.n > 0, gn.n > 0 else { continue }
                if w0 == wn {
                    say("At width \(w0) the \(p.rawValue) − float gap is \(g0.formatted(3)) nats/char (figure: gap-vs-width.svg).")
                    continue
                }
                // No direction word for a change that does not show at the printed precision.
                let direction = fmt(g0.mean, 3) == fmt(gn.mean, 3)
                    ? "is unchanged"
                    : g0.mean >= 0 && gn.mean >= 0 ? (gn.mean > g0.mean ? "grows" : "shrinks") : (gn.mean > g0.mean ? "rises" : "falls")
                say("The \(p.rawValue) − float validation-loss gap (nats/char) \(direction) from \(g0.formatted(3)) at width \(w0) to \(gn.formatted(3)) at width \(wn), a change \(verdict(g0, gn)).\(trend(widths.map { gap(p, $0) })) (gap-vs-width.svg)")
            }
        }
        // Rank and isotropy vs float.
        if precisions.contains(.float) {
            for p in lowBit {
                var higher = 0, clearlyHigher = 0, clearlyLower = 0, compared = 0
                var moreIso = 0, clearlyMoreIso = 0, clearlyLessIso = 0
                for w in widths {
                    let a = stat(p, w) { $0.geometry.hiddenStates.last!.effectiveRank }, f = stat(.float, w) { $0.geometry.hiddenStates.last!.effectiveRank }
                    guard a.n > 0, f.n > 0 else { continue }
                    compared += 1
                    if a.mean > f.mean { higher += 1 }
                    if a.differsClearly(from: f) == true { if a.mean > f.mean { clearlyHigher += 1 } else { clearlyLower += 1 } }
                    let ai = stat(p, w) { $0.geometry.hiddenStates.last!.meanCosine }, fi = stat(.float, w) { $0.geometry.hiddenStates.last!.meanCosine }
                    if ai.mean < fi.mean { moreIso += 1 }
                    if ai.differsClearly(from: fi) == true { if ai.mean < fi.mean { clearlyMoreIso += 1 } else { clearlyLessIso += 1 } }
                }
                guard compared > 0 else { continue }
                let r0 = stat(p, w0) { $0.geometry.hiddenStates.last!.effectiveRank }, f0 = stat(.float, w0) { $0.geometry.hiddenStates.last!.effectiveRank }
                let rn = stat(p, wn) { $0.geometry.hiddenStates.last!.effectiveRank }, fn = stat(.float, wn) { $0.geometry.hiddenStates.last!.effectiveRank }
                say("Last-block effective rank: \(p.rawValue) is above float at \(higher) of \(compared) widths (clearly above at \(clearlyHigher), clearly below at \(clearlyLower)); at width \(w0) \(r0.formatted(1)) vs \(f0.formatted(1)), at width \(wn) \(rn.formatted(1)) vs \(fn.formatted(1)). (erank-vs-width.svg)")
                say("Isotropy: \(p.rawValue) last-block states have a lower mean cosine (more isotropic) than float at \(moreIso) of \(compared) widths (clearly lower at \(clearlyMoreIso), clearly higher at \(clearlyLessIso)). (isotropy-vs-width.svg)")
            }
        }
        // Seed similarity.
        var seedCKA = [(RunRecord.Precision, MeanSD)]()
        for p in precisions {
            let all = widths.flatMap { w in (cka.pairs[w]?[p]?[p] ?? []).compactMap(\.last) }
            if !all.isEmpty { seedCKA.append((p, MeanSD(all))) }
        }
        if seedCKA.count > 1 {
            var wins = [RunRecord.Precision: Int]()
            var compared = 0
            for w in widths {
                let v = precisions.compactMap { p -> (RunRecord.Precision, Double)? in
                    let s = MeanSD((cka.pairs[w]?[p]?[p] ?? []).compactMap(\.last))
                    return s.n > 0 ? (p, s.mean) : nil
                }
                guard v.count > 1 else { continue }
                compared += 1
                wins[v.max { $0.1 < $1.1 }!.0, default: 0] += 1
            }
            say("Seed-vs-seed CKA of the last block, pooled over widths: " + seedCKA.map { "\($0.0.rawValue) \($0.1.formatted(3))" }.joined(separator: ", ")
                + ". The most seed-consistent precision per width: " + precisions.compactMap { p in wins[p].map { "\(p.rawValue) at \($0) of \(compared)" } }.joined(separator: ", ") + " widths. (cka-seeds-vs-width.svg)")
        } else if seedCKA.isEmpty {
            say("No seed-vs-seed CKA could be computed (needs two seeds of a cell with hidden-state files).")
        }
        // Cross-precision CKA.
        if precisions.contains(.float) {
            for p in lowBit {
                let v0 = MeanSD((cka.pairs[w0]?[.float]?[p] ?? []).compactMap(\.last)), vn = MeanSD((cka.pairs[wn]?[.float]?[p] ?? []).compactMap(\.last))
                guard v0.n > 0 || vn.n > 0 else { continue }
                say("CKA between float and \(p.rawValue) runs of the same seed (last block): \(v0.formatted(3)) at width \(w0), \(vn.formatted(3)) at width \(wn). (cka-matrices.svg)")
            }
        }
        // Frustration.
        let matrices = matrixNames()
        for p in lowBit {
            let rs = runs.filter { $0.record.precision == p }.map(\.record)
            guard rs.contains(where: { !$0.frustration.isEmpty }) else { continue }
            let byMatrix = matrices.compactMap { m -> (String, Double)? in
                let v = rs.compactMap { late($0, include: { $0.matrix == m }) { $0.flipRate } }
                return v.isEmpty ? nil : (m, v.reduce(0, +) / Double(v.count))
            }
            let layerCount = rs.map(\.layers).max()!
            let byLayer = (0..<layerCount).compactMap { l -> (Int, Double)? in
                let v = rs.compactMap { late($0, include: { $0.layer == l }) { $0.flipRate } }
                return v.isEmpty ? nil : (l + 1, v.reduce(0, +) / Double(v.count))
            }
            if let topM = byMatrix.max(by: { $0.1 < $1.1 }), let lowM = byMatrix.min(by: { $0.1 < $1.1 }), let topL = byLayer.max(by: { $0.1 < $1.1 }), let lowL = byLayer.min(by: { $0.1 < $1.1 }) {
                say("\(p.rawValue.capitalized) frustration, late in training and pooled over widths and seeds: the flip rate is highest in \(topM.0) matrices (\(fmtG(topM.1))) and lowest in \(lowM.0) (\(fmtG(lowM.1))); by layer highest in layer \(topL.0) (\(fmtG(topL.1))), lowest in layer \(lowL.0) (\(fmtG(lowL.1))). (flip-rate-\(p.rawValue).svg)")
            }
            let f0 = stat(p, w0) { late($0) { $0.flipRate } }, fn = stat(p, wn) { late($0) { $0.flipRate } }
            let t0 = stat(p, w0) { late($0) { $0.stats.nearThresholdShare } }, tn = stat(p, wn) { late($0) { $0.stats.nearThresholdShare } }
            if f0.n > 0, fn.n > 0, w0 != wn {
                say("Width and \(p.rawValue) frustration: the late flip rate goes from \(f0.formattedG()) at width \(w0) to \(fn.formattedG()) at width \(wn), a change \(verdict(f0, fn)); the near-threshold share from \(t0.formatted(3)) to \(tn.formatted(3)).")
            }
            let early = rs.compactMap { r -> Double? in
                let c = frustrationCurve(r) { $0.flipRate }
                return c.first?.value
            }
            let lateAll = rs.compactMap { late($0) { $0.flipRate } }
            if !early.isEmpty, !lateAll.isEmpty {
                say("Over time (\(p.rawValue), all runs): the earliest measured flip rate averages \(fmtG(MeanSD(early).mean)), the last-quarter rate \(fmtG(MeanSD(lateAll).mean)).")
            }
        }
        // Characters at the narrowest width.
        if precisions.contains(.float) {
            let f = stat(.float, w0) { $0.characters.classSets.first { $0.name == "kinds" }?.silhouette }
            for p in lowBit {
                let s = stat(p, w0) { $0.characters.classSets.first { $0.name == "kinds" }?.silhouette }
                guard s.n > 0, f.n > 0 else { continue }
                // "better"/"worse" only for a difference beyond noise.
                let better = s.differsClearly(from: f) == true
                    ? (s.mean > f.mean ? "better" : "worse")
                    : (s.mean > f.mean ? "slightly (not clearly) better" : "slightly (not clearly) worse")
                let cp = stat(p, w0) { $0.characters.casePairs.meanRank }, cf = stat(.float, w0) { $0.characters.casePairs.meanRank }
                let perClass = CharacterClassSet.kinds.classNames.compactMap { k -> (String, Double)? in
                    let v = { (q: RunRecord.Precision) in
                        stat(q, w0) { $0.characters.classSets.first { $0.name == "kinds" }?.classes.first { $0.name == k }?.silhouette }
                    }
                    let a = v(p), b = v(.float)
                    return a.n > 0 && b.n > 0 ? (k, a.mean - b.mean) : nil
                }
                var classes = ""
                if let most = perClass.max(by: { $0.1 < $1.1 }), let least = perClass.min(by: { $0.1 < $1.1 }) {
                    classes = " By class (\(p.rawValue) − float silhouette): largest for \(most.0) (\(fmt(most.1, 3))), smallest for \(least.0) (\(fmt(least.1, 3)))."
                }
                say("At the narrowest width (\(w0)) \(p.rawValue) embeddings separate the character kinds \(better) than float: silhouette \(s.formatted(3)) vs \(f.formatted(3)), a difference \(verdict(s, f)); case partners rank \(cp.formatted(1)) vs \(cf.formatted(1)) among neighbours.\(classes)")
            }
        }
        return md + "\n"
    }

    private func limits() -> String {
        let records = runs.map(\.record)
        let seedCounts = widths.flatMap { w in precisions.map { cell($0, w).count } }.filter { $0 > 0 }
        let tokens = Array(Set(records.map(\.tokensSeen))).sorted()
        let positions = Array(Set(records.compactMap { $0.hiddenStates?.positions })).sorted()
        var lrs = [String]()
        for p in precisions {
            let v = Array(Set(runs.filter { $0.record.precision == p }.map(\.record.learningRate))).sorted()
            lrs.append("\(p.rawValue) \(v.map(fmtG).joined(separator: "/"))")
        }
        let sampleSteps = records.compactMap { r -> Int? in
            let steps = Array(Set(r.frustration.map(\.step))).sorted()
            return steps.count > 1 ? steps[1] - steps[0] : nil
        }
        var md = "## What the data cannot tell\n\n"
        md += "- **Noise:** seeds per cell: \(range(seedCounts)). Differences within twice their standard error are reported as such; with so few seeds a real effect of that size cannot be excluded either.\n"
        md += "- **Budget:** every run saw \(tokens.map(String.init).joined(separator: "/")) training tokens of one small character-level corpus. Wider models are further from convergence at a fixed budget, so a gap that changes with width may change differently at a larger budget; nothing here says how the trends extrapolate.\n"
        md += "- **Learning rates:** one per precision (\(lrs.joined(separator: "; "))), the same at every width\(sweep.isEmpty ? "" : " (the sweep above ran at width \(Array(Set(sweep.map(\.width))).sorted().map(String.init).joined(separator: "/")) only)"). A width-dependent optimum (as μP predicts for float) would bias the comparison across widths.\n"
        if let p = positions.last {
            md += "- **Rank ceilings:** hidden-state geometry is measured on \(p) fixed validation positions, so effective rank is bounded by \(p - 1); at widths near or above that, rank reflects the sample as much as the model.\n"
        }
        md += "- **Similarity:** linear CKA sees linear structure only; a low CKA does not mean the solutions differ non-linearly, and CKA across precisions compares models with different losses.\n"
        let samples = records.flatMap(\.frustration).filter { $0.flipRate != nil }
        if let k = sampleSteps.min(), samples.contains(where: { $0.flipsCountedEveryStep != true }) {
            md += "- **Flip rates:** frustration sampled every \(k) steps and some flip rates are differences of snapshots; codes that flip and flip back between samples are not counted there, so those rates are lower bounds.\n"
        } else if let k = sampleSteps.min() {
            md += "- **Flip rates:** counted at every step, but the other frustration statistics are sampled every \(k) steps; what happens between samples is averaged away.\n"
        }
        md += "- **Scope:** character-level Tiny Shakespeare with a 65-character vocabulary and \(Array(Set(records.map(\.layers))).sorted().map(String.init).joined(separator: "/")) layers. Whether any of this holds for subword vocabularies, deeper models or real scale needs those runs: more seeds (≥ 5), a token budget scaled with width, and a learning-rate sweep per width.\n\n"
        return md
    }
}
