import BitKernels

/// Turns inputs into fixed-width bit-vectors for the population.
///
/// ```swift
/// var encoder = ImageEncoder.rank(k: 118, pixels: 784)
/// let bits = encoder.encode(images.image(0))      // exactly 118 of 784 bits set
/// ```
public struct ImageEncoder: Sendable {
    /// How pixels become bits.
    public enum Kind: Sendable, Equatable {
        /// Bit i set when pixel i > level (MNIST's ink at level 127: ~19% density, varies per image).
        case threshold(level: UInt8)
        /// Exactly k bits set: the k brightest pixels. Ties at the cut-off intensity go to the lowest
        /// pixel indices (so an image with fewer than k non-zero pixels also sets the first
        /// background pixels in reading order — 22% of MNIST digits have fewer than 118).
        case rank(k: Int)
        /// Exactly k bits (at most k for `.ink`): the k brightest pixels, ties at the cut-off
        /// intensity chosen by `ties` (see ``RankTieRule``) in an image `columns` pixels wide.
        case rankTies(k: Int, ties: RankTieRule, columns: Int)
    }

    /// Which encoding this is.
    public let kind: Kind
    /// Bits per encoded vector.
    public let width: Int
    /// The kernels that encode: `ImageEncoder.rank(k: 118, pixels: 784, using: try .variant(.scalar)).kernels`.
    public let kernels: Kernels

    /// Bit i set when pixel i is above `level`.
    ///
    /// ```swift
    /// var encoder = ImageEncoder.threshold(127, pixels: 784)
    /// ```
    public static func threshold(_ level: UInt8 = 127, pixels: Int, using kernels: Kernels = .default) -> ImageEncoder {
        ImageEncoder(kind: .threshold(level: level), width: pixels, kernels: kernels)
    }
    /// Exactly `k` bits set, at the `k` brightest pixels (ties to the lowest indices).
    ///
    /// ```swift
    /// var encoder = ImageEncoder.rank(k: 118, pixels: 784)
    /// ```
    public static func rank(k: Int, pixels: Int, using kernels: Kernels = .default) -> ImageEncoder {
        precondition(k >= 0 && k <= pixels, "rank encoding needs 0 ≤ k ≤ \(pixels), got \(k)")
        return ImageEncoder(kind: .rank(k: k), width: pixels, kernels: kernels)
    }

    /// Rank encoding with a tie rule: `.index` is ``rank(k:pixels:using:)`` (the encode kernels),
    /// `.blur` the `encode_rank_blur` kernels; the others (in Swift) choose which pixels of the
    /// cut-off intensity are set by the image's content.
    ///
    /// ```swift
    /// var encoder = ImageEncoder.rank(k: 118, pixels: 784, columns: 28, ties: .blur)
    /// ```
    public static func rank(k: Int, pixels: Int, columns: Int, ties: RankTieRule, using kernels: Kernels = .default) -> ImageEncoder {
        precondition(k >= 0 && k <= pixels, "rank encoding needs 0 ≤ k ≤ \(pixels), got \(k)")
        precondition(columns >= 1 && pixels % columns == 0, "an image of \(pixels) pixels is not \(columns) columns wide")
        if ties == .index { return rank(k: k, pixels: pixels, using: kernels) }
        return ImageEncoder(kind: .rankTies(k: k, ties: ties, columns: columns), width: pixels, kernels: kernels)
    }

    init(kind: Kind, width: Int, kernels: Kernels) {
        self.kind = kind
        self.width = width
        self.kernels = kernels
    }

    /// Encodes one image (exactly `width` pixels).
    public mutating func encode(_ pixels: ArraySlice<UInt8>) -> BitVector {
        var v = BitVector(width: width)
        encode(pixels, into: &v)
        return v
    }

    /// Encodes into an existing vector (no allocation once `into` is unique): the encode kernels.
    public mutating func encode(_ pixels: ArraySlice<UInt8>, into v: inout BitVector) {
        precondition(pixels.count == width, "image has \(pixels.count) pixels, the encoder \(width)")
        precondition(v.width == width, "vector is \(v.width) bits, the encoder \(width)")
        switch kind {
        case .threshold(let level): v.encode(pixels: pixels, above: level, using: kernels)
        case .rank(let k): v.encode(pixels: pixels, brightest: k, using: kernels)
        case .rankTies(let k, .blur, let columns): v.encode(pixels: pixels, brightest: k, blurringTiesOver: columns, using: kernels)
        case .rankTies(let k, let ties, let columns):
            v = BitVector(width: width, setBits: ties.rankBits(pixels, columns: columns, k: k))
        }
    }
}

/// Encoders for plain feature vectors of any modality (audio frames, embeddings, sensor readings).
public struct FeatureEncoder: Sendable {
    /// How features become bits.
    public enum Kind: Sendable {
        /// The k largest features set (ties to the lower index), like rank encoding for images.
        case topK(Int)
        /// Bit j = [r_j · x ≥ 0] for `width` random ±1 projections r_j (seeded): similar vectors
        /// (by angle) get similar bits (sign random projection, SimHash).
        case signProjection(seed: UInt64)
    }

    /// Which encoding this is.
    public let kind: Kind
    /// Features per input vector.
    public let inputs: Int
    /// Bits per encoded vector.
    public let width: Int
    private let projections: [Float]  // width × inputs, ±1

    /// An encoder of `inputs` features; `width` is the number of projections of `.signProjection`
    /// (default 256; `.topK` keeps one bit per feature).
    ///
    /// ```swift
    /// let encoder = FeatureEncoder(.signProjection(seed: 1), inputs: 512, width: 256)
    /// ```
    public init(_ kind: Kind, inputs: Int, width: Int? = nil) {
        self.kind = kind
        self.inputs = inputs
        switch kind {
        case .topK(let k):
            precondition(k >= 0 && k <= inputs, "topK needs 0 ≤ k ≤ \(inputs), got \(k)")
            self.width = inputs
            projections = []
        case .signProjection(let seed):
            let w = width ?? 256
            self.width = w
            var bits = SplitMix64(seed: seed)
            projections = (0..<(w * inputs)).map { _ in bits.next() & 1 == 0 ? 1 : -1 }
        }
    }

    /// The bits of `x` (which must hold `inputs` values).
    public func encode(_ x: [Float]) -> BitVector {
        precondition(x.count == inputs, "feature vector has \(x.count) values, the encoder \(inputs)")
        switch kind {
        case .topK(let k):
            let order = x.indices.sorted { x[$0] > x[$1] || (x[$0] == x[$1] && $0 < $1) }
            return BitVector(width: width, setBits: order.prefix(k))
        case .signProjection:
            var bits: [Int] = []
            for j in 0..<width {
                var dot: Float = 0
                for i in 0..<inputs { dot += projections[j * inputs + i] * x[i] }
                if dot >= 0 { bits.append(j) }
            }
            return BitVector(width: width, setBits: bits)
        }
    }
}
