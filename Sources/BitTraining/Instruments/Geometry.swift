import Foundation

// Geometry of a set of vectors (rows of a matrix): how many directions it uses, and how much
// it leans to one side.

/// Effective rank and participation ratio of a spectrum of singular values.
///
/// - Effective rank (Roy & Vetterli 2007): with p_i = σ_i / Σσ, erank = exp(−Σ p_i ln p_i).
///   k equal singular values give k; a rank-1 matrix gives 1.
/// - Participation ratio: (Σσ²)² / Σσ⁴ — the same answers on those two cases, but weighs the
///   large singular values more.
///
/// ```swift
/// let s = SpectrumStats(singularValues: [2, 2, 2, 0])
/// s.effectiveRank        // 3
/// s.participationRatio   // 3
/// ```
public struct SpectrumStats: Sendable, Equatable, Codable {
    /// exp of the entropy of the normalized singular values: how many directions carry the variance.
    public var effectiveRank: Double
    /// (Σσ²)² / Σσ⁴: the same question, weighted toward the large directions.
    public var participationRatio: Double

    /// Statistics from their values.
    public init(effectiveRank: Double, participationRatio: Double) {
        self.effectiveRank = effectiveRank
        self.participationRatio = participationRatio
    }

    /// Effective rank (exp of the entropy of σ / Σσ) and participation ratio ((Σσ²)² / Σσ⁴) of a spectrum.
    public init(singularValues sigma: [Double]) {
        let total = sigma.reduce(0, +)
        guard total > 0 else {
            self.init(effectiveRank: 0, participationRatio: 0)
            return
        }
        var entropy = 0.0
        var sum2 = 0.0, sum4 = 0.0
        for s in sigma where s > 0 {
            let p = s / total
            entropy -= p * log(p)
            let s2 = s * s
            sum2 += s2
            sum4 += s2 * s2
        }
        self.init(effectiveRank: exp(entropy), participationRatio: sum2 * sum2 / sum4)
    }

    /// The spectrum statistics of `matrix` (its rows are the vectors), centred on the mean row
    /// first when `centered`.
    public init(_ matrix: Matrix, centered: Bool) {
        self.init(singularValues: singularValues(centered ? matrix.centeringColumns() : matrix))
    }
}

/// Mean cosine similarity between different rows of `matrix` (pairs i ≠ j; all-zero rows are
/// left out). 1 when all rows point the same way; about 0 for isotropic random directions;
/// −1/(n−1) at the least. In O(n·d): Σ_{i≠j} uᵢ·uⱼ = ‖Σuᵢ‖² − Σ‖uᵢ‖² for unit rows uᵢ.
///
/// ```swift
/// meanPairwiseCosine(Matrix(rows: 2, cols: 2, values: [1, 0, -1, 0]))   // -1
/// ```
public func meanPairwiseCosine(_ matrix: Matrix) -> Double {
    var sum = [Double](repeating: 0, count: matrix.cols)
    var count = 0
    for r in 0..<matrix.rows {
        let base = r * matrix.cols
        var norm = 0.0
        for c in 0..<matrix.cols { norm += matrix.values[base + c] * matrix.values[base + c] }
        guard norm > 0 else { continue }
        let inv = 1 / norm.squareRoot()
        for c in 0..<matrix.cols { sum[c] += matrix.values[base + c] * inv }
        count += 1
    }
    guard count > 1 else { return 0 }
    let total = sum.reduce(0) { $0 + $1 * $1 }
    return (total - Double(count)) / Double(count * (count - 1))
}

/// Effective rank, participation ratio (of the mean-centred rows) and isotropy (mean pairwise
/// cosine of the raw rows) of one set of vectors: the geometry the run record keeps.
public struct GeometryStats: Sendable, Equatable, Codable {
    /// Effective rank of the mean-centred rows.
    public var effectiveRank: Double
    /// Participation ratio of the mean-centred rows.
    public var participationRatio: Double
    /// Mean pairwise cosine of the raw rows (isotropy: 0 for spread, 1 for one direction).
    public var meanCosine: Double

    /// Statistics from their values.
    public init(effectiveRank: Double, participationRatio: Double, meanCosine: Double) {
        self.effectiveRank = effectiveRank
        self.participationRatio = participationRatio
        self.meanCosine = meanCosine
    }

    /// Measures the rows of `matrix`.
    ///
    /// ```swift
    /// let g = GeometryStats(hiddenStates)   // positions × width
    /// ```
    public init(_ matrix: Matrix) {
        let spectrum = SpectrumStats(matrix, centered: true)
        self.init(
            effectiveRank: spectrum.effectiveRank, participationRatio: spectrum.participationRatio,
            meanCosine: meanPairwiseCosine(matrix))
    }
}

/// Linear centred kernel alignment (Kornblith, Norouzi, Lee & Hinton 2019, eq. 5) between two
/// representations of the same n inputs, X (n × d1) and Y (n × d2):
/// ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) after centring each column. 1 for Y = XQ (Q orthogonal) and for
/// Y = cX; invariant to neither non-isotropic scaling nor invertible linear maps in general.
///
/// ```swift
/// linearCKA(x, x)   // 1
/// ```
public func linearCKA(_ x: Matrix, _ y: Matrix) -> Double {
    precondition(x.rows == y.rows, "CKA needs the same inputs: \(x.rows) vs \(y.rows) rows")
    let xc = x.centeringColumns(), yc = y.centeringColumns()
    if x.rows < x.cols + y.cols {
        // Fewer inputs than features: the n × n Gram form, ⟨K, L⟩ / (‖K‖ ‖L‖) with K = XXᵀ, L = YYᵀ.
        let k = xc.timesTransposed(), l = yc.timesTransposed()
        var kl = 0.0
        for i in 0..<k.values.count { kl += k.values[i] * l.values[i] }
        let kk = k.frobeniusNormSquared.squareRoot(), ll = l.frobeniusNormSquared.squareRoot()
        guard kk > 0, ll > 0 else { return 0 }
        return kl / (kk * ll)
    }
    let cross = yc.transposedTimes(xc).frobeniusNormSquared
    let xx = xc.transposedTimes(xc).frobeniusNormSquared.squareRoot()
    let yy = yc.transposedTimes(yc).frobeniusNormSquared.squareRoot()
    guard xx > 0, yy > 0 else { return 0 }
    return cross / (xx * yy)
}
