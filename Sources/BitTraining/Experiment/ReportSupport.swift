import Foundation

// Numbers, formatting and hand-written SVG charts for the experiment reports. Everything here is
// deterministic: the same inputs give the same bytes.

/// Mean, sample standard deviation (n − 1) and count of a set of values.
public struct MeanSD: Sendable, Equatable {
    /// The mean (NaN for no values).
    public var mean: Double
    /// 0 when n < 2.
    public var sd: Double
    /// How many values.
    public var n: Int

    /// The statistics of `values`.
    ///
    /// ```swift
    /// MeanSD([1, 2, 3]).sd   // 1
    /// ```
    public init(_ values: [Double]) {
        n = values.count
        mean = n > 0 ? values.reduce(0, +) / Double(n) : .nan
        if n > 1 {
            let m = mean
            sd = (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(n - 1)).squareRoot()
        } else {
            sd = 0
        }
    }

    /// Standard error of the mean (0 when n < 2).
    public var standardError: Double { n > 1 ? sd / Double(n).squareRoot() : 0 }

    /// "1.234 ± 0.012 (n=3)", or "1.234 (n=1)", or "—" for no values.
    public func formatted(_ digits: Int) -> String {
        guard n > 0 else { return "—" }
        if n == 1 { return "\(fmt(mean, digits)) (n=1)" }
        return "\(fmt(mean, digits)) ± \(fmt(sd, digits)) (n=\(n))"
    }

    /// As `formatted`, with significant digits for small rates: "0.0021 ± 1.6e-05 (n=3)", "0.00107 (n=1)".
    public func formattedG() -> String {
        guard n > 0 else { return "—" }
        if n == 1 { return "\(fmtG(mean)) (n=1)" }
        return "\(fmtG(mean)) ± \(fmtG(sd)) (n=\(n))"
    }

    /// Whether two means differ by more than twice the standard error of their difference;
    /// nil when either has fewer than two values.
    public func differsClearly(from other: MeanSD) -> Bool? {
        guard n > 1, other.n > 1 else { return nil }
        let se = (standardError * standardError + other.standardError * other.standardError).squareRoot()
        return abs(mean - other.mean) > 2 * se
    }
}

/// Fixed-point formatting without a negative zero ("-0.000" becomes "0.000").
func fmt(_ x: Double, _ digits: Int) -> String {
    if x.isNaN { return "nan" }
    if x.isInfinite { return x > 0 ? "inf" : "-inf" }
    let s = String(format: "%.\(digits)f", x)
    if s.hasPrefix("-"), s.dropFirst().allSatisfy({ $0 == "0" || $0 == "." }) { return String(s.dropFirst()) }
    return s
}

/// Significant-digit formatting for small rates (flip rates ~1e-4): "%.3g".
func fmtG(_ x: Double) -> String {
    if x == 0 { return "0" }
    return String(format: "%.3g", x)
}

func xmlEscape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}

/// A line of a chart: points with error bars (± sd), drawn in `color`.
struct ChartSeries {
    var name: String
    var color: String
    var points: [(x: Double, y: MeanSD)]
    var dashed = false
}

/// "Nice" tick values (1, 2, 5 × 10^k steps) covering [low, high].
func niceTicks(_ low: Double, _ high: Double, count: Int = 5) -> [Double] {
    guard high > low else { return [low] }
    let raw = (high - low) / Double(count)
    let magnitude = pow(10, floor(log10(raw)))
    let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
    var ticks = [Double]()
    var t = ceil(low / step) * step
    while t <= high + step * 1e-9 {
        ticks.append(abs(t) < step * 1e-9 ? 0 : t)
        t += step
    }
    return ticks
}

func tickLabel(_ t: Double, ticks: [Double]) -> String {
    let step = ticks.count > 1 ? abs(ticks[1] - ticks[0]) : max(abs(t), 1)
    if step >= 1 { return fmt(t, 0) }
    return fmt(t, min(10, Int(ceil(-log10(step) - 1e-9))))  // steps are 1, 2, 5 × 10^k
}

/// A hand-written SVG line chart with error bars, labelled axes and a legend.
/// `logX` puts x on a log₂ scale with ticks at the data's x values (widths).
func lineChart(title: String, xLabel: String, yLabel: String, series: [ChartSeries], logX: Bool) -> String {
    let width = 680.0, height = 420.0
    let left = 78.0, right = 170.0, top = 44.0, bottom = 56.0
    let plotW = width - left - right, plotH = height - top - bottom
    let all = series.flatMap(\.points).filter { $0.y.n > 0 && $0.y.mean.isFinite }
    var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(fmt(width / 2, 1))" y="22" text-anchor="middle" font-size="\(title.count > 70 ? 12 : 14)">\(xmlEscape(title))</text>

        """
    guard !all.isEmpty else {
        svg += "<text x=\"\(fmt(left + plotW / 2, 1))\" y=\"\(fmt(top + plotH / 2, 1))\" text-anchor=\"middle\">no data</text>\n</svg>\n"
        return svg
    }
    let tx: (Double) -> Double = { logX ? log2($0) : $0 }
    var xLow = all.map { tx($0.x) }.min()!, xHigh = all.map { tx($0.x) }.max()!
    if xLow == xHigh { xLow -= 1; xHigh += 1 }
    let xPad = (xHigh - xLow) * 0.05
    xLow -= xPad
    xHigh += xPad
    var yLow = all.map { $0.y.mean - $0.y.sd }.min()!, yHigh = all.map { $0.y.mean + $0.y.sd }.max()!
    if yLow == yHigh { yLow -= max(abs(yLow) * 0.1, 1e-3); yHigh += max(abs(yHigh) * 0.1, 1e-3) }
    let yPad = (yHigh - yLow) * 0.06
    yLow -= yPad
    yHigh += yPad
    let px: (Double) -> Double = { left + (tx($0) - xLow) / (xHigh - xLow) * plotW }
    let py: (Double) -> Double = { top + (yHigh - $0) / (yHigh - yLow) * plotH }
    // Axes and grid.
    svg += "<rect x=\"\(fmt(left, 1))\" y=\"\(fmt(top, 1))\" width=\"\(fmt(plotW, 1))\" height=\"\(fmt(plotH, 1))\" fill=\"none\" stroke=\"black\"/>\n"
    let yTicks = niceTicks(yLow, yHigh)
    for t in yTicks {
        let y = py(t)
        svg += "<line x1=\"\(fmt(left, 1))\" y1=\"\(fmt(y, 1))\" x2=\"\(fmt(left + plotW, 1))\" y2=\"\(fmt(y, 1))\" stroke=\"#ddd\"/>\n"
        svg += "<text x=\"\(fmt(left - 6, 1))\" y=\"\(fmt(y + 4, 1))\" text-anchor=\"end\">\(tickLabel(t, ticks: yTicks))</text>\n"
    }
    let xTicks: [Double] = logX ? Array(Set(all.map(\.x))).sorted() : niceTicks(xLow, xHigh)
    for t in xTicks {
        let x = px(t)
        svg += "<line x1=\"\(fmt(x, 1))\" y1=\"\(fmt(top + plotH, 1))\" x2=\"\(fmt(x, 1))\" y2=\"\(fmt(top + plotH + 5, 1))\" stroke=\"black\"/>\n"
        let label = logX ? fmt(t, 0) : tickLabel(t, ticks: xTicks)
        svg += "<text x=\"\(fmt(x, 1))\" y=\"\(fmt(top + plotH + 19, 1))\" text-anchor=\"middle\">\(label)</text>\n"
    }
    svg += "<text x=\"\(fmt(left + plotW / 2, 1))\" y=\"\(fmt(height - 12, 1))\" text-anchor=\"middle\">\(xmlEscape(xLabel))</text>\n"
    svg += "<text transform=\"translate(18,\(fmt(top + plotH / 2, 1))) rotate(-90)\" text-anchor=\"middle\">\(xmlEscape(yLabel))</text>\n"
    // Series: line, error bars, markers.
    for s in series {
        let pts = s.points.filter { $0.y.n > 0 && $0.y.mean.isFinite }.sorted { $0.x < $1.x }
        guard !pts.isEmpty else { continue }
        let path = pts.map { "\(fmt(px($0.x), 1)),\(fmt(py($0.y.mean), 1))" }.joined(separator: " ")
        let dash = s.dashed ? " stroke-dasharray=\"5,3\"" : ""
        svg += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"1.8\"\(dash)/>\n"
        for p in pts {
            let x = px(p.x), y = py(p.y.mean)
            if p.y.sd > 0 {
                let y1 = py(p.y.mean - p.y.sd), y2 = py(p.y.mean + p.y.sd)
                svg += "<line x1=\"\(fmt(x, 1))\" y1=\"\(fmt(y1, 1))\" x2=\"\(fmt(x, 1))\" y2=\"\(fmt(y2, 1))\" stroke=\"\(s.color)\"/>\n"
                svg += "<line x1=\"\(fmt(x - 4, 1))\" y1=\"\(fmt(y1, 1))\" x2=\"\(fmt(x + 4, 1))\" y2=\"\(fmt(y1, 1))\" stroke=\"\(s.color)\"/>\n"
                svg += "<line x1=\"\(fmt(x - 4, 1))\" y1=\"\(fmt(y2, 1))\" x2=\"\(fmt(x + 4, 1))\" y2=\"\(fmt(y2, 1))\" stroke=\"\(s.color)\"/>\n"
            }
            if pts.count <= 40 {
                svg += "<circle cx=\"\(fmt(x, 1))\" cy=\"\(fmt(y, 1))\" r=\"3\" fill=\"\(s.color)\"/>\n"
            }
        }
    }
    // Legend.
    for (i, s) in series.enumerated() {
        let y = top + 12 + Double(i) * 18
        let x = left + plotW + 14
        let dash = s.dashed ? " stroke-dasharray=\"5,3\"" : ""
        svg += "<line x1=\"\(fmt(x, 1))\" y1=\"\(fmt(y - 4, 1))\" x2=\"\(fmt(x + 22, 1))\" y2=\"\(fmt(y - 4, 1))\" stroke=\"\(s.color)\" stroke-width=\"1.8\"\(dash)/>\n"
        svg += "<text x=\"\(fmt(x + 28, 1))\" y=\"\(fmt(y, 1))\">\(xmlEscape(s.name))</text>\n"
    }
    svg += "<text x=\"\(fmt(left + plotW + 14, 1))\" y=\"\(fmt(top + plotH, 1))\" font-size=\"10\" fill=\"#555\">bars: ± 1 sd over seeds</text>\n"
    svg += "</svg>\n"
    return svg
}

/// A hand-written SVG heat map of square matrices in [0, 1] side by side (one panel per
/// title), each cell labelled with its value.
func heatMaps(title: String, panels: [(title: String, labels: [String], values: [[Double?]])]) -> String {
    let cell = 46.0, gap = 40.0, labelW = 60.0, top = 64.0
    let panelW = { (p: (title: String, labels: [String], values: [[Double?]])) in labelW + cell * Double(p.labels.count) }
    let width = max(560, panels.reduce(20.0) { $0 + panelW($1) + gap })
    let maxN = panels.map(\.labels.count).max() ?? 1
    let height = top + cell * Double(maxN) + 56
    var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="11">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(fmt(width / 2, 1))" y="20" text-anchor="middle" font-size="14">\(xmlEscape(title))</text>

        """
    var x0 = 20.0
    for p in panels {
        let n = p.labels.count
        svg += "<text x=\"\(fmt(x0 + labelW + cell * Double(n) / 2, 1))\" y=\"\(fmt(top - 26, 1))\" text-anchor=\"middle\" font-size=\"12\">\(xmlEscape(p.title))</text>\n"
        for (j, l) in p.labels.enumerated() {
            svg += "<text x=\"\(fmt(x0 + labelW + cell * (Double(j) + 0.5), 1))\" y=\"\(fmt(top - 6, 1))\" text-anchor=\"middle\">\(xmlEscape(l))</text>\n"
        }
        for i in 0..<n {
            let y = top + cell * Double(i)
            svg += "<text x=\"\(fmt(x0 + labelW - 6, 1))\" y=\"\(fmt(y + cell / 2 + 4, 1))\" text-anchor=\"end\">\(xmlEscape(p.labels[i]))</text>\n"
            for j in 0..<n {
                let x = x0 + labelW + cell * Double(j)
                if let v = p.values[i][j], v.isFinite {
                    let c = max(0, min(1, v))
                    // white (0) → dark blue (1)
                    let r = Int(255 - 200 * c), g = Int(255 - 150 * c), b = Int(255 - 60 * c)
                    let fill = String(format: "#%02x%02x%02x", r, g, b)
                    let ink = c > 0.6 ? "white" : "black"
                    svg += "<rect x=\"\(fmt(x, 1))\" y=\"\(fmt(y, 1))\" width=\"\(fmt(cell, 1))\" height=\"\(fmt(cell, 1))\" fill=\"\(fill)\" stroke=\"white\"/>\n"
                    svg += "<text x=\"\(fmt(x + cell / 2, 1))\" y=\"\(fmt(y + cell / 2 + 4, 1))\" text-anchor=\"middle\" fill=\"\(ink)\">\(fmt(v, 2))</text>\n"
                } else {
                    svg += "<rect x=\"\(fmt(x, 1))\" y=\"\(fmt(y, 1))\" width=\"\(fmt(cell, 1))\" height=\"\(fmt(cell, 1))\" fill=\"#eee\" stroke=\"white\"/>\n"
                }
            }
        }
        x0 += panelW(p) + gap
    }
    svg += "<text x=\"20\" y=\"\(fmt(height - 28, 1))\" font-size=\"10\" fill=\"#555\">diagonal: seed vs seed within a precision (mean over seed pairs);</text>\n"
    svg += "<text x=\"20\" y=\"\(fmt(height - 14, 1))\" font-size=\"10\" fill=\"#555\">off-diagonal: the two precisions at the same seed (mean over seeds); grey: no pair</text>\n"
    svg += "</svg>\n"
    return svg
}
