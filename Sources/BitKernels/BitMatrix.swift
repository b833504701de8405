import CBitKernels

/// Rows of bit-vectors of one width, stored contiguously in 64-byte-aligned memory, with each
/// row's popcount kept alongside so scoring needs one popcount per word instead of two.
///
/// ```swift
/// var m = BitMatrix(width: 784)
/// m.append(BitVector(width: 784, setBits: [1, 2, 3]))
/// m.append(BitVector(width: 784, setBits: [2, 3, 4]))
/// let best = m.winner(for: BitVector(width: 784, setBits: [3, 4]), score: .jaccard)  // row 1
/// ```
public struct BitMatrix: Sendable {
    /// The width of every row, in bits.
    public let width: Int
    /// The number of rows.
    public private(set) var rowCount: Int
    var storage: WordStorage
    var rowPopcounts: [UInt32]

    /// Words per row (rows are stored densely: the stride equals the word count).
    public var wordsPerRow: Int { wordCount(forWidth: width) }

    /// An empty matrix of `width`-bit rows.
    public init(width: Int, reservingRows capacity: Int = 0) {
        precondition(width >= 0, "BitMatrix width must be >= 0, got \(width)")
        self.width = width
        rowCount = 0
        storage = WordStorage(capacity: wordCount(forWidth: width) * max(capacity, 0))
        rowPopcounts = []
        rowPopcounts.reserveCapacity(capacity)
    }

    /// A matrix holding `rows`, which must all have width `width`.
    ///
    /// ```swift
    /// let m = BitMatrix(width: 8, rows: [BitVector(width: 8, setBits: [0])])
    /// ```
    public init(width: Int, rows: some Collection<BitVector>) {
        self.init(width: width, reservingRows: rows.count)
        for row in rows { append(row) }
    }

    /// `count` zero rows.
    public init(width: Int, zeroRows count: Int) {
        precondition(count >= 0, "row count must be >= 0, got \(count)")
        self.init(width: width, reservingRows: count)
        rowCount = count
        rowPopcounts = Array(repeating: 0, count: count)
    }

    /// Whether the matrix has no rows.
    public var isEmpty: Bool { rowCount == 0 }

    /// Appends a row; its width must equal the matrix's.
    public mutating func append(_ row: BitVector) {
        precondition(row.width == width, "width mismatch: matrix rows are \(width) bits, the new row \(row.width)")
        let words = wordsPerRow
        makeUnique(minimumCapacity: (rowCount + 1) * words)
        row.withWords { src in
            if words > 0 { (storage.base + rowCount * words).update(from: src.baseAddress!, count: words) }
        }
        rowPopcounts.append(UInt32(row.setBitCount))
        rowCount += 1
    }

    /// Removes and returns the row at `index`; later rows move up by one.
    @discardableResult
    public mutating func remove(at index: Int) -> BitVector {
        checkRow(index)
        let removed = self[index]
        let words = wordsPerRow
        makeUnique(minimumCapacity: rowCount * words)
        let dst = storage.base + index * words
        let moving = (rowCount - index - 1) * words
        if moving > 0 { dst.update(from: dst + words, count: moving) }
        (storage.base + (rowCount - 1) * words).update(repeating: 0, count: words)
        rowPopcounts.remove(at: index)
        rowCount -= 1
        return removed
    }

    /// The row at `index`, as a value (reading copies the row's words; writing replaces them).
    ///
    /// ```swift
    /// m[0] = BitVector(width: m.width, setBits: [5])
    /// ```
    public subscript(index: Int) -> BitVector {
        get {
            checkRow(index)
            let words = wordsPerRow
            var row = BitVector(width: width)
            row.withMutableWords { dst in
                if words > 0 { dst.baseAddress!.update(from: storage.base + index * words, count: words) }
            }
            return row
        }
        set {
            checkRow(index)
            precondition(newValue.width == width, "width mismatch: matrix rows are \(width) bits, the new row \(newValue.width)")
            let words = wordsPerRow
            makeUnique(minimumCapacity: rowCount * words)
            newValue.withWords { src in
                if words > 0 { (storage.base + index * words).update(from: src.baseAddress!, count: words) }
            }
            rowPopcounts[index] = UInt32(newValue.setBitCount)
        }
    }

    /// All rows as vectors.
    public var rows: [BitVector] { (0..<rowCount).map { self[$0] } }

    /// The number of set bits of row `index` (kept, not recounted).
    public func setBitCount(ofRow index: Int) -> Int {
        checkRow(index)
        return Int(rowPopcounts[index])
    }

    /// Masked bit-flip learning on one row: row = row XOR ((target XOR row) AND mask).
    ///
    /// ```swift
    /// m.flipRow(0, toward: input, where: BitMask.random(width: m.width, density: 0.1, seed: 1))
    /// ```
    public mutating func flipRow(_ index: Int, toward target: BitVector, where mask: BitVector, using kernels: Kernels = .default) {
        checkRow(index)
        precondition(target.width == width, "width mismatch: matrix rows are \(width) bits, target \(target.width)")
        precondition(mask.width == width, "width mismatch: matrix rows are \(width) bits, mask \(mask.width)")
        let words = wordsPerRow
        makeUnique(minimumCapacity: rowCount * words)
        let row = storage.base + index * words
        target.withWords { t in
            mask.withWords { m in kernels.table.pointee.masked_flip(row, t.baseAddress, m.baseAddress, words) }
        }
        rowPopcounts[index] = UInt32(kernels.table.pointee.popcount(row, words))
    }

    func checkRow(_ index: Int) {
        precondition(index >= 0 && index < rowCount, "row index \(index) out of range 0..<\(rowCount)")
    }

    mutating func makeUnique(minimumCapacity: Int) {
        let used = rowCount * wordsPerRow
        if !isKnownUniquelyReferenced(&storage) {
            storage = storage.copy(count: used, capacity: max(minimumCapacity, storage.capacity))
        } else if minimumCapacity > storage.capacity {
            storage.grow(to: max(minimumCapacity, storage.capacity * 2), keeping: used)
        }
    }

    /// The C view of the rows, valid only inside `body`.
    func withRows<R>(_ body: (UnsafePointer<bk_rows>) throws -> R) rethrows -> R {
        try rowPopcounts.withUnsafeBufferPointer { pops in
            var rows = bk_rows(
                words: UnsafePointer(storage.base), stride_words: wordsPerRow, word_count: wordsPerRow,
                row_count: rowCount, row_popcounts: pops.baseAddress)
            return try body(&rows)
        }
    }
}

extension BitMatrix: Equatable {
    public static func == (a: BitMatrix, b: BitMatrix) -> Bool {
        guard a.width == b.width, a.rowCount == b.rowCount else { return false }
        let n = a.rowCount * a.wordsPerRow
        return (0..<n).allSatisfy { a.storage.base[$0] == b.storage.base[$0] }
    }
}

// MARK: - Scoring

extension BitMatrix {
    /// Every row's score against `query` (kernel `score_rows`).
    ///
    /// ```swift
    /// let s = m.scores(for: query, score: .shared)   // s[r] = |query AND row r|
    /// ```
    /// - Parameters:
    ///   - query: A vector of the matrix's width.
    ///   - score: How a row and the query are compared.
    ///   - threads: 0 for OpenMP's default; large matrices are split across threads.
    ///   - kernels: The variant that runs (`.default`: the best for this CPU).
    public func scores(for query: BitVector, score: Score, threads: Int = 0, using kernels: Kernels = .default) -> [Float] {
        checkQuery(query)
        return [Float](unsafeUninitializedCapacity: rowCount) { out, initialized in
            query.withWords { q in
                withRows { rows in bk_score_rows(kernels.table, score.cValue, q.baseAddress, rows, out.baseAddress, Int32(threads)) }
            }
            initialized = rowCount
        }
    }

    /// The best-scoring row (ties go to the lowest index), or nil when the matrix is empty.
    /// No score array is built (kernel `score_winner`).
    ///
    /// ```swift
    /// let w = m.winner(for: query, score: .jaccard)?.row
    /// ```
    public func winner(for query: BitVector, score: Score, threads: Int = 0, using kernels: Kernels = .default) -> Match? {
        checkQuery(query)
        let m = query.withWords { q in
            withRows { rows in bk_score_winner(kernels.table, score.cValue, q.baseAddress, rows, Int32(threads)) }
        }
        return Match(m)
    }

    /// The `k` best rows, best first (ties: lowest index first); fewer when the matrix is smaller.
    ///
    /// ```swift
    /// let best3 = m.top(3, for: query, score: .differing).map(\.row)
    /// ```
    public func top(_ k: Int, for query: BitVector, score: Score, threads: Int = 0, using kernels: Kernels = .default) -> [Match] {
        checkQuery(query)
        precondition(k >= 0, "top-k needs k >= 0, got \(k)")
        let n = min(k, rowCount)
        var out = [bk_match](repeating: bk_match(), count: n)
        let found = query.withWords { q in
            withRows { rows in
                out.withUnsafeMutableBufferPointer { o in
                    bk_score_top(kernels.table, score.cValue, q.baseAddress, rows, n, o.baseAddress, Int32(threads))
                }
            }
        }
        return out.prefix(found).compactMap(Match.init)
    }

    /// The winner for each row of `queries` (many-vs-many, blocked for cache reuse); empty
    /// results (`nil`) when this matrix has no rows.
    ///
    /// ```swift
    /// let rows = m.winners(for: batch, score: .jaccard).map { $0?.row }
    /// ```
    public func winners(for queries: BitMatrix, score: Score, threads: Int = 0, using kernels: Kernels = .default) -> [Match?] {
        precondition(queries.width == width, "width mismatch: queries are \(queries.width) bits, rows \(width)")
        var out = [bk_match](repeating: bk_match(), count: queries.rowCount)
        out.withUnsafeMutableBufferPointer { o in
            withRows { rows in
                bk_score_winners_batch(
                    kernels.table, score.cValue, UnsafePointer(queries.storage.base), queries.wordsPerRow,
                    queries.rowCount, rows, o.baseAddress, Int32(threads))
            }
        }
        return out.map(Match.init)
    }

    /// ±1 products (binary networks): reading bit 1 as +1 and bit 0 as -1, `out[r]` = row r · token
    /// = width − 2 · |row XOR token| (XNOR-popcount), through the AND-count kernel.
    ///
    /// ```swift
    /// let y = weights.binaryProducts(with: activations)   // y[r] in -width ... width
    /// ```
    public func binaryProducts(with token: BitVector, threads: Int = 0, using kernels: Kernels = .default) -> [Int32] {
        checkQuery(token)
        return binaryProducts(tokens: token.storage, stride: wordsPerRow, count: 1, threads: threads, kernels: kernels)
    }

    /// ±1 products of every row with every token (a batch of activations), token-major:
    /// `out[t * rowCount + r]`. Rows are scanned in cache-sized blocks reused by all tokens.
    public func binaryProducts(with tokens: BitMatrix, threads: Int = 0, using kernels: Kernels = .default) -> [Int32] {
        precondition(tokens.width == width, "width mismatch: tokens are \(tokens.width) bits, rows \(width)")
        return binaryProducts(tokens: tokens.storage, stride: tokens.wordsPerRow, count: tokens.rowCount,
                              threads: threads, kernels: kernels)
    }

    /// `count` tokens of this matrix's width, `stride` words apart in `tokens`.
    private func binaryProducts(tokens: WordStorage, stride: Int, count: Int, threads: Int, kernels: Kernels) -> [Int32] {
        let total = rowCount * count
        // Every element is written by the kernel: no zero fill first.
        return [Int32](unsafeUninitializedCapacity: total) { out, initialized in
            withRows { rows in
                bk_binary_matmul(kernels.table, rows, width, UnsafePointer(tokens.base), stride, count,
                                 out.baseAddress, rowCount, Int32(threads))
            }
            initialized = total
        }
    }

    func checkQuery(_ query: BitVector) {
        precondition(query.width == width, "width mismatch: query is \(query.width) bits, rows \(width)")
    }
}
