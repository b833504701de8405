/// Loops of the training step written on explicit SIMD vectors: Swift does not reassociate float
/// sums, so a plain `sum += …` loop runs one element per add latency. Each helper fixes its own
/// order (lanes, then the lanes added in a fixed order, then the tail), so results do not depend on
/// the thread count and differ from a one-at-a-time sum only by rounding.

@inline(__always)
func orderedSum(_ l: SIMD16<Float>) -> Float {
    let a = l.lowHalf + l.highHalf, b = a.lowHalf + a.highHalf, c = b.lowHalf + b.highHalf
    return c[0] + c[1]
}

@inline(__always)
func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self) }

@inline(__always)
func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self) }

/// Σ a[i] · b[i] in sixteen float lanes.
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int) -> Float {
    var lanes = SIMD16<Float>(), j = 0
    while j + 16 <= n {
        lanes += load16(a + j) * load16(b + j)
        j += 16
    }
    var total = orderedSum(lanes)
    while j < n {
        total += a[j] * b[j]
        j += 1
    }
    return total
}
