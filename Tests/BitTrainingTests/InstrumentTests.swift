import Foundation
import Testing

@testable import BitKernels
@testable import BitTraining

/// Seeded standard normals (Box–Muller over SplitMix64).
func gaussianMatrix(rows: Int, cols: Int, seed: UInt64) -> Matrix {
    var rng = SplitMix64(seed: seed)
    var values = [Double]()
    values.reserveCapacity(rows * cols)
    while values.count < rows * cols {
        let u1 = Double(rng.next() >> 11 + 1) / Double(1 << 53)
        let u2 = Double(rng.next() >> 11) / Double(1 << 53)
        values.append((-2 * log(u1)).squareRoot() * cos(2 * .pi * u2))
    }
    return Matrix(rows: rows, cols: cols, values: values)
}

/// A random orthogonal d × d matrix: Gram–Schmidt on Gaussian columns.
func orthogonalMatrix(_ d: Int, seed: UInt64) -> Matrix {
    var q = gaussianMatrix(rows: d, cols: d, seed: seed)
    for c in 0..<d {
        for p in 0..<c {
            var dot = 0.0
            for r in 0..<d { dot += q[r, c] * q[r, p] }
            for r in 0..<d { q[r, c] -= dot * q[r, p] }
        }
        var norm = 0.0
        for r in 0..<d { norm += q[r, c] * q[r, c] }
        for r in 0..<d { q[r, c] /= norm.squareRoot() }
    }
    return q
}

func multiply(_ a: Matrix, _ b: Matrix) -> Matrix {
    var out = Matrix.zeros(rows: a.rows, cols: b.cols)
    for i in 0..<a.rows { for k in 0..<a.cols { for j in 0..<b.cols { out[i, j] += a[i, k] * b[k, j] } } }
    return out
}

@Suite struct SpectrumTests {
    @Test func eigenvaluesOfKnownMatrices() {
        let two = symmetricEigenvalues(Matrix(rows: 2, cols: 2, values: [2, 1, 1, 2]))
        #expect(abs(two[0] - 3) < 1e-12 && abs(two[1] - 1) < 1e-12)
        // Q · diag(5, 3, 2, 1, 0.5, 0) · Qᵀ has exactly that spectrum.
        let spectrum: [Double] = [5, 3, 2, 1, 0.5, 0]
        let q = orthogonalMatrix(6, seed: 7)
        var a = Matrix.zeros(rows: 6, cols: 6)
        for i in 0..<6 { for j in 0..<6 { for k in 0..<6 { a[i, j] += q[i, k] * spectrum[k] * q[j, k] } } }
        let found = symmetricEigenvalues(a)
        for (x, y) in zip(found, spectrum) { #expect(abs(x - y) < 1e-10, "\(found)") }
    }

    @Test func singularValuesOfAKnownMatrix() {
        // U diag(4, 2, 1) Vᵀ with U 5×3 (orthonormal columns), V 3×3.
        let u = orthogonalMatrix(5, seed: 1), v = orthogonalMatrix(3, seed: 2)
        var x = Matrix.zeros(rows: 5, cols: 3)
        let s: [Double] = [4, 2, 1]
        for i in 0..<5 { for j in 0..<3 { for k in 0..<3 { x[i, j] += u[i, k] * s[k] * v[j, k] } } }
        for (found, want) in zip(singularValues(x), s) { #expect(abs(found - want) < 1e-10) }
        // The wide matrix (its transpose) takes the other Gram matrix and has the same values.
        var xt = Matrix.zeros(rows: 3, cols: 5)
        for i in 0..<5 { for j in 0..<3 { xt[j, i] = x[i, j] } }
        for (found, want) in zip(singularValues(xt), s + [0, 0]) { #expect(abs(found - want) < 1e-7) }
    }

    @Test func effectiveRankOfKnownSpectra() {
        let equal = SpectrumStats(singularValues: [2, 2, 2, 0])
        #expect(abs(equal.effectiveRank - 3) < 1e-12)
        #expect(abs(equal.participationRatio - 3) < 1e-12)
        let one = SpectrumStats(singularValues: [7, 0, 0])
        #expect(abs(one.effectiveRank - 1) < 1e-12)
        #expect(abs(one.participationRatio - 1) < 1e-12)
        // [2, 1]: p = (2/3, 1/3); erank = exp(H) = 1.8899; PR = 25 / 17.
        let two = SpectrumStats(singularValues: [2, 1])
        #expect(abs(two.effectiveRank - exp(-(2.0 / 3 * log(2.0 / 3) + 1.0 / 3 * log(1.0 / 3)))) < 1e-12)
        #expect(abs(two.participationRatio - 25.0 / 17) < 1e-12)
    }

    @Test func effectiveRankOfMatrices() {
        // A rank-1 matrix: every row a multiple of one vector.
        let v: [Double] = [1, -2, 0.5, 3]
        let rankOne = Matrix(rows: 5, cols: 4, values: (0..<5).flatMap { r in v.map { $0 * Double(r + 1) } })
        #expect(abs(SpectrumStats(rankOne, centered: false).effectiveRank - 1) < 1e-6)
        // Orthonormal rows: k equal singular values.
        let q = orthogonalMatrix(8, seed: 3)
        let four = q.selectingRows([0, 1, 2, 3])
        let stats = SpectrumStats(four, centered: false)
        #expect(abs(stats.effectiveRank - 4) < 1e-9)
        #expect(abs(stats.participationRatio - 4) < 1e-9)
    }
}

@Suite struct SimilarityTests {
    @Test func isotropyOfSignedVectors() {
        // ±e1: every pair of different rows is antiparallel or parallel; 2 of each → mean −1/3.
        let pm = Matrix(rows: 4, cols: 2, values: [1, 0, -1, 0, 2, 0, -3, 0])
        // pairs: (+,+)=1 ×1 pair, (−,−)=1 ×1, (+,−)=−1 ×4 → (2 − 4)/6 = −1/3
        #expect(abs(meanPairwiseCosine(pm) - (-1.0 / 3)) < 1e-12)
        let same = Matrix(rows: 3, cols: 2, values: [1, 1, 2, 2, 0.5, 0.5])
        #expect(abs(meanPairwiseCosine(same) - 1) < 1e-12)
        let orthogonal = Matrix(rows: 3, cols: 3, values: [1, 0, 0, 0, 2, 0, 0, 0, 3])
        #expect(abs(meanPairwiseCosine(orthogonal)) < 1e-12)
        // A zero row takes no part.
        let withZero = Matrix(rows: 3, cols: 2, values: [1, 0, 0, 0, -1, 0])
        #expect(abs(meanPairwiseCosine(withZero) - (-1)) < 1e-12)
    }

    @Test func ckaInvariances() {
        let x = gaussianMatrix(rows: 64, cols: 12, seed: 11)
        #expect(abs(linearCKA(x, x) - 1) < 1e-12)
        let rotated = multiply(x, orthogonalMatrix(12, seed: 12))
        #expect(abs(linearCKA(x, rotated) - 1) < 1e-10)
        let scaled = Matrix(rows: x.rows, cols: x.cols, values: x.values.map { $0 * -3.5 })
        #expect(abs(linearCKA(x, scaled) - 1) < 1e-12)
        // Not invariant to an anisotropic scaling: a strong stretch of one column lowers it.
        var stretched = x
        for r in 0..<x.rows { stretched[r, 0] *= 50 }
        #expect(linearCKA(x, stretched) < 0.5)
    }

    @Test func ckaWithFewerInputsThanFeatures() {
        // 16 inputs × 20 features takes the n × n Gram form; the invariances still hold.
        let x = gaussianMatrix(rows: 16, cols: 20, seed: 13)
        #expect(abs(linearCKA(x, x) - 1) < 1e-12)
        #expect(abs(linearCKA(x, multiply(x, orthogonalMatrix(20, seed: 14))) - 1) < 1e-10)
        // Both forms agree: X against its first 3 columns (16 < 23 Gram; 40 ≥ 23 features).
        let narrow = Matrix(rows: 16, cols: 3, values: (0..<16).flatMap { r in Array(x.row(r).prefix(3)) })
        let tall = Matrix(rows: 40, cols: 20, values: gaussianMatrix(rows: 40, cols: 20, seed: 15).values)
        let tallNarrow = Matrix(rows: 40, cols: 3, values: (0..<40).flatMap { r in Array(tall.row(r).prefix(3)) })
        let viaGram = linearCKA(x, narrow)
        #expect(viaGram > 0 && viaGram < 1)
        // Reference: feature-space formula written out for the tall case.
        let xc = tall.centeringColumns(), yc = tallNarrow.centeringColumns()
        let reference = yc.transposedTimes(xc).frobeniusNormSquared
            / (xc.transposedTimes(xc).frobeniusNormSquared.squareRoot() * yc.transposedTimes(yc).frobeniusNormSquared.squareRoot())
        #expect(abs(linearCKA(tall, tallNarrow) - reference) < 1e-12)
        let k = xc.timesTransposed(), l = yc.timesTransposed()
        var kl = 0.0
        for i in 0..<k.values.count { kl += k.values[i] * l.values[i] }
        #expect(abs(kl / (k.frobeniusNormSquared.squareRoot() * l.frobeniusNormSquared.squareRoot()) - reference) < 1e-12)
    }

    @Test func ckaOfIndependentMatricesIsSmall() {
        let x = gaussianMatrix(rows: 1000, cols: 5, seed: 21)
        let y = gaussianMatrix(rows: 1000, cols: 7, seed: 22)
        let cka = linearCKA(x, y)
        #expect(cka >= 0 && cka < 0.05, "CKA \(cka)")
    }

    @Test func ckaOfDifferentWidthsSharingASubspace() {
        // Y = [X, 0]: the same representation padded with a dead dimension.
        let x = gaussianMatrix(rows: 50, cols: 4, seed: 31)
        var padded = [Double]()
        for r in 0..<50 { padded += x.row(r) + [0] }
        #expect(abs(linearCKA(x, Matrix(rows: 50, cols: 5, values: padded)) - 1) < 1e-12)
    }
}

@Suite struct CharacterTests {
    @Test func silhouetteOfSeparatedClusters() {
        // Two tight clusters around orthogonal directions: silhouette near 1.
        var values = [Double]()
        for i in 0..<5 { values += [1, 0.01 * Double(i), 0] }
        for i in 0..<5 { values += [0.01 * Double(i), 1, 0] }
        let s = Silhouette(
            similarities: cosineSimilarities(Matrix(rows: 10, cols: 3, values: values)),
            labels: [0, 0, 0, 0, 0, 1, 1, 1, 1, 1], classCount: 2)
        #expect(s.overall > 0.99)
        #expect(s.perClass.allSatisfy { $0 > 0.99 })
        // The same points with labels mixed across clusters score below 0.
        let mixed = Silhouette(
            similarities: cosineSimilarities(Matrix(rows: 10, cols: 3, values: values)),
            labels: [0, 1, 0, 1, 0, 1, 0, 1, 0, 1], classCount: 2)
        #expect(mixed.overall < 0)
    }

    @Test func silhouetteHandCounted() {
        // Points on the unit circle at 0°, 90° (class 0) and 180° (class 1); cos distances:
        // d(0°,90°) = 1, d(0°,180°) = 2, d(90°,180°) = 1.
        // s(0°) = (2 − 1)/2 = 0.5; s(90°) = (1 − 1)/1 = 0; s(180°) is alone: 0.
        let points = Matrix(rows: 3, cols: 2, values: [1, 0, 0, 1, -1, 0])
        let s = Silhouette(similarities: cosineSimilarities(points), labels: [0, 0, 1], classCount: 2)
        #expect(abs(s.overall - 0.5 / 3) < 1e-12)
        #expect(abs(s.perClass[0] - 0.25) < 1e-12)
        #expect(s.perClass[1] == 0)
        // A point labelled −1 is left out entirely.
        let partial = Silhouette(similarities: cosineSimilarities(points), labels: [0, 0, -1], classCount: 2)
        #expect(partial.overall == 0)
    }

    @Test func casePairsAndNeighbours() {
        // a≈A, b≈B, c far from C.
        let vocabulary: [Character] = ["a", "A", "b", "B", "c", "C"]
        let e = Matrix(rows: 6, cols: 3, values: [
            1, 0.1, 0, 1, 0, 0,
            0, 1, 0.1, 0, 1, 0,
            1, 0.05, 0.2, 0, 0.9, -0.5,
        ])
        let sims = cosineSimilarities(e)
        let stats = CasePairStats(vocabulary: vocabulary, similarities: sims)
        #expect(stats.count == 6)
        // a and A, b and B are each other's nearest; c's nearest is a (then A...), C's is b/B.
        let cRank = 1 + (0..<6).filter { $0 != 4 && $0 != 5 && sims[4, $0] > sims[4, 5] }.count
        let CRank = 1 + (0..<6).filter { $0 != 5 && $0 != 4 && sims[5, $0] > sims[5, 4] }.count
        #expect(cRank > 1 && CRank > 1)
        #expect(abs(stats.meanRank - Double(4 + cRank + CRank) / 6) < 1e-12)
        #expect(abs(stats.shareNearest - 4.0 / 6) < 1e-12)
        #expect(abs(stats.meanCosine - (sims[0, 1] + sims[2, 3] + sims[4, 5]) / 3) < 1e-12)
        #expect(stats.chanceRank == 3)
        let nn = nearestNeighbours(of: 0, in: sims, k: 2)
        #expect(nn.map(\.index) == [1, 4])
    }

    @Test func characterKinds() {
        let kinds = CharacterClassSet.kinds
        let labels = Array(" \n!3aeZbq'").map { kinds.classify($0)! }
        #expect(labels == [0, 0, 1, 2, 3, 3, 5, 4, 4, 1])
        #expect(CharacterClassSet.vowelsConsonants.classify("E") == 0)
        #expect(CharacterClassSet.vowelsConsonants.classify("?") == nil)
        #expect(CharacterClassSet.letterCase.classify("Q") == 1)
    }
}

@Suite struct FrustrationTests {
    @Test func flipRateOfAKnownSequence() {
        // 4 codes; step 0 → 2: 1 change; 2 → 3: 3 changes. 4 changes / (4 codes × 3 steps).
        let codes: [[Int8]] = [[1, 0, -1, 0], [1, 1, -1, 0], [0, 0, -1, 1]]
        #expect(abs(flipRate(codes: codes, steps: [0, 2, 3]) - 4.0 / 12) < 1e-15)
        #expect(flipRate(codes: [[1, 1]], steps: [5]) == 0)
        #expect(flipRate(codes: [[1, 1], [1, 1]], steps: [0, 10]) == 0)
    }

    @Test func ternaryStatsOnAConstructedSet() {
        let w: [Float] = [0.5, -0.46, 0.2, 2.0, -1.5, 0.56, -0.54, 2.74]  // Σ|w| = 8.5 → γ = 1.0625
        let gamma = w.reduce(0.0) { $0 + Double(abs($1)) } / 8
        let (stats, codes) = FrustrationStats.measure(w, quantizer: .ternary)
        let expectedCodes = w.map { Int8(max(-1, min(1, (Double($0) / gamma).rounded(.toNearestOrEven)))) }
        #expect(codes == expectedCodes)
        // w/γ = 0.471, −0.433, 0.188, 1.88, −1.41, 0.527, −0.508, 2.58
        #expect(codes == [0, 0, 0, 1, -1, 1, -1, 1])
        #expect(stats.shareNegative == 2.0 / 8 && stats.shareZero == 3.0 / 8 && stats.sharePositive == 3.0 / 8)
        // within 0.05 of ±0.5: 0.471, 0.527, −0.508 → 3 of 8
        #expect(stats.nearThresholdShare == 3.0 / 8)
        var err = 0.0, norm = 0.0
        for (x, q) in zip(w, codes) {
            err += pow(Double(x) - gamma * Double(q), 2)
            norm += Double(x) * Double(x)
        }
        #expect(abs(stats.relativeError - (err / norm).squareRoot()) < 1e-12)
    }

    @Test func binaryCodesAndThreshold() {
        let w: [Float] = [1, 2, 3, 2]  // α = 2, β = 2; w − α = −1, 0, 1, 0 → sign(0) = +1
        let (stats, codes) = FrustrationStats.measure(w, quantizer: .binary)
        #expect(codes == [-1, 1, 1, 1])
        #expect(stats.shareZero == 0 && stats.shareNegative == 0.25)
        #expect(stats.nearThresholdShare == 0.5)
        // Wq = [−2, 2, 2, 2]; ‖W − Wq‖² = 9 + 0 + 1 + 0; ‖W‖² = 18
        #expect(abs(stats.relativeError - (10.0 / 18).squareRoot()) < 1e-12)
    }

    @Test func trackerReportsFlipsSinceLastSample() {
        var tracker = FrustrationTracker(quantizer: .ternary)
        let first = tracker.sample(step: 0, layer: 1, matrix: "q", latent: [1, -1, 0.1, 1])
        #expect(first.flipRate == nil)
        // codes [1, −1, 0, 1] → [1, 1, 0, 1]: 1 change over 4 codes × 5 steps
        let second = tracker.sample(step: 5, layer: 1, matrix: "q", latent: [1, 1, 0.1, 1])
        #expect(second.flipRate == 1.0 / 20)
        let other = tracker.sample(step: 5, layer: 1, matrix: "k", latent: [1, 1, 0.1, 1])
        #expect(other.flipRate == nil)
        // Counted flips win over the snapshot difference: a code flipped and flipped back (2 flips
        // in 2 steps) leaves the snapshots equal but counts 2 / (4 codes × 2 steps).
        tracker.countFlips(layer: 1, matrix: "q", flips: 1)
        tracker.countFlips(layer: 1, matrix: "q", flips: 1)
        let counted = tracker.sample(step: 7, layer: 1, matrix: "q", latent: [1, 1, 0.1, 1])
        #expect(counted.flipRate == 0.25 && counted.flipsCountedEveryStep == true)
        #expect(second.flipsCountedEveryStep == nil)
    }
}

@Suite struct SpeedTests {
    @Test func largeSpectrumIsQuick() {
        // 512 positions × 512 dims: the Gram eigenproblem is 512 × 512.
        let x = gaussianMatrix(rows: 512, cols: 512, seed: 41)
        let start = Date()
        let s = SpectrumStats(x, centered: false)
        let seconds = Date().timeIntervalSince(start)
        // A square Gaussian matrix's spectrum is spread (Marchenko–Pastur): erank well below 512.
        #expect(s.effectiveRank > 300 && s.effectiveRank < 512)
        print("512×512 spectrum: \(seconds) s")
    }
}
