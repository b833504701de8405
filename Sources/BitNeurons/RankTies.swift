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
            case .blur, .distance:
                // Rank the tied pixels by a small integer key (higher first) without sorting: find
                // the key at which the wanted count is reached, take everything above it and the
                // lowest indices at it.
                let key: [Int]
                if self == .blur {
                    key = boxBlur(pixels, columns: columns)
                } else {
                    let d = inkDistance(pixels, columns: columns), far = n / columns + columns
                    key = d.map { far - $0 }
                }
                let top = tied.reduce(0) { max($0, key[$1]) }
                var counts = [Int](repeating: 0, count: top + 1)
                for i in tied { counts[key[i]] += 1 }
                var cut = top, taken = 0
                while taken + counts[cut] < wanted {
                    taken += counts[cut]
                    cut -= 1
                }
                var atCut = wanted - taken
                var result: [Int] = []
                result.reserveCapacity(wanted)
                for i in tied {
                    if key[i] > cut {
                        result.append(i)
                    } else if key[i] == cut && atCut > 0 {
                        result.append(i)
                        atCut -= 1
                    }
                }
                picked = result
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
