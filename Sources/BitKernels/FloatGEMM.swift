import COpenBLAS
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Whether /proc/cpuinfo's flags list `flag` (false where there is no /proc).
private func cpuFlagsContain(_ flag: String) -> Bool {
    // /proc files report size 0, so read by lines with getline rather than by size.
    #if canImport(Glibc)
    guard let f = fopen("/proc/cpuinfo", "r") else { return false }
    defer { fclose(f) }
    var buffer: UnsafeMutablePointer<CChar>? = nil
    var capacity = 0
    defer { free(buffer) }
    while getline(&buffer, &capacity, f) > 0, let buffer {
        let s = String(validatingCString: buffer) ?? ""
        if s.hasPrefix("flags") { return s.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).contains { $0 == flag } }
    }
    #endif
    return false
}

/// Row-major single-precision matrix products, `C = α · op(A) · op(B) + β · C`, through OpenBLAS's
/// `cblas_sgemm` (Debian's `libopenblas-dev`) — the package's one float GEMM, used by training.
///
/// Threads: OpenBLAS always runs single-threaded here (set once, before the first product), and
/// `threads > 1` splits the rows of C into contiguous bands run by `DispatchQueue.concurrentPerform`.
/// One owner of the cores: OpenBLAS's own pthread pool and the kernels' OpenMP team both spin after
/// a call (OpenBLAS ~0.1 s, libomp's KMP_BLOCKTIME 0.2 s), so letting either run threads between
/// the other's calls makes them fight for the same two cores; training calls every kernel with one
/// thread from inside its own bands instead.
///
/// ```swift
/// var c = [Float](repeating: 0, count: 2 * 2)
/// FloatGEMM.multiply(m: 2, n: 2, k: 3, a: [1, 2, 3, 4, 5, 6], b: [1, 0, 0, 1, 1, 1], c: &c)
/// // c == [4, 5, 10, 11]
/// ```
public enum FloatGEMM {
    private static let singleThreaded: Void = { openblas_set_num_threads(1) }()

    /// The OpenBLAS kernel set chosen for this CPU at load time (e.g. "Cooperlake", "Prescott").
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// A better `OPENBLAS_CORETYPE` when OpenBLAS fell back to its generic SSE3 ("Prescott")
    /// kernels on an AVX-512 CPU it does not know, else nil. Debian's OpenBLAS 0.3.21 does not know
    /// Emerald Rapids: Prescott kernels ran training's GEMMs ~4× slower than "SapphireRapids" here.
    /// OpenBLAS reads the variable only when it loads, so a program must set it and re-execute.
    public static var suggestedCoreType: String? {
        guard coreName.lowercased() == "prescott", ISA.avx512.isSupported else { return nil }
        return cpuFlagsContain("amx_tile") ? "SapphireRapids" : "SkylakeX"
    }

    /// Whether OpenBLAS runs kernels made for this CPU rather than its generic fallback (then
    /// `suggestedCoreType` names better ones): optional float work — prompt attention as GEMMs —
    /// goes through OpenBLAS only when it does, as its generic kernels were slower than that work's
    /// own loops.
    ///
    /// ```swift
    /// if !FloatGEMM.hasNativeKernels { print("start with OPENBLAS_CORETYPE=\(FloatGEMM.suggestedCoreType!)") }
    /// ```
    public static var hasNativeKernels: Bool { suggestedCoreType == nil }

    /// C (m × n) = α · op(A) · op(B) + β · C for row-major arrays, op(A) m × k and op(B) k × n;
    /// `lda`, `ldb`, `ldc` default to the packed widths. Preconditions check every array is long enough.
    public static func multiply(transposeA: Bool = false, transposeB: Bool = false, m: Int, n: Int, k: Int,
                                alpha: Float = 1, a: [Float], lda: Int? = nil, b: [Float], ldb: Int? = nil,
                                beta: Float = 0, c: inout [Float], ldc: Int? = nil, threads: Int = 1) {
        let lda = lda ?? (transposeA ? m : k), ldb = ldb ?? (transposeB ? k : n), ldc = ldc ?? n
        precondition(m >= 0 && n >= 0 && k >= 0, "negative shape \(m) × \(n) × \(k)")
        precondition(a.count >= (transposeA ? (k - 1) * lda + m : (m - 1) * lda + k) || m * k == 0,
                     "A: \(a.count) values are too few for \(transposeA ? "\(k) × \(m)" : "\(m) × \(k)") with lda \(lda)")
        precondition(b.count >= (transposeB ? (n - 1) * ldb + k : (k - 1) * ldb + n) || n * k == 0,
                     "B: \(b.count) values are too few for \(transposeB ? "\(n) × \(k)" : "\(k) × \(n)") with ldb \(ldb)")
        precondition(c.count >= (m - 1) * ldc + n || m * n == 0, "C: \(c.count) values are too few for \(m) × \(n) with ldc \(ldc)")
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    multiply(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                             a: ap.baseAddress ?? UnsafePointer(bitPattern: 8)!, lda: lda,
                             b: bp.baseAddress ?? UnsafePointer(bitPattern: 8)!, ldb: ldb, beta: beta,
                             c: cp.baseAddress ?? UnsafeMutablePointer(bitPattern: 8)!, ldc: ldc, threads: threads)
                }
            }
        }
    }

    /// The pointer form for the package's own hot loops (training); the caller guarantees the sizes.
    package static func multiply(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                                 a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
                                 c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int = 1) {
        _ = singleThreaded
        guard m > 0 && n > 0 else { return }
        let ta = transposeA ? CblasTrans : CblasNoTrans, tb = transposeB ? CblasTrans : CblasNoTrans
        // Below ~32 rows a band is too thin for a second thread to pay.
        let bands = min(max(threads, 1), max(m / 32, 1))
        if bands == 1 {
            cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
            return
        }
        nonisolated(unsafe) let a = a, c = c
        nonisolated(unsafe) let b = b
        DispatchQueue.concurrentPerform(iterations: bands) { band in
            let lo = m * band / bands, hi = m * (band + 1) / bands
            let aBand = transposeA ? a + lo : a + lo * lda
            cblas_sgemm(CblasRowMajor, ta, tb, Int32(hi - lo), Int32(n), Int32(k), alpha, aBand, Int32(lda), b, Int32(ldb),
                        beta, c + lo * ldc, Int32(ldc))
        }
    }
}
