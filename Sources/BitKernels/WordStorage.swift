/// 64-byte-aligned, zero-initialized storage for 64-bit words; the buffer behind `BitVector` and
/// `BitMatrix`, which copy it on write (value semantics).
final class WordStorage: @unchecked Sendable {
    // Sendable because it is only mutated when uniquely referenced (copy-on-write).
    static let alignment = 64
    private(set) var base: UnsafeMutablePointer<UInt64>
    private(set) var capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 0)
        base = WordStorage.allocate(self.capacity)
    }

    /// Storage not zero-filled, for a caller that writes every byte before any is read (the
    /// quantized tokens); not for the bit containers, whose padding must be zero.
    init(uninitializedCapacity capacity: Int) {
        self.capacity = max(capacity, 0)
        base = WordStorage.allocate(self.capacity, zeroed: false)
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }

    private static func allocate(_ words: Int, zeroed: Bool = true) -> UnsafeMutablePointer<UInt64> {
        let bytes = max(words, 1) * 8
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: alignment)
        if zeroed { raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes) }
        return raw.bindMemory(to: UInt64.self, capacity: max(words, 1))
    }

    /// A copy with at least `capacity` words; the first `count` words are copied, the rest zero.
    func copy(count: Int, capacity newCapacity: Int) -> WordStorage {
        let result = WordStorage(capacity: max(newCapacity, count))
        result.base.update(from: base, count: count)
        return result
    }

    /// Grows in place (this object must be uniquely referenced), keeping `count` words.
    func grow(to newCapacity: Int, keeping count: Int) {
        guard newCapacity > capacity else { return }
        let fresh = WordStorage.allocate(newCapacity)
        fresh.update(from: base, count: count)
        UnsafeMutableRawPointer(base).deallocate()
        base = fresh
        capacity = newCapacity
    }
}

@inline(__always)
func wordCount(forWidth width: Int) -> Int { (width + 63) >> 6 }

/// The mask of valid bits in the last word of a `width`-bit vector (all ones when width % 64 == 0).
@inline(__always)
func lastWordMask(forWidth width: Int) -> UInt64 {
    width & 63 == 0 ? ~0 : (1 << UInt64(width & 63)) &- 1
}
