#if canImport(Glibc)
import Glibc
#endif

/// 64-byte-aligned, zero-initialized storage for 64-bit words; the buffer behind `BitVector` and
/// `BitMatrix`, which copy it on write (value semantics).
package final class WordStorage: @unchecked Sendable {
    // Sendable because it is only mutated when uniquely referenced (copy-on-write).
    static let alignment = 64
    package private(set) var base: UnsafeMutablePointer<UInt64>
    private(set) var capacity: Int
    /// Bytes mapped by `init(hugePagesCapacity:)` (unmapped by deinit); 0 for the allocator's memory.
    private var mappedBytes = 0
    /// The storage this one is a slice of (`init(slice:)`), kept alive by it; nil for owned memory.
    private let owner: WordStorage?

    init(capacity: Int) {
        self.capacity = max(capacity, 0)
        owner = nil
        base = WordStorage.allocate(self.capacity)
    }

    /// Storage not zero-filled, for a caller that writes every byte before any is read (the
    /// quantized tokens); not for the bit containers, whose padding must be zero.
    package init(uninitializedCapacity capacity: Int) {
        self.capacity = max(capacity, 0)
        owner = nil
        base = WordStorage.allocate(self.capacity, zeroed: false)
    }

    /// Zeroed storage that a kernel streams from DRAM once per use (a model's weights, the summing
    /// loop a model's generation is compared with), on transparent huge pages where Linux offers
    /// them: mapped at a 2 MiB boundary and advised `MADV_HUGEPAGE` (THP is often `madvise`-only).
    /// On 4 KiB pages the summing loop read 12.1–12.9 GB/s at one thread and 23.4–23.8 at two
    /// over 1.18 GB on Emerald Rapids (2 vCPUs KVM), on huge pages 14.7–14.9 and 28.4–29.5: each
    /// 4 KiB page is a TLB miss, and in a VM a two-level page walk. Below 2 MiB, or where mapping
    /// fails, the allocator's memory as `init(capacity:)`.
    package init(hugePagesCapacity capacity: Int) {
        self.capacity = max(capacity, 0)
        owner = nil
        let bytes = max(self.capacity, 1) * 8
        if bytes >= WordStorage.hugePage, let (start, mapped) = WordStorage.mapHugePages(bytes) {
            base = start.bindMemory(to: UInt64.self, capacity: max(self.capacity, 1))
            mappedBytes = mapped
        } else {
            base = WordStorage.allocate(self.capacity)
        }
    }

    /// `capacity` words of `owner` from word `offset` on: shares its memory, never copies, and
    /// keeps it alive. For storage that is never mutated (packed weights stored together).
    init(slice owner: WordStorage, offset: Int, capacity: Int) {
        precondition(offset >= 0 && capacity >= 0 && offset + capacity <= owner.capacity, "slice out of range")
        self.owner = owner
        self.capacity = capacity
        base = owner.base + offset
    }

    deinit { release() }

    private func release() {
        if owner != nil { return }
        if mappedBytes > 0 {
            #if canImport(Glibc)
            munmap(base, mappedBytes)
            #endif
        } else {
            UnsafeMutableRawPointer(base).deallocate()
        }
    }

    static let hugePage = 2 << 20

    /// Maps `bytes` (rounded up to the page) at a huge-page boundary, advised MADV_HUGEPAGE: maps
    /// 2 MiB more, then unmaps the slack before and after. Returns the start and the mapped length.
    private static func mapHugePages(_ bytes: Int) -> (UnsafeMutableRawPointer, Int)? {
        #if canImport(Glibc)
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard page > 0 else { return nil }
        let length = (bytes + page - 1) / page * page
        guard let raw = mmap(nil, length + hugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              raw != UnsafeMutableRawPointer(bitPattern: -1) else { return nil }
        let address = Int(bitPattern: raw)
        let start = (address + hugePage - 1) / hugePage * hugePage
        if start > address { munmap(raw, start - address) }
        let tail = address + length + hugePage - (start + length)
        if tail > 0 { munmap(UnsafeMutableRawPointer(bitPattern: start + length), tail) }
        let base = UnsafeMutableRawPointer(bitPattern: start)!
        _ = madvise(base, length, MADV_HUGEPAGE)
        return (base, length)
        #else
        return nil
        #endif
    }

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
        precondition(owner == nil, "a slice of another storage cannot grow")
        let fresh = WordStorage.allocate(newCapacity)
        fresh.update(from: base, count: count)
        release()
        mappedBytes = 0
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
