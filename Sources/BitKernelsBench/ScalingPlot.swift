import BitKernels
import Foundation

/// The figure `tune --plot` draws: GB/s against threads, one series per policy.
///
/// Each series has its own colour, dash pattern and marker, and markers shrink from series to
/// series and are hollow, so series that coincide (policies planning the same PUs) stay visible
/// on top of each other; the legend also says which policy a series repeats. Every point has a
/// min–max bar (GB/s of the slowest and fastest sample). A dotted line is ideal scaling (the
/// first policy's one-thread throughput × threads, clipped to the plot), a dashed grey line the
/// read bandwidth of the same team measured in the same run (the best policy's at each count).
/// The subtitle names the CPU, the date and the commit; a red line warns when the working set
/// fits in the last-level cache. Ticks are round: 1, 2 or 5 × a power of ten.
///
/// ```swift
/// let svg = scalingSVG(report)
/// try writeAtomically(Array(svg.utf8), to: "scaling.svg")
/// ```
package func scalingSVG(_ report: TuneSweep.Report, stamp: BuildStamp = .current) -> String {
    let points = report.points
    let width = 840.0, height = 480.0, left = 70.0, right = 250.0, top = 66.0, bottom = 56.0
    let plotRight = width - right, plotBottom = height - bottom
    let bytes = Double(report.workingSetBytes)
    func gb(_ seconds: Double) -> Double { seconds > 0 ? bytes / seconds / 1e9 : 0 }

    let threadCounts = Set(points.map(\.threads)).sorted()
    let maxThreads = Double(threadCounts.last ?? 1)
    let bandwidth = threadCounts.map { t in (t, points.filter { $0.threads == t }.map(\.readBandwidthGBps).max() ?? 0) }
    let highest = max((points.map { gb($0.seconds.min) } + bandwidth.map(\.1) + points.map(\.gbPerSecond)).max() ?? 1, 1e-9)
    let yTicks = roundTicks(upTo: highest * 1.05)
    let maxGB = yTicks.last ?? 1
    let xTicks = maxThreads <= 16 ? threadCounts : roundTicks(upTo: maxThreads).map { Int($0) }.filter { $0 >= 1 }
    let pad = max(0.25, (maxThreads - 1) * 0.03)  // keep the first and last bars off the axes
    let x = { (t: Double) in left + (t - 1 + pad) / (maxThreads - 1 + 2 * pad) * (plotRight - left) }
    let y = { (g: Double) in plotBottom - g / maxGB * (plotBottom - top) }
    func n(_ v: Double) -> String { String(format: "%.1f", v) }

    var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
        <defs><clipPath id="plot"><rect x="\(n(left))" y="\(n(top))" width="\(n(plotRight - left))" height="\(n(plotBottom - top))"/></clipPath></defs>
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(n(left))" y="22" font-size="14">\(xmlEscaped("bitkernels tune \(report.kernel), \(report.workingSetBytes >> 20) MiB working set"))</text>
        <text x="\(n(left))" y="40" font-size="11" fill="#444">\(xmlEscaped("\(report.cpu) · \(report.date.replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: " UTC")) · commit \(stamp.commit) · BitKernels \(stamp.version) · points: median, bars: min–max"))</text>

        """
    if report.fitsInLastLevelCache {
        svg += "<text x=\"\(n(left))\" y=\"55\" font-size=\"11\" fill=\"#c00\">\(xmlEscaped("warning: the working set fits in the \(report.lastLevelCacheBytes >> 20) MiB last-level cache: these are cache figures, not memory scaling"))</text>\n"
    }
    for g in yTicks {
        svg += "<line x1=\"\(n(left - 4))\" y1=\"\(n(y(g)))\" x2=\"\(n(plotRight))\" y2=\"\(n(y(g)))\" stroke=\"#e4e4e4\"/>"
        svg += "<text x=\"\(n(left - 8))\" y=\"\(n(y(g) + 4))\" text-anchor=\"end\">\(tickLabel(g))</text>\n"
    }
    for t in xTicks {
        svg += "<line x1=\"\(n(x(Double(t))))\" y1=\"\(n(plotBottom))\" x2=\"\(n(x(Double(t))))\" y2=\"\(n(plotBottom + 4))\" stroke=\"black\"/>"
        svg += "<text x=\"\(n(x(Double(t))))\" y=\"\(n(plotBottom + 17))\" text-anchor=\"middle\">\(t)</text>\n"
    }
    svg += """
        <line x1="\(n(left))" y1="\(n(plotBottom))" x2="\(n(plotRight))" y2="\(n(plotBottom))" stroke="black"/>
        <line x1="\(n(left))" y1="\(n(top))" x2="\(n(left))" y2="\(n(plotBottom))" stroke="black"/>
        <text x="\(n((left + plotRight) / 2))" y="\(n(height - 14))" text-anchor="middle">threads</text>
        <text x="18" y="\(n((top + plotBottom) / 2))" transform="rotate(-90 18 \(n((top + plotBottom) / 2)))" text-anchor="middle">GB/s</text>

        """

    // Reference lines: ideal scaling and the measured read bandwidth.
    var legend: [(label: String, swatch: String)] = []
    var policies: [String] = []
    for p in points where !policies.contains(p.policy) { policies.append(p.policy) }
    if let first = policies.first, let one = points.first(where: { $0.policy == first && $0.threads == 1 }) {
        let ideal = [1.0, maxThreads].map { "\(n(x($0))),\(n(y(one.gbPerSecond * $0)))" }.joined(separator: " ")
        svg += "<polyline clip-path=\"url(#plot)\" fill=\"none\" stroke=\"#888\" stroke-width=\"1.5\" stroke-dasharray=\"2,3\" points=\"\(ideal)\"/>\n"
        legend.append(("ideal (1 thread × n)", "<line x1=\"0\" y1=\"6\" x2=\"24\" y2=\"6\" stroke=\"#888\" stroke-width=\"1.5\" stroke-dasharray=\"2,3\"/>"))
    }
    if !bandwidth.isEmpty {
        let line = bandwidth.map { "\(n(x(Double($0.0)))),\(n(y($0.1)))" }.joined(separator: " ")
        svg += "<polyline fill=\"none\" stroke=\"#555\" stroke-width=\"1.5\" stroke-dasharray=\"8,4\" points=\"\(line)\"/>\n"
        legend.append(("read bandwidth (same run)", "<line x1=\"0\" y1=\"6\" x2=\"24\" y2=\"6\" stroke=\"#555\" stroke-width=\"1.5\" stroke-dasharray=\"8,4\"/>"))
    }

    let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    let dashes = ["", "6,3", "2,2", "8,3,2,3", "1,3", "10,4"]
    for (i, policy) in policies.enumerated() {
        let color = colors[i % colors.count], dash = dashes[i % dashes.count]
        let size = max(6.0 - 1.2 * Double(i), 2.5)  // later series smaller: a coinciding one shows inside
        let series = points.filter { $0.policy == policy }.sorted { $0.threads < $1.threads }
        let coords = series.map { "\(n(x(Double($0.threads)))),\(n(y($0.gbPerSecond)))" }.joined(separator: " ")
        let dashAttribute = dash.isEmpty ? "" : " stroke-dasharray=\"\(dash)\""
        svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"\(dashAttribute) points=\"\(coords)\"/>\n"
        for p in series {
            let px = x(Double(p.threads)) + Double(i) * 2 - Double(policies.count - 1)  // bars side by side
            svg += "<line x1=\"\(n(px))\" y1=\"\(n(y(gb(p.seconds.max))))\" x2=\"\(n(px))\" y2=\"\(n(y(gb(p.seconds.min))))\" stroke=\"\(color)\" stroke-width=\"1\"/>"
            svg += marker(i, x: x(Double(p.threads)), y: y(p.gbPerSecond), size: size, color: color,
                          title: "\(policy), \(p.threads) thread(s): \(format(p.gbPerSecond, 2)) GB/s (\(format(gb(p.seconds.max), 2))–\(format(gb(p.seconds.min), 2)))")
            svg += "\n"
        }
        let repeats = Set(series.compactMap(\.sameAs))
        let label = policy + (repeats.isEmpty ? "" : " (same PUs as \(repeats.sorted().joined(separator: ", ")))")
        let swatch = "<line x1=\"0\" y1=\"6\" x2=\"24\" y2=\"6\" stroke=\"\(color)\" stroke-width=\"2\"\(dashAttribute)/>"
            + marker(i, x: 12, y: 6, size: size, color: color, title: policy)
        legend.insert((label, swatch), at: i)
    }
    for (i, item) in legend.enumerated() {
        let ly = top + 22 * Double(i)
        svg += "<g transform=\"translate(\(n(plotRight + 14)),\(n(ly)))\">\(item.swatch)<text x=\"30\" y=\"10\" font-size=\"11\">\(xmlEscaped(item.label))</text></g>\n"
    }
    return svg + "</svg>\n"
}

/// Marker `index` (circle, square, triangle, diamond, cross, plus), hollow, centred on (x, y).
func marker(_ index: Int, x: Double, y: Double, size s: Double, color: String, title: String) -> String {
    func n(_ v: Double) -> String { String(format: "%.1f", v) }
    let style = "fill=\"white\" fill-opacity=\"0\" stroke=\"\(color)\" stroke-width=\"1.6\""
    let shape: String
    switch index % 6 {
    case 0: shape = "<circle cx=\"\(n(x))\" cy=\"\(n(y))\" r=\"\(n(s))\" \(style)>"
    case 1: shape = "<rect x=\"\(n(x - s))\" y=\"\(n(y - s))\" width=\"\(n(2 * s))\" height=\"\(n(2 * s))\" \(style)>"
    case 2: shape = "<polygon points=\"\(n(x)),\(n(y - s)) \(n(x + s)),\(n(y + s)) \(n(x - s)),\(n(y + s))\" \(style)>"
    case 3: shape = "<polygon points=\"\(n(x)),\(n(y - s)) \(n(x + s)),\(n(y)) \(n(x)),\(n(y + s)) \(n(x - s)),\(n(y))\" \(style)>"
    case 4: shape = "<path d=\"M\(n(x - s)),\(n(y - s))L\(n(x + s)),\(n(y + s))M\(n(x - s)),\(n(y + s))L\(n(x + s)),\(n(y - s))\" \(style)>"
    default: shape = "<path d=\"M\(n(x - s)),\(n(y))L\(n(x + s)),\(n(y))M\(n(x)),\(n(y - s))L\(n(x)),\(n(y + s))\" \(style)>"
    }
    let close = shape.hasPrefix("<circle") ? "</circle>" : shape.hasPrefix("<rect") ? "</rect>" : shape.hasPrefix("<polygon") ? "</polygon>" : "</path>"
    return shape + "<title>\(xmlEscaped(title))</title>" + close
}

/// Round ticks from 0 to at least `maximum`: steps of 1, 2 or 5 × 10^k, three to six of them.
package func roundTicks(upTo maximum: Double) -> [Double] {
    guard maximum.isFinite, maximum > 0 else { return [0, 1] }
    let rough = maximum / 5
    let power = pow(10, (log10(rough)).rounded(.down))
    let step = [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= rough } ?? 10 * power
    let count = Int((maximum / step).rounded(.up))
    return (0...max(count, 1)).map { Double($0) * step }
}

/// A tick value without float noise: 0.2, 1, 2.5, 40.
func tickLabel(_ v: Double) -> String {
    if v == v.rounded() { return String(Int(v)) }
    var s = String(format: "%.6f", v)
    while s.hasSuffix("0") { s.removeLast() }
    return s
}

func xmlEscaped(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        .replacingOccurrences(of: "\"", with: "&quot;")
}
