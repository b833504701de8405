// The structure of a character vocabulary's embeddings: nearest neighbours, how well classes of
// characters cluster (silhouette), and whether a letter sits next to its other case.

/// Cosine similarity of two equal-length vectors (0 if either is all zeros).
public func cosine(_ a: ArraySlice<Double>, _ b: ArraySlice<Double>) -> Double {
    precondition(a.count == b.count, "cosine of vectors of \(a.count) and \(b.count) values")
    var dot = 0.0, na = 0.0, nb = 0.0
    for (x, y) in zip(a, b) {
        dot += x * y
        na += x * x
        nb += y * y
    }
    guard na > 0, nb > 0 else { return 0 }
    return dot / (na * nb).squareRoot()
}

/// The n × n matrix of cosine similarities between the rows of `matrix`.
public func cosineSimilarities(_ matrix: Matrix) -> Matrix {
    let n = matrix.rows, d = matrix.cols
    var normalized = matrix.values
    for r in 0..<n {
        var norm = 0.0
        for c in 0..<d { norm += normalized[r * d + c] * normalized[r * d + c] }
        let inv = norm > 0 ? 1 / norm.squareRoot() : 0
        for c in 0..<d { normalized[r * d + c] *= inv }
    }
    return Matrix(rows: n, cols: d, values: normalized).timesTransposed()
}

/// The `k` rows most cosine-similar to row `index` (itself excluded), most similar first; ties
/// broken by the lower index, so the answer is deterministic.
///
/// ```swift
/// nearestNeighbours(of: 0, in: similarities, k: 5)   // [(index, cosine)]
/// ```
public func nearestNeighbours(of index: Int, in similarities: Matrix, k: Int) -> [(index: Int, cosine: Double)] {
    let n = similarities.rows
    let others = (0..<n).filter { $0 != index }.sorted {
        let a = similarities[index, $0], b = similarities[index, $1]
        return a != b ? a > b : $0 < $1
    }
    return others.prefix(k).map { ($0, similarities[index, $0]) }
}

/// Silhouette scores (Rousseeuw 1987) with cosine distance 1 − cos: per point
/// s = (b − a) / max(a, b), a the mean distance to its own class, b the least mean distance to
/// another class; a point alone in its class scores 0. Points labelled < 0 take no part.
public struct Silhouette: Sendable, Equatable {
    /// Mean s over all labelled points.
    public var overall: Double
    /// Mean s over the points of each label 0..<classCount (0 for an empty class).
    public var perClass: [Double]

    /// ```swift
    /// Silhouette(similarities: cosineSimilarities(points), labels: [0, 0, 1, 1], classCount: 2)
    /// ```
    public init(similarities: Matrix, labels: [Int], classCount: Int) {
        let n = labels.count
        precondition(similarities.rows == n, "silhouette: \(n) labels for \(similarities.rows) points")
        var sums = [Double](repeating: 0, count: classCount)
        var counts = [Int](repeating: 0, count: classCount)
        for l in labels where l >= 0 { counts[l] += 1 }
        var total = 0.0
        var labelled = 0
        for i in 0..<n where labels[i] >= 0 {
            var distance = [Double](repeating: 0, count: classCount)
            for j in 0..<n where j != i && labels[j] >= 0 { distance[labels[j]] += 1 - similarities[i, j] }
            let own = labels[i]
            var s = 0.0
            if counts[own] > 1 {
                let a = distance[own] / Double(counts[own] - 1)
                var b = Double.infinity
                for c in 0..<classCount where c != own && counts[c] > 0 { b = min(b, distance[c] / Double(counts[c])) }
                if b.isFinite, max(a, b) > 0 { s = (b - a) / max(a, b) }
            }
            sums[own] += s
            total += s
            labelled += 1
        }
        overall = labelled > 0 ? total / Double(labelled) : 0
        perClass = (0..<classCount).map { counts[$0] > 0 ? sums[$0] / Double(counts[$0]) : 0 }
    }
}

/// A partition (or part-partition) of a vocabulary into named classes.
public struct CharacterClassSet: Sendable, Equatable {
    /// The set's name ("kinds", "vowels/consonants", "case").
    public var name: String
    /// The name of each class, by class index.
    public var classNames: [String]
    /// Which class each character belongs to, from the character; nil = not in this set.
    public var classify: @Sendable (Character) -> Int?

    public static func == (a: CharacterClassSet, b: CharacterClassSet) -> Bool {
        a.name == b.name && a.classNames == b.classNames
    }

    /// Every character in one of six kinds: whitespace (space, newline, tab), punctuation (any
    /// other non-alphanumeric), digits, lowercase vowels (a e i o u), lowercase consonants (the
    /// other lowercase letters, y among them), capitals (A–Z).
    public static let kinds = CharacterClassSet(
        name: "kinds",
        classNames: ["whitespace", "punctuation", "digits", "vowels", "consonants", "capitals"]
    ) { ch in
        if ch.isWhitespace { return 0 }
        if ch.isNumber { return 2 }
        if ch.isLetter {
            if ch.isUppercase { return 5 }
            return "aeiou".contains(ch) ? 3 : 4
        }
        return 1
    }

    /// Letters only, by sound class regardless of case: vowels (aeiouAEIOU) vs consonants.
    public static let vowelsConsonants = CharacterClassSet(
        name: "vowels/consonants", classNames: ["vowels", "consonants"]
    ) { ch in
        guard ch.isLetter else { return nil }
        return "aeiouAEIOU".contains(ch) ? 0 : 1
    }

    /// Letters only, by case: lowercase vs capitals.
    public static let letterCase = CharacterClassSet(
        name: "case", classNames: ["lowercase", "capitals"]
    ) { ch in
        guard ch.isLetter else { return nil }
        return ch.isUppercase ? 1 : 0
    }

    /// The three class sets the run record measures.
    public static let standard: [CharacterClassSet] = [.kinds, .vowelsConsonants, .letterCase]
}

/// How close each letter sits to its other case (a/A) among a vocabulary's embeddings.
public struct CasePairStats: Sendable, Equatable, Codable {
    /// Number of letters whose other case is in the vocabulary (each pair counted from both sides).
    public var count: Int
    /// Mean rank of the partner among the letter's neighbours by cosine (1 = nearest).
    public var meanRank: Double
    /// Median rank of the partner.
    public var medianRank: Double
    /// Share of letters whose nearest neighbour is their partner.
    public var shareNearest: Double
    /// Mean cosine between a letter and its partner (each pair once).
    public var meanCosine: Double
    /// The mean rank the partner would have by chance, uniform among the n − 1 others: n / 2.
    public var chanceRank: Double

    /// Statistics from their values.
    public init(count: Int, meanRank: Double, medianRank: Double, shareNearest: Double, meanCosine: Double, chanceRank: Double) {
        self.count = count
        self.meanRank = meanRank
        self.medianRank = medianRank
        self.shareNearest = shareNearest
        self.meanCosine = meanCosine
        self.chanceRank = chanceRank
    }

    /// ```swift
    /// CasePairStats(vocabulary: Array("aAbB"), similarities: cosineSimilarities(embeddings))
    /// ```
    public init(vocabulary: [Character], similarities: Matrix) {
        let n = vocabulary.count
        precondition(similarities.rows == n, "case pairs: \(n) characters for \(similarities.rows) rows")
        var index = [Character: Int]()
        for (i, ch) in vocabulary.enumerated() { index[ch] = i }
        var ranks = [Double]()
        var cosines = [Double]()
        for (i, ch) in vocabulary.enumerated() where ch.isLetter {
            let other = ch.isUppercase ? Character(ch.lowercased()) : Character(ch.uppercased())
            guard other != ch, let j = index[other] else { continue }
            let target = similarities[i, j]
            // rank = 1 + number of others strictly more similar, + those equal with a lower index
            var rank = 1
            for k in 0..<n where k != i && k != j {
                let s = similarities[i, k]
                if s > target || (s == target && k < j) { rank += 1 }
            }
            ranks.append(Double(rank))
            if ch.isLowercase { cosines.append(target) }
        }
        let sorted = ranks.sorted()
        let median: Double
        if sorted.isEmpty { median = 0 } else if sorted.count % 2 == 1 { median = sorted[sorted.count / 2] } else {
            median = (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        }
        self.init(
            count: ranks.count,
            meanRank: ranks.isEmpty ? 0 : ranks.reduce(0, +) / Double(ranks.count),
            medianRank: median,
            shareNearest: ranks.isEmpty ? 0 : Double(ranks.filter { $0 == 1 }.count) / Double(ranks.count),
            meanCosine: cosines.isEmpty ? 0 : cosines.reduce(0, +) / Double(cosines.count),
            chanceRank: Double(n) / 2)
    }
}
