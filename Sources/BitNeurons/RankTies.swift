/// How rank encoding chooses among pixels of equal intensity at its cut-off. In sparse images the
/// cut-off is usually 0, so the rule decides where the leftover bits of the background go.
///
/// ```swift
/// let bits = RankTieRule.blur.rankBits(image, columns: 28, k: 118)   // 118 pixel indices
/// ```
public enum RankTieRule: String, CaseIterable, Sendable, Codable {
    /// The lowest pixel indices first (reading order): leftover bits fill the top-left corner, the
    /// same bits in every sparse image.
    case index
    /// The brightest 3 × 3 neighbourhood first (a box-blurred copy), then the lowest index: the
    /// leftover bits thicken the strokes.
    case blur
    /// The nearest ink first (city-block distance to a non-zero pixel), then the lowest index: a
    /// halo around the strokes that reaches further than the blur.
    case distance
    /// No leftover bits: pixels of intensity 0 are never set, so a sparse image sets fewer than k
    /// bits (Jaccard scoring compares densities fairly).
    case ink

    /// The indices of the k pixels rank encoding sets under this rule (fewer for `.ink` when the
    /// image has fewer than k non-zero pixels), ascending.
    public func rankBits(_ pixels: ArraySlice<UInt8>, columns: Int, k: Int) -> [Int] {
        let n = pixels.count
        precondition(k >= 0 && k <= n && columns >= 1 && n % columns == 0, "rankBits: k \(k), \(n) pixels, \(columns) columns")
        var histogram = [Int](repeating: 0, count: 256)
        for p in pixels { histogram[Int(p)] += 1 }
        // The cut-off c: fewer than k pixels are brighter than c, at least k are at least c.
        var above = 0, c = 255
        while c > 0 && above + histogram[c] < k {
            above += histogram[c]
            c -= 1
        }
        let base = pixels.startIndex
        var chosen: [Int] = []
        chosen.reserveCapacity(k)
        for i in 0..<n where Int(pixels[base + i]) > c { chosen.append(i) }
        let wanted = k - chosen.count
        if wanted > 0 && !(self == .ink && c == 0) {
            let tied = (0..<n).filter { Int(pixels[base + $0]) == c }
            let picked: [Int]
            switch self {
            case .index, .ink:
                picked = Array(tied.prefix(wanted))
            case .blur:
                let key = boxBlur(pixels, columns: columns)
                picked = Array(tied.sorted { key[$0] > key[$1] || (key[$0] == key[$1] && $0 < $1) }.prefix(wanted))
            case .distance:
                let d = inkDistance(pixels, columns: columns)
                picked = Array(tied.sorted { d[$0] < d[$1] || (d[$0] == d[$1] && $0 < $1) }.prefix(wanted))
            }
            chosen += picked
        }
        return chosen.sorted()
    }
}

/// Sum of each pixel's 3 × 3 neighbourhood (edges clipped).
func boxBlur(_ pixels: ArraySlice<UInt8>, columns: Int) -> [Int] {
    let rows = pixels.count / columns, base = pixels.startIndex
    var out = [Int](repeating: 0, count: pixels.count)
    for r in 0..<rows {
        for c in 0..<columns {
            var s = 0
            for dr in -1...1 where r + dr >= 0 && r + dr < rows {
                for dc in -1...1 where c + dc >= 0 && c + dc < columns { s += Int(pixels[base + (r + dr) * columns + c + dc]) }
            }
            out[r * columns + c] = s
        }
    }
    return out
}

/// City-block distance from each pixel to the nearest non-zero pixel (two-pass chamfer; an image
/// without ink gets rows + columns everywhere).
func inkDistance(_ pixels: ArraySlice<UInt8>, columns: Int) -> [Int] {
    let rows = pixels.count / columns, base = pixels.startIndex, far = rows + columns
    var d = (0..<pixels.count).map { pixels[base + $0] > 0 ? 0 : far }
    for r in 0..<rows {
        for c in 0..<columns {
            let i = r * columns + c
            if r > 0 { d[i] = min(d[i], d[i - columns] + 1) }
            if c > 0 { d[i] = min(d[i], d[i - 1] + 1) }
        }
    }
    for r in stride(from: rows - 1, through: 0, by: -1) {
        for c in stride(from: columns - 1, through: 0, by: -1) {
            let i = r * columns + c
            if r < rows - 1 { d[i] = min(d[i], d[i + columns] + 1) }
            if c < columns - 1 { d[i] = min(d[i], d[i + 1] + 1) }
        }
    }
    return d
}
