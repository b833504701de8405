import CBitKernels

/// A fixed-width vector of bits with value semantics, stored in 64-byte-aligned words.
///
/// Bit `i` lives in word `i / 64` at bit position `i % 64`; bits past `width` are always zero.
/// Copies share storage until one of them is mutated (copy-on-write).
///
/// ```swift
/// var a = BitVector(width: 784, setBits: [0, 3, 700])
/// a[5] = true
/// let b = BitVector(width: 784, setBits: [3, 5, 9])
/// a.sharedBits(with: b)      // 2
/// a.jaccard(with: b)         // 2 / 5 = 0.4
/// ```
public struct BitVector: Sendable {
    /// The number of bits.
    public let width: Int
    var storage: WordStorage

    /// The number of 64-bit words that hold the bits.
    public var wordCount: Int { BitKernels.wordCount(forWidth: width) }

    /// A vector of `width` zero bits.
    public init(width: Int) {
        precondition(width >= 0, "BitVector width must be >= 0, got \(width)")
        self.width = width
        storage = WordStorage(capacity: BitKernels.wordCount(forWidth: width))
    }

    /// A vector with the given bit positions set.
    ///
    /// ```swift
    /// let v = BitVector(width: 10, setBits: [1, 9])
    /// ```
    public init(width: Int, setBits: some Sequence<Int>) {
        self.init(width: width)
        for i in setBits { self[i] = true }
    }

    /// A vector with one bit per element of `bits`.
    ///
    /// ```swift
    /// let v = BitVector([true, false, true])   // width 3, bits 0 and 2 set
    /// ```
    public init(_ bits: some Collection<Bool>) {
        self.init(width: bits.count)
        for (i, bit) in bits.enumerated() where bit { self[i] = true }
    }

    /// A vector over raw words (bit `i` in `words[i / 64]`). `words.count` must equal
    /// `(width + 63) / 64`, and bits past `width` must be zero.
    ///
    /// ```swift
    /// let v = BitVector(width: 70, words: [0b1001, 1 << 5])   // bits 0, 3, 69
    /// ```
    public init(width: Int, words: [UInt64]) {
        precondition(width >= 0, "BitVector width must be >= 0, got \(width)")
        let expected = BitKernels.wordCount(forWidth: width)
        precondition(
            words.count == expected,
            "a \(width)-bit vector needs \(expected) words, got \(words.count)")
        if let last = words.last {
            precondition(
                last & ~lastWordMask(forWidth: width) == 0,
                "bits past the width (\(width)) must be zero")
        }
        self.init(width: width)
        words.withUnsafeBufferPointer { storage.base.update(from: $0.baseAddress!, count: expected) }
    }

    /// Replaces every bit with those of `words` (same rules as `init(width:words:)`), reusing this
    /// vector's storage when it is not shared: for loops that refill one vector per input.
    ///
    /// ```swift
    /// var v = BitVector(width: 128)
    /// v.assign(words: [0b1011, 0])     // bits 0, 1 and 3
    /// ```
    public mutating func assign(words: [UInt64]) {
        let expected = wordCount
        precondition(words.count == expected, "a \(width)-bit vector needs \(expected) words, got \(words.count)")
        if let last = words.last {
            precondition(last & ~lastWordMask(forWidth: width) == 0, "bits past the width (\(width)) must be zero")
        }
        withMutableWords { w in words.withUnsafeBufferPointer { w.baseAddress!.update(from: $0.baseAddress!, count: expected) } }
    }

    /// The words holding the bits (padding bits zero).
    public var words: [UInt64] { withWords { Array($0) } }

    /// The bit at `index`.
    ///
    /// ```swift
    /// var v = BitVector(width: 8); v[2] = true; v[2]   // true
    /// ```
    public subscript(index: Int) -> Bool {
        get {
            precondition(index >= 0 && index < width, "bit index \(index) out of range 0..<\(width)")
            return storage.base[index >> 6] >> UInt64(index & 63) & 1 == 1
        }
        set {
            precondition(index >= 0 && index < width, "bit index \(index) out of range 0..<\(width)")
            makeUnique()
            let bit: UInt64 = 1 << UInt64(index & 63)
            if newValue { storage.base[index >> 6] |= bit } else { storage.base[index >> 6] &= ~bit }
        }
    }

    /// The positions of the set bits, ascending.
    public var setBitIndices: [Int] {
        var result: [Int] = []
        withWords { words in
            for (w, word) in words.enumerated() {
                var rest = word
                while rest != 0 {
                    result.append(w * 64 + rest.trailingZeroBitCount)
                    rest &= rest &- 1
                }
            }
        }
        return result
    }

    mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) {
            storage = storage.copy(count: wordCount, capacity: wordCount)
        }
    }

    /// Read access to the words, valid only inside `body`.
    func withWords<R>(_ body: (UnsafeBufferPointer<UInt64>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage.base, count: wordCount))
    }

    /// Write access to the words, valid only inside `body`. The body must keep padding bits zero.
    mutating func withMutableWords<R>(_ body: (UnsafeMutableBufferPointer<UInt64>) throws -> R) rethrows -> R {
        makeUnique()
        return try body(UnsafeMutableBufferPointer(start: storage.base, count: wordCount))
    }

    func checkSameWidth(_ other: BitVector, _ what: String = "operands") {
        precondition(width == other.width, "width mismatch between \(what): \(width) vs \(other.width) bits")
    }
}

extension BitVector: Equatable, Hashable {
    public static func == (a: BitVector, b: BitVector) -> Bool {
        a.width == b.width && a.withWords { x in b.withWords { y in x.elementsEqual(y) } }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(width)
        withWords { for w in $0 { hasher.combine(w) } }
    }
}

extension BitVector: CustomStringConvertible {
    /// Bits as `0`/`1` characters, bit 0 first (long vectors are abbreviated).
    public var description: String {
        let shown = min(width, 128)
        var s = String((0..<shown).map { self[$0] ? "1" : "0" })
        if shown < width { s += "…(\(width) bits, \(setBitCount) set)" }
        return s
    }
}
