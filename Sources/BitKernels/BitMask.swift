import CBitKernels

/// A seeded source of random bit masks: each bit set independently with a given density.
///
/// Density is quantized to multiples of 1/65536. The bits depend only on the seed and the
/// sequence of calls, never on the kernel variant or the machine.
///
/// ```swift
/// var masks = BitMask(seed: 42)
/// let m1 = masks.next(width: 784, density: 0.1)   // ~78 bits set
/// let m2 = masks.next(width: 784, density: 0.1)   // a different mask
/// ```
public struct BitMask: Sendable {
    var rng = bk_rng()

    /// A generator whose masks are determined by `seed`.
    public init(seed: UInt64) { bk_rng_seed(&rng, seed) }

    /// The next mask of `width` bits, each set with probability `density` (0...1).
    public mutating func next(width: Int, density: Double, using kernels: Kernels = .default) -> BitVector {
        precondition(width >= 0, "mask width must be >= 0, got \(width)")
        precondition(density >= 0 && density <= 1, "mask density must be in 0...1, got \(density)")
        var mask = BitVector(width: width)
        let threshold = bk_density_threshold(density)
        mask.withMutableWords { words in
            bk_random_mask(kernels.table, &rng, words.baseAddress, width, threshold)
        }
        return mask
    }

    /// Refills `mask` (its width unchanged) with the next mask of the given density: the bits
    /// `next(width:density:)` would return, without allocating a new vector.
    public mutating func fill(_ mask: inout BitVector, density: Double, using kernels: Kernels = .default) {
        precondition(density >= 0 && density <= 1, "mask density must be in 0...1, got \(density)")
        let threshold = bk_density_threshold(density), width = mask.width
        mask.withMutableWords { words in
            bk_random_mask(kernels.table, &rng, words.baseAddress, width, threshold)
        }
    }

    /// One mask of `width` bits with the given density from a fresh generator seeded with `seed`.
    ///
    /// ```swift
    /// let mask = BitMask.random(width: 784, density: 0.1, seed: 7)
    /// ```
    public static func random(width: Int, density: Double, seed: UInt64, using kernels: Kernels = .default) -> BitVector {
        var generator = BitMask(seed: seed)
        return generator.next(width: width, density: density, using: kernels)
    }
}
