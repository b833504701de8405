import BitKernels
import Dispatch
import Foundation

/// A batch of `count` sequences of `length` positions: inputs and next-token targets, row-major.
///
/// ```swift
/// let b = Batch(windows: [[1, 2, 3, 4]])   // inputs [1, 2, 3], targets [2, 3, 4]
/// ```
public struct Batch: Sendable, Equatable {
    /// Sequences in the batch.
    public let count: Int
    /// Positions per sequence.
    public let length: Int
    /// Input token ids, `count × length`, row-major.
    public let inputs: [Int32]
    /// The next token at each input position, same layout.
    public let targets: [Int32]

    /// Windows of `length + 1` tokens each: position t predicts token t + 1.
    public init(windows: [[Int32]]) {
        precondition(!windows.isEmpty && windows[0].count >= 2, "a batch needs windows of at least 2 tokens")
        let n = windows[0].count - 1
        precondition(windows.allSatisfy { $0.count == n + 1 }, "windows of different lengths")
        count = windows.count
        length = n
        inputs = windows.flatMap { $0.dropLast() }
        targets = windows.flatMap { $0.dropFirst() }
    }

    /// `count × length`: the positions a step trains on.
    public var tokenCount: Int { count * length }
}

/// The BitNet b1.58 decoder with latent float weights, trained with the straight-through
/// estimator: the forward pass runs the quantized BitLinear layers on the inference kernels
/// (`TernaryMatrix.multiply` on absmax-int8 tokens), the backward pass treats both quantizers as the
/// identity, and the latent weights take the update. Call `requantize()` after changing
/// `parameters` (the optimizer does).
///
/// ```swift
/// let model = try TrainableModel(configuration: c, seed: 1)
/// let loss = model.lossAndGradients(batch)     // fills model.gradients
/// ```
public final class TrainableModel: @unchecked Sendable {
    /// The shape and precision the model was built with.
    public let configuration: ModelConfiguration
    /// Worker threads: several split a batch by sequences among worker replicas, which split what
    /// is left of the threads among float GEMM bands, kernel token chunks and attention batches.
    /// A model serves one caller at a time (its workers and tapes are its own).
    public var threads: Int
    let layout: [(name: String, shape: [Int], kind: Parameter.Kind)]
    // Latent weights and gradients, in layout order (Hugging Face names).
    let weights: [Buffer]
    let grads: [Buffer]
    // Per BitLinear parameter index: the packed matrix the kernels read, its dequantized float copy
    // (codes · scale, the weight the backward pass multiplies by), its codes and scale.
    var packed: [Int: TernaryMatrix] = [:]
    var dequantized: [Int: Buffer] = [:]
    var codes: [Int: [Int8]] = [:]
    var scales: [Int: Float] = [:]
    var centres: [Int: Float] = [:]
    /// Codes that changed at the last `requantize()`, per parameter index.
    public internal(set) var lastFlips: [Int: Int] = [:]
    let rope: RopeTable
    /// Σ g² of every `gradientSquareChunk` values of each gradient (AdamW's clipping pieces), where
    /// the pass that wrote the gradients summed them while they were in cache (nil: not known —
    /// AdamW sums them itself). `lossAndGradients` sets them; whatever changes the gradients after
    /// it must clear them (`AdamW.step` consumes them).
    var gradientSquares: [[Double]?] = []
    var recordsGradientSquares = false
    static let gradientSquareChunk = 1 << 13
    /// The last sequence length's cos/sin table (each worker its own: `run` fills it).
    var ropeCache: (length: Int, cos: [Float], sin: [Float])?

    /// Data-parallel workers (`lossAndGradients` with several threads): each shares this model's
    /// latent weights and quantized matrices and owns its gradients and tapes; built on first use.
    var replicas: [TrainableModel] = []

    /// Every step allocates and frees the same ~100 MB of activations: keep freed blocks in the
    /// heap instead of returning them to the kernel (page faults and zeroing were ~5% of a step).
    private static let heapSetup: Void = {
        #if os(Linux)
        _ = glibcMallopt(-3, 256 << 20)  // M_MMAP_THRESHOLD
        _ = glibcMallopt(-1, 512 << 20)  // M_TRIM_THRESHOLD
        #endif
    }()

    /// A model with weights drawn from N(0, 0.02) (norms at 1) by SplitMix64 from `seed`.
    public init(configuration: ModelConfiguration, seed: UInt64, threads: Int = 1) {
        _ = Self.heapSetup
        self.configuration = configuration
        self.threads = max(threads, 1)
        layout = configuration.parameterLayout()
        var sampler = NormalSampler(generator: SplitMix64(seed: seed))
        weights = layout.map { l in
            let b = Buffer(l.shape.reduce(1, *))
            for j in 0..<b.count { b.p[j] = l.kind == .norm ? 1 : Float(0.02 * sampler.next()) }
            return b
        }
        grads = layout.map { Buffer($0.shape.reduce(1, *)) }
        rope = RopeTable(headDimension: configuration.headDimension, theta: configuration.ropeTheta)
        requantize()
    }

    /// A worker of `model`'s data-parallel steps: the same latent weights (shared buffers), and its
    /// gradients too when `sharingGradients` (the first worker writes the model's own gradients, so
    /// the sum over the workers starts there instead of from a copy), else its own; the caller
    /// hands it the current quantized matrices before each use.
    init(replicaOf model: TrainableModel, sharingGradients: Bool) {
        configuration = model.configuration
        threads = 1
        layout = model.layout
        weights = model.weights
        grads = sharingGradients ? model.grads : layout.map { Buffer($0.shape.reduce(1, *)) }
        rope = model.rope
    }

    /// A model with given latent weights (name → values, every tensor of the layout).
    public init(configuration: ModelConfiguration, weights named: [String: [Float]], threads: Int = 1) throws(TrainingError) {
        _ = Self.heapSetup
        self.configuration = configuration
        self.threads = max(threads, 1)
        layout = configuration.parameterLayout()
        var ws: [Buffer] = []
        for l in layout {
            guard let v = named[l.name] else { throw .invalid("weights: '\(l.name)' is missing") }
            guard v.count == l.shape.reduce(1, *) else {
                throw .invalid("weights: '\(l.name)' has \(v.count) values, expected \(l.shape.reduce(1, *)) for shape \(l.shape)")
            }
            guard v.allSatisfy(\.isFinite) else { throw .invalid("weights: '\(l.name)' holds NaN or infinity") }
            ws.append(Buffer(v))
        }
        weights = ws
        grads = layout.map { Buffer($0.shape.reduce(1, *)) }
        rope = RopeTable(headDimension: configuration.headDimension, theta: configuration.ropeTheta)
        requantize()
    }

    /// Latent weights, in `ModelConfiguration.parameterLayout()` order (Hugging Face names).
    /// Setting them re-packs the quantized matrices.
    public var parameters: [Parameter] {
        get { layout.indices.map { i in Parameter(name: layout[i].name, shape: layout[i].shape, kind: layout[i].kind, values: weights[i].array) } }
        set {
            precondition(newValue.count == layout.count, "parameters: expected \(layout.count) tensors, got \(newValue.count)")
            for i in layout.indices {
                precondition(newValue[i].values.count == weights[i].count, "\(layout[i].name): expected \(weights[i].count) values, got \(newValue[i].values.count)")
                newValue[i].values.withUnsafeBufferPointer { weights[i].p.update(from: $0.baseAddress!, count: weights[i].count) }
            }
            requantize()
        }
    }

    /// ∂loss/∂parameter from the last `lossAndGradients` call, same layout as `parameters`.
    public var gradients: [[Float]] { grads.map(\.array) }

    /// Re-packs every BitLinear matrix from its latent weights (after each optimizer step) and counts
    /// the codes that changed (`lastFlips`). Ternary: absmean per tensor, codes round(W / s) clipped
    /// to ±1 with the kernel's rounding (half to even, as `bk_ternarize_absmean`'s `rintf`). Binary:
    /// codes sign(W − mean W) with sign(0) = +1, scale mean |W|.
    public func requantize() {
        guard configuration.precision != .float else { return }
        // The matrices are independent: they are re-packed in parallel among the model's threads
        // (each by itself, so the codes and scales do not depend on the thread count), then stored.
        let linears = layout.indices.filter { layout[$0].kind == .linear }
        prepareRequantization()
        var results = [Requantized?](repeating: nil, count: linears.count)
        results.withUnsafeMutableBufferPointer { rp in
            nonisolated(unsafe) let rp = rp
            parallelFor(linears.count, threads: threads) { k in rp[k] = requantized(linears[k]) }
        }
        for (k, i) in linears.enumerated() { install(results[k]!, at: i) }
    }

    /// One BitLinear matrix re-quantized: what `install` stores.
    typealias Requantized = (codes: [Int8], scale: Float, centre: Float, flips: Int, packed: TernaryMatrix)

    /// Allocates the dequantized copies `requantized` writes (once), so that tensors can then be
    /// re-quantized in parallel without changing the model's dictionaries.
    func prepareRequantization() {
        for i in layout.indices where layout[i].kind == .linear && dequantized[i] == nil { dequantized[i] = Buffer(weights[i].count) }
    }

    /// BitLinear tensor i re-quantized from its current latent weights: reads only tensor i's
    /// weights and codes and writes only its dequantized copy, so different tensors may run in
    /// parallel (after `prepareRequantization`); `install` then stores the result.
    func requantized(_ i: Int) -> Requantized {
        quantizeMatrix(i, previous: codes[i], dequantized: dequantized[i]!)
    }

    func install(_ r: Requantized, at i: Int) {
        lastFlips[i] = r.flips
        codes[i] = r.codes
        scales[i] = r.scale
        centres[i] = r.centre
        packed[i] = r.packed
    }

    /// One BitLinear matrix's codes, scale, centre, flips against `previous` and packed form; writes
    /// the dequantized weights into `dq`.
    private func quantizeMatrix(_ i: Int, previous old: [Int8]?, dequantized dq: Buffer) -> Requantized {
        let l = layout[i]
        let rows = l.shape[0], columns = l.shape[1]
        let w = weights[i].p, n = weights[i].count
        var c = [Int8](repeating: 0, count: n)
        var scale: Float = 0, centre: Float = 0, flips = 0
        // The kernel's sums (Σ|w| in eight double lanes in a fixed order, as `bk_ternarize_absmean`
        // sums, so the codes and scale are exactly its) and codes: ternary round(w / s) half to
        // even clipped to ±1 — +1 above 0.5, −1 below −0.5, 0 between; binary the sign of w − mean
        // with +1 at 0.
        let binary = configuration.precision == .binary  // `requantize` never calls this for .float
        c.withUnsafeMutableBufferPointer { cb in
            (old ?? []).withUnsafeBufferPointer { ob in
                flips = Kernels.default.requantize(w, count: n, binary: binary, previous: old == nil ? nil : ob.baseAddress,
                                                   codes: cb.baseAddress!, dequantized: dq.p, scale: &scale, centre: &centre)
            }
        }
        let packed = try! TernaryMatrix(values: c, rows: rows, columns: columns, scale: scale)  // codes are ternary by construction
        return (c, scale, centre, flips, packed)
    }

    /// The packed matrix the forward pass uses for a BitLinear tensor (nil for `.float` or other tensors).
    public func packedMatrix(_ name: String) -> TernaryMatrix? {
        guard let i = layout.firstIndex(where: { $0.name == name }) else { return nil }
        return packed[i]
    }
}

/// A fixed-size float buffer owned by one object (the training tapes and weights; no copy on write).
final class Buffer: @unchecked Sendable {
    let p: UnsafeMutablePointer<Float>
    let count: Int

    init(_ count: Int) {
        self.count = count
        p = Self.allocate(count)
        p.initialize(repeating: 0, count: max(count, 1))
    }

    /// A buffer whose every value the caller writes before reading (no zero fill: the fills of
    /// a step's ~100 MB of activations were 7% of a ternary step).
    init(uninitialized count: Int) {
        self.count = count
        p = Self.allocate(count)
    }

    init(_ values: [Float]) {
        count = values.count
        p = Self.allocate(count)
        p.initialize(repeating: 0, count: max(count, 1))
        values.withUnsafeBufferPointer { if count > 0 { p.update(from: $0.baseAddress!, count: count) } }
    }

    deinit { UnsafeMutableRawPointer(p).deallocate() }

    /// 64-byte aligned (cache lines: the kernels' full-line stores).
    private static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64).bindMemory(to: Float.self, capacity: max(count, 1))
    }

    var array: [Float] { Array(UnsafeBufferPointer(start: p, count: count)) }
    func zero() { p.update(repeating: 0, count: count) }
}

#if os(Linux)
/// glibc's mallopt (malloc.h is not in Swift's Glibc module).
@_silgen_name("mallopt") func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif

/// cos and sin of pos · θ^(−2i/d) in float, as inference computes them (`Rope` in BitNet).
struct RopeTable {
    let inverseFrequencies: [Float]

    init(headDimension d: Int, theta: Double) {
        inverseFrequencies = (0..<(d / 2)).map { i in 1 / Float(pow(theta, Double(Float(2 * i) / Float(d)))) }
    }

    func table(length: Int) -> (cos: [Float], sin: [Float]) {
        let half = inverseFrequencies.count
        var c = [Float](repeating: 0, count: length * half), s = c
        for p in 0..<length {
            for i in 0..<half {
                let angle = Float(p) * inverseFrequencies[i]
                c[p * half + i] = Float(Foundation.cos(Double(angle)))
                s[p * half + i] = Float(Foundation.sin(Double(angle)))
            }
        }
        return (c, s)
    }
}

/// Runs body(i) for i in 0..<count, split into `threads` contiguous ranges.
@inline(__always)
func parallelFor(_ count: Int, threads: Int, _ body: (Int) -> Void) {
    let workers = min(max(threads, 1), count)
    if workers <= 1 {
        for i in 0..<count { body(i) }
        return
    }
    withoutActuallyEscaping(body) { body in
        nonisolated(unsafe) let body = body
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            for i in (count * w / workers)..<(count * (w + 1) / workers) { body(i) }
        }
    }
}
