import CBitKernels

/// How well a query matches a stored row, from a = |q AND r|, x = |q XOR r|, o = |q OR r|.
///
/// ```swift
/// let best = matrix.winner(for: query, score: .jaccard)
/// ```
public enum Score: String, CaseIterable, Sendable {
    /// a: bits set in both. Favors dense rows.
    case shared
    /// x: the Hamming distance. Lower is better; winners minimize it.
    case differing
    /// a − x: the "basic" resonance score.
    case sharedMinusDiffering
    /// a / o: the density-fair ratio (1 when both are empty).
    case jaccard

    var cValue: bk_score_kind {
        switch self {
        case .shared: BK_SCORE_SHARED
        case .differing: BK_SCORE_DIFFERING
        case .sharedMinusDiffering: BK_SCORE_SHARED_MINUS_DIFFERING
        case .jaccard: BK_SCORE_JACCARD
        }
    }
}

/// A row chosen by a winner or top-k search.
///
/// ```swift
/// if let m = matrix.winner(for: query, score: .differing) { print(m.row, m.differing) }
/// ```
public struct Match: Sendable, Equatable {
    /// The row index.
    public let row: Int
    /// The score of that row (see `Score`).
    public let score: Float
    /// |query AND row|.
    public let shared: Int
    /// |query XOR row|.
    public let differing: Int

    /// A match as given: `Match(row: 3, score: 0.5, shared: 2, differing: 2)`.
    public init(row: Int, score: Float, shared: Int, differing: Int) {
        self.row = row
        self.score = score
        self.shared = shared
        self.differing = differing
    }

    init?(_ m: bk_match) {
        guard m.row >= 0 else { return nil }
        self.init(row: Int(m.row), score: m.score, shared: Int(m.shared), differing: Int(m.differing))
    }
}
