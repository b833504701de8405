import BitKernels

/// k-means on float feature vectors (Lloyd's iterations from k-means++ seeds): the yardstick for
/// what plain clustering of the same features reaches, beside a bit-neuron population.
///
/// ```swift
/// let km = KMeans(clusters: 10, points: trainFeatures, dimension: 512, seed: 1)
/// let purity = km.purity(of: testFeatures, labels: testLabels)
/// ```
public struct KMeans: Sendable {
    /// k, the number of centroids.
    public let clusters: Int
    /// Features per point.
    public let dimension: Int
    /// clusters × dimension, row-major.
    public let centroids: [Float]

    /// Fits `clusters` centroids to `points` (each `dimension` floats, concatenated).
    public init(clusters: Int, points: [[Float]], dimension: Int, seed: UInt64, iterations: Int = 50) {
        precondition(clusters >= 1 && !points.isEmpty, "k-means needs at least one cluster and one point")
        self.clusters = clusters
        self.dimension = dimension
        var rng = SplitMix64(seed: seed)
        func uniform() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
        // k-means++: each next seed drawn with probability ∝ squared distance to the nearest seed.
        var c = points[Int(rng.next() % UInt64(points.count))]
        var nearest = points.map { Self.distance($0, c[...]) }
        for _ in 1..<clusters {
            let total = nearest.reduce(0, +)
            var target = uniform() * total, pick = points.count - 1
            for (i, d) in nearest.enumerated() {
                target -= d
                if target <= 0 { pick = i; break }
            }
            let s = points[pick]
            c += s
            for i in points.indices { nearest[i] = min(nearest[i], Self.distance(points[i], s[...])) }
        }
        var assignment = [Int](repeating: -1, count: points.count)
        for _ in 0..<iterations {
            var changed = false
            for (i, p) in points.enumerated() {
                let a = Self.nearest(p, centroids: c, clusters: clusters, dimension: dimension)
                if a != assignment[i] { assignment[i] = a; changed = true }
            }
            if !changed { break }
            var sums = [Double](repeating: 0, count: clusters * dimension), counts = [Int](repeating: 0, count: clusters)
            for (i, p) in points.enumerated() {
                counts[assignment[i]] += 1
                for j in 0..<dimension { sums[assignment[i] * dimension + j] += Double(p[j]) }
            }
            for k in 0..<clusters where counts[k] > 0 {
                for j in 0..<dimension { c[k * dimension + j] = Float(sums[k * dimension + j] / Double(counts[k])) }
            }
        }
        centroids = c
    }

    /// The index of the centroid nearest to `point`.
    public func cluster(of point: [Float]) -> Int {
        Self.nearest(point, centroids: centroids, clusters: clusters, dimension: dimension)
    }

    /// Cluster purity of `points` (as ``Metrics/purity(_:on:)`` defines it for neurons).
    public func purity(of points: [[Float]], labels: [Int]) -> Double {
        var counts: [Int: [Int: Int]] = [:]
        for (p, l) in zip(points, labels) { counts[cluster(of: p), default: [:]][l, default: 0] += 1 }
        let majority = counts.values.reduce(0) { $0 + ($1.values.max() ?? 0) }
        return points.isEmpty ? 0 : Double(majority) / Double(points.count)
    }

    static func distance(_ a: [Float], _ b: ArraySlice<Float>) -> Double {
        var d: Float = 0
        var j = b.startIndex
        for x in a {
            let t = x - b[j]
            d += t * t
            j += 1
        }
        return Double(d)
    }

    static func nearest(_ p: [Float], centroids: [Float], clusters: Int, dimension: Int) -> Int {
        var best = 0, bestDistance = Double.infinity
        for k in 0..<clusters {
            let d = distance(p, centroids[(k * dimension)..<((k + 1) * dimension)])
            if d < bestDistance { best = k; bestDistance = d }
        }
        return best
    }
}
