import CBitKernels

/// |a AND b|, |a XOR b| and |a OR b| of two bit-vectors, counted in one pass.
///
/// ```swift
/// let c = a.pairCounts(with: b)
/// print(c.shared, c.differing, c.union, c.jaccard)
/// ```
public struct PairCounts: Sendable, Equatable {
    /// Bits set in both: |a AND b|.
    public var shared: Int
    /// Bits set in exactly one: |a XOR b|, the Hamming distance.
    public var differing: Int
    /// Bits set in either: |a OR b|.
    public var union: Int

    /// shared / union, the density-fair similarity; 1 when both vectors are empty.
    public var jaccard: Double { union == 0 ? 1 : Double(shared) / Double(union) }

    /// Counts as given, e.g. for comparing with a kernel's result:
    /// `PairCounts(shared: 1, differing: 2, union: 3)`.
    public init(shared: Int, differing: Int, union: Int) {
        self.shared = shared
        self.differing = differing
        self.union = union
    }
}

extension BitVector {
    /// The number of set bits (kernel `popcount`).
    ///
    /// ```swift
    /// BitVector(width: 100, setBits: [1, 50, 99]).setBitCount   // 3
    /// ```
    public func setBitCount(using kernels: Kernels = .default) -> Int {
        withWords { Int(kernels.table.pointee.popcount($0.baseAddress, $0.count)) }
    }

    /// The number of set bits, with the default kernels.
    public var setBitCount: Int { setBitCount() }

    /// Shared, differing and union counts against `other` in one pass (kernel `pair_counts`).
    /// The widths must match.
    public func pairCounts(with other: BitVector, using kernels: Kernels = .default) -> PairCounts {
        checkSameWidth(other)
        let c = withWords { a in
            other.withWords { b in kernels.table.pointee.pair_counts(a.baseAddress, b.baseAddress, a.count) }
        }
        return PairCounts(shared: Int(c.and_count), differing: Int(c.xor_count), union: Int(c.or_count))
    }

    /// |self AND other|.
    ///
    /// ```swift
    /// BitVector(width: 8, setBits: [1, 2]).sharedBits(with: BitVector(width: 8, setBits: [2, 3]))  // 1
    /// ```
    public func sharedBits(with other: BitVector, using kernels: Kernels = .default) -> Int {
        pairCounts(with: other, using: kernels).shared
    }

    /// |self XOR other|, the Hamming distance.
    ///
    /// ```swift
    /// BitVector(width: 8, setBits: [1, 2]).differingBits(from: BitVector(width: 8, setBits: [2, 3]))  // 2
    /// ```
    public func differingBits(from other: BitVector, using kernels: Kernels = .default) -> Int {
        pairCounts(with: other, using: kernels).differing
    }

    /// |self OR other|.
    ///
    /// ```swift
    /// BitVector(width: 8, setBits: [1, 2]).unionBits(with: BitVector(width: 8, setBits: [2, 3]))  // 3
    /// ```
    public func unionBits(with other: BitVector, using kernels: Kernels = .default) -> Int {
        pairCounts(with: other, using: kernels).union
    }

    /// |self AND other| / |self OR other|; 1 when both are empty.
    ///
    /// ```swift
    /// BitVector(width: 8, setBits: [1, 2]).jaccard(with: BitVector(width: 8, setBits: [2, 3]))  // 1/3
    /// ```
    public func jaccard(with other: BitVector, using kernels: Kernels = .default) -> Double {
        pairCounts(with: other, using: kernels).jaccard
    }

    /// Masked bit-flip learning: copies `target`'s bits where `mask` is set,
    /// `self = self XOR ((target XOR self) AND mask)` (kernel `masked_flip`).
    ///
    /// ```swift
    /// var cur = BitVector(width: 4, setBits: [0])
    /// cur.flip(toward: BitVector(width: 4, setBits: [1]), where: BitVector(width: 4, setBits: [0, 1]))
    /// // cur now has only bit 1 set
    /// ```
    public mutating func flip(toward target: BitVector, where mask: BitVector, using kernels: Kernels = .default) {
        checkSameWidth(target, "pattern and target")
        checkSameWidth(mask, "pattern and mask")
        withMutableWords { cur in
            target.withWords { t in
                mask.withWords { m in kernels.table.pointee.masked_flip(cur.baseAddress, t.baseAddress, m.baseAddress, cur.count) }
            }
        }
    }

    /// A copy flipped toward `target` where `mask` is set (see `flip(toward:where:)`).
    public func flipped(toward target: BitVector, where mask: BitVector, using kernels: Kernels = .default) -> BitVector {
        var copy = self
        copy.flip(toward: target, where: mask, using: kernels)
        return copy
    }
}

// MARK: - Image encoding

extension BitVector {
    /// Sets bit i exactly when pixel i is brighter than `level` (kernel `encode_threshold`); the
    /// vector's width must equal the pixel count. Reuses this vector's storage when it is not shared.
    ///
    /// ```swift
    /// var v = BitVector(width: 4)
    /// v.encode(pixels: [0, 200, 90, 255], above: 127)   // bits 1 and 3
    /// ```
    public mutating func encode(pixels: ArraySlice<UInt8>, above level: UInt8, using kernels: Kernels = .default) {
        precondition(pixels.count == width, "image has \(pixels.count) pixels, the vector \(width) bits")
        let n = width
        pixels.withUnsafeBufferPointer { p in
            withMutableWords { w in kernels.encodeThreshold(p.baseAddress, count: n, level: level, into: w.baseAddress) }
        }
    }

    /// Sets exactly `k` bits: those of the `k` brightest pixels, ties at the cut-off intensity going
    /// to the lowest pixel indices (kernel `encode_rank`); the width must equal the pixel count.
    ///
    /// ```swift
    /// var v = BitVector(width: 4)
    /// v.encode(pixels: [0, 200, 90, 255], brightest: 2)   // bits 1 and 3
    /// ```
    public mutating func encode(pixels: ArraySlice<UInt8>, brightest k: Int, using kernels: Kernels = .default) {
        precondition(pixels.count == width, "image has \(pixels.count) pixels, the vector \(width) bits")
        precondition(k >= 0 && k <= width, "rank encoding needs 0 ≤ k ≤ \(width), got \(k)")
        let n = width
        pixels.withUnsafeBufferPointer { p in
            withMutableWords { w in kernels.encodeRank(p.baseAddress, count: n, k: k, into: w.baseAddress) }
        }
    }

    /// Sets exactly `k` bits: those of the `k` brightest pixels of an image `columns` pixels wide;
    /// among pixels of the cut-off intensity those with the brightest 3 × 3 neighbourhood (a box
    /// blur, edges clipped) win, then the lowest indices (kernel `encode_rank_blur`). In a sparse
    /// image the leftover bits so thicken its strokes instead of filling the top-left corner.
    ///
    /// ```swift
    /// var v = BitVector(width: 9)
    /// v.encode(pixels: [0, 0, 0, 0, 0, 0, 0, 0, 200], brightest: 2, blurringTiesOver: 3)   // bits 4 and 8
    /// ```
    public mutating func encode(pixels: ArraySlice<UInt8>, brightest k: Int, blurringTiesOver columns: Int,
                                using kernels: Kernels = .default) {
        precondition(pixels.count == width, "image has \(pixels.count) pixels, the vector \(width) bits")
        precondition(k >= 0 && k <= width, "rank encoding needs 0 ≤ k ≤ \(width), got \(k)")
        precondition(columns >= 1 && width % columns == 0, "an image of \(width) pixels is not \(columns) columns wide")
        let n = width, rows = width / columns
        pixels.withUnsafeBufferPointer { p in
            withUnsafeTemporaryAllocation(of: UInt16.self, capacity: max(n, 1)) { scratch in
                withMutableWords { w in
                    kernels.encodeRankBlur(p.baseAddress, rows: rows, columns: columns, k: k,
                                           scratch: scratch.baseAddress, into: w.baseAddress)
                }
            }
        }
    }
}
