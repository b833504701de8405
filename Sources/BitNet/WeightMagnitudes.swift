import BitKernels
import Foundation

/// The bound that keeps every activation of a forward pass finite, checked once at load.
///
/// Finite weights can still overflow: a norm weight of 1e30 makes the next projection infinite,
/// and the activation quantizer then stops the process. Along the architecture every value is
/// bounded by the weights: an RMSNorm output by N·√d (N the largest |norm weight|, eps > 0), a
/// ternary projection by S·|input|·columns (S the largest row scale), so q, k, v, gate and up by
/// A = S·N·D^1.5 (D the larger of hidden and FFN sizes), relu²(gate)·up by A³, attention scores by
/// A²·√headDim, and each layer adds at most 2A to the residual stream, which the next norm
/// rescales. A ≤ 10^12 keeps A³ below Float's 3.4·10^38; the LM head needs H·N·D^1.5 ≤ 10^36 (H
/// its largest |weight|). A released BitNet (D = 6912, scales and norms in the tens) has A near
/// 10^9, three orders of magnitude inside the bound.
extension BitNetModel {
    static let activationBound = 1e12, logitBound = 1e36

    func checkWeightMagnitudes(file: String) throws(BitNetError) {
        let width = pow(Double(max(config.hiddenSize, config.intermediateSize)), 1.5)
        var norm = (value: Double(finalNorm.largestMagnitude), what: "the final norm")
        var scale = (value: 0.0, what: "")
        let parts: [(String, KeyPath<DecoderLayer, RMSNorm>)] = [
            ("input norm", \.inputNorm), ("attention sub-norm", \.attentionSubNorm),
            ("post-attention norm", \.postAttentionNorm), ("FFN sub-norm", \.ffnSubNorm)]
        let linears: [(String, KeyPath<DecoderLayer, BitLinear>)] = [
            ("q", \.q), ("k", \.k), ("v", \.v), ("o", \.o), ("gate", \.gate), ("up", \.up), ("down", \.down)]
        for (i, layer) in layers.enumerated() {
            for (name, path) in parts {
                let m = Double(layer[keyPath: path].largestMagnitude)
                if m > norm.value { norm = (m, "layer \(i) \(name)") }
            }
            for (name, path) in linears {
                let m = Double(layer[keyPath: path].weights.rowScales.lazy.map(abs).max() ?? 0)
                if m > scale.value { scale = (m, "layer \(i) \(name) projection's scale") }
            }
        }
        let a = scale.value * norm.value * width
        guard a <= Self.activationBound else {
            throw .malformed(file: file, reason: "weights too large to keep activations finite: \(norm.what) reaches \(Float(norm.value)), \(scale.what) \(Float(scale.value)) (norm × scale × width^1.5 = \(Float(a)) > 1e12)")
        }
        let h = Double(head.largestMagnitude)
        guard h * norm.value * width <= Self.logitBound else {
            throw .malformed(file: file, reason: "weights too large to keep logits finite: the LM head reaches \(Float(h)), \(norm.what) \(Float(norm.value))")
        }
    }
}

extension RMSNorm {
    var largestMagnitude: Float { weight.lazy.map(abs).max() ?? 0 }
}

extension FloatRows {
    /// The largest |value| (bf16 compared as magnitude bits: monotonic for finite values).
    var largestMagnitude: Float {
        switch self {
        case .bf16(let m): Float(bfloat16Bits: m.withBitPatterns { $0.lazy.map { $0 & 0x7fff }.max() ?? 0 })
        case .float(let v): v.lazy.map(abs).max() ?? 0
        case .int8(let m): 127 * (m.rowScales.lazy.map(abs).max() ?? 0)
        }
    }
}
