import BitKernels

/// Sparse variants of an image set, for testing encodings beyond the density they were tuned on.
///
/// ```swift
/// let thin = mnist.transformed(.thinned)        // strokes eroded by one pixel
/// ```
public enum ImageVariant: String, CaseIterable, Sendable, Codable {
    /// Each pixel becomes the minimum of its 3 × 3 neighbourhood: strokes lose a pixel on each side.
    case thinned
    /// Only edges: the absolute difference to the right and lower neighbours (larger of the two).
    case edges
    /// Half of the ink pixels dropped (a fixed pseudo-random choice per image and pixel).
    case dropout
}

extension LabeledImages {
    /// The same images under `variant` (labels and sizes unchanged).
    public func transformed(_ variant: ImageVariant, seed: UInt64 = 7) -> LabeledImages {
        let n = pixelsPerImage, cols = columns, rows = self.rows
        var out = [UInt8](repeating: 0, count: pixels.count)
        var rng = SplitMix64(seed: seed)
        for i in 0..<count {
            let img = image(i), base = img.startIndex, o = i * n
            for r in 0..<rows {
                for c in 0..<cols {
                    let p = img[base + r * cols + c]
                    switch variant {
                    case .thinned:
                        var m = p
                        for dr in -1...1 where r + dr >= 0 && r + dr < rows {
                            for dc in -1...1 where c + dc >= 0 && c + dc < cols { m = min(m, img[base + (r + dr) * cols + c + dc]) }
                        }
                        out[o + r * cols + c] = m
                    case .edges:
                        let right = c + 1 < cols ? img[base + r * cols + c + 1] : 0
                        let down = r + 1 < rows ? img[base + (r + 1) * cols + c] : 0
                        out[o + r * cols + c] = max(p > right ? p - right : right - p, p > down ? p - down : down - p)
                    case .dropout:
                        out[o + r * cols + c] = p > 0 && rng.next() & 1 == 0 ? p : 0
                    }
                }
            }
        }
        return LabeledImages(rows: rows, columns: cols, pixels: out, labels: labels)
    }
}

extension LabeledImages {
    /// Images already in memory (count × rows × columns pixels and count labels).
    public init(rows: Int, columns: Int, pixels: [UInt8], labels: [UInt8]) {
        precondition(rows > 0 && columns > 0 && pixels.count == labels.count * rows * columns,
                     "LabeledImages: \(pixels.count) pixels for \(labels.count) images of \(rows) × \(columns)")
        self.count = labels.count
        self.rows = rows
        self.columns = columns
        self.pixels = pixels
        self.labels = labels
    }
}
