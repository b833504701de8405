import CFFTW
import Foundation

/// Fixed-size log-mel features of a clip: short-time power spectra (Hann window, FFTW's real
/// FFT) summed into triangular mel bands, log-compressed, then averaged over `segments` equal
/// stretches of time — so a 0.14 s and a 2.3 s recording both become `bands × segments` values
/// (segment-major: all bands of segment 0, then segment 1, ...).
///
/// One extractor owns an FFTW plan: use one per thread (plans are created once, at `init`).
///
/// ```swift
/// let mel = LogMelFeatures(sampleRate: 8000)        // 25 ms frames, 10 ms hop, 32 bands × 16 segments
/// let x = mel.features(of: clip)                    // 512 floats
/// let bits = FeatureEncoder(.topK(96), inputs: x.count).encode(x)
/// ```
public final class LogMelFeatures {
    /// Samples per second of the audio this extractor takes.
    public let sampleRate: Int
    /// Samples per analysis frame.
    public let frameLength: Int
    /// Samples between the starts of consecutive frames.
    public let hop: Int
    /// The FFT's length (the frame, zero-padded to a power of two).
    public let fftSize: Int
    /// Mel bands per frame.
    public let bands: Int
    /// Time segments the frames are averaged into (the feature grid's width).
    public let segments: Int
    /// Values per clip: `bands × segments`.
    public var count: Int { bands * segments }

    private let window: [Float]
    private let filters: [(start: Int, weights: [Float])]  // one triangular filter per band over FFT bins
    private let input: UnsafeMutablePointer<Float>
    private let output: OpaquePointer  // fftwf_complex *
    private let plan: fftwf_plan

    /// An extractor with its FFTW plan; see the type's example.
    public init(sampleRate: Int, frameMilliseconds: Double = 25, hopMilliseconds: Double = 10,
                bands: Int = 32, segments: Int = 16, lowHz: Double = 60, highHz: Double? = nil) {
        precondition(sampleRate > 0 && bands > 0 && segments > 0, "LogMelFeatures needs positive sizes")
        self.sampleRate = sampleRate
        let frameLength = max(Int((Double(sampleRate) * frameMilliseconds / 1000).rounded()), 2)
        self.frameLength = frameLength
        hop = max(Int((Double(sampleRate) * hopMilliseconds / 1000).rounded()), 1)
        var n = 1
        while n < frameLength { n <<= 1 }
        fftSize = n
        self.bands = bands
        self.segments = segments
        window = (0..<frameLength).map { i in Float(0.5 - 0.5 * cos(2 * Double.pi * Double(i) / Double(frameLength - 1))) }

        // Mel scale (HTK): m = 2595 log10(1 + f / 700); band edges evenly spaced in m.
        func mel(_ f: Double) -> Double { 2595 * log10(1 + f / 700) }
        func hz(_ m: Double) -> Double { 700 * (pow(10, m / 2595) - 1) }
        let top = min(highHz ?? Double(sampleRate) / 2, Double(sampleRate) / 2)
        let edges = (0...(bands + 1)).map { hz(mel(lowHz) + (mel(top) - mel(lowHz)) * Double($0) / Double(bands + 1)) }
        let binHz = Double(sampleRate) / Double(n)
        filters = (0..<bands).map { b in
            let lo = edges[b], mid = edges[b + 1], hi = edges[b + 2]
            let first = Int((lo / binHz).rounded(.up)), last = min(Int((hi / binHz).rounded(.down)), n / 2)
            guard first <= last else { return (min(Int((mid / binHz).rounded()), n / 2), [1]) }  // narrower than a bin
            let w = (first...last).map { k -> Float in
                let f = Double(k) * binHz
                return Float(f <= mid ? (f - lo) / (mid - lo) : (hi - f) / (hi - mid))
            }
            return (first, w)
        }
        input = fftwf_alloc_real(n)
        output = OpaquePointer(fftwf_alloc_complex(n / 2 + 1))
        plan = fftwf_plan_dft_r2c_1d(Int32(n), input, UnsafeMutablePointer(output), UInt32(FFTW_ESTIMATE))
    }

    deinit {
        fftwf_destroy_plan(plan)
        fftwf_free(input)
        fftwf_free(UnsafeMutableRawPointer(output))
    }

    /// `bands × segments` log-mel values of `clip` (its sample rate must be this extractor's).
    public func features(of clip: PCMAudio) -> [Float] {
        precondition(clip.sampleRate == sampleRate, "clip is \(clip.sampleRate) Hz, the extractor \(sampleRate) Hz")
        let s = clip.samples
        let frames = max(1, s.count >= frameLength ? (s.count - frameLength) / hop + 1 : 1)
        var logMel = [Float](repeating: 0, count: frames * bands)
        let spectrum = UnsafeMutableRawPointer(output).assumingMemoryBound(to: Float.self)  // re, im pairs
        var power = [Float](repeating: 0, count: fftSize / 2 + 1)
        for f in 0..<frames {
            let start = f * hop
            for i in 0..<fftSize {
                input[i] = i < frameLength && start + i < s.count ? s[start + i] * window[i] : 0
            }
            fftwf_execute(plan)
            for k in 0...(fftSize / 2) {
                let re = spectrum[2 * k], im = spectrum[2 * k + 1]
                power[k] = re * re + im * im
            }
            for b in 0..<bands {
                var e: Float = 0
                for (j, w) in filters[b].weights.enumerated() { e += w * power[filters[b].start + j] }
                logMel[f * bands + b] = log(e + 1e-6)
            }
        }
        // Average the frames of each of `segments` equal stretches (a stretch shorter than a
        // frame takes the frame it falls in).
        var out = [Float](repeating: 0, count: count)
        for g in 0..<segments {
            let lo = g * frames / segments
            let hi = max((g + 1) * frames / segments, lo + 1)
            for b in 0..<bands {
                var sum: Float = 0
                for f in lo..<hi { sum += logMel[f * bands + b] }
                out[g * bands + b] = sum / Float(hi - lo)
            }
        }
        return out
    }
}
