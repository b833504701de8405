/// Loops of the training step written on explicit SIMD vectors: Swift does not reassociate float
/// sums, so a plain `sum += …` loop runs one element per add latency. Each helper fixes its own
/// order (lanes, then the lanes added in a fixed order, then the tail), so results do not depend on
/// the thread count and differ from a one-at-a-time sum only by rounding.

/// The fixed-order total of eight lanes.
@inline(__always)
func orderedSum(_ l: SIMD8<Double>) -> Double { ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7])) }

@inline(__always)
func orderedSum(_ l: SIMD16<Float>) -> Float {
    let a = l.lowHalf + l.highHalf, b = a.lowHalf + a.highHalf, c = b.lowHalf + b.highHalf
    return c[0] + c[1]
}

@inline(__always)
func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self) }

@inline(__always)
func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self) }

/// Σ x² in double (the gradient norm's sum per chunk; RMSNorm's runs in C, `Kernels.rmsNorm`).
func sumOfSquares(_ x: UnsafePointer<Float>, count n: Int) -> Double {
    var lanes = SIMD8<Double>(), j = 0
    while j + 8 <= n {
        let d = SIMD8<Double>(UnsafeRawPointer(x + j).loadUnaligned(as: SIMD8<Float>.self))
        lanes += d * d
        j += 8
    }
    var total = orderedSum(lanes)
    while j < n {
        total += Double(x[j]) * Double(x[j])
        j += 1
    }
    return total
}

/// e^x for x ≤ 0 (softmax after subtracting the maximum), eight at a time: x = n·ln 2 + r with
/// |r| ≤ ln 2 / 2, Cephes' degree-6 polynomial for e^r, times 2^n built in the exponent bits;
/// within 2 ulp of `expf` above −87 and a tiny normal value below (x is clamped there). Eight
/// lanes, not sixteen: Swift code here is compiled for baseline x86-64 (SSE2), where sixteen
/// lanes of the polynomial no longer fit the registers.
@inline(__always)
func expNonPositive(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let clamped = x.replacing(with: -87, where: x .< -87)
    // n = x · log2 e rounded to nearest by adding 1.5 · 2^23 (which also leaves n in the low
    // mantissa bits for 2^n below; `rounded` is a libm call per lane on baseline x86-64).
    let shifted = clamped * 1.442_695_04 + 12_582_912
    let n = shifted - 12_582_912
    let r = clamped - n * 0.693_359_375 + n * 2.121_944_4e-4
    var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_95e-3
    p = p * r + 8.333_451_9e-3
    p = p * r + 4.166_579_59e-2
    p = p * r + 0.166_666_655
    p = p * r + 0.500_000_01
    p = p * (r * r) + r + 1
    let integer = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000
    return p * unsafeBitCast((integer &+ 127) &<< 23, to: SIMD8<Float>.self)
}

@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }

/// row[0...last] ← softmax(row[0...last]) (the causal row of a query), row[last+1..<count] ← 0.
func softmaxRow(_ row: UnsafeMutablePointer<Float>, last: Int, count: Int) {
    let n = last + 1
    var best = -Float.infinity, j = 0
    if n >= 8 {
        var m = load8(row)
        j = 8
        while j + 8 <= n {
            let v = load8(row + j)
            m = m.replacing(with: v, where: v .> m)  // pointwiseMax is a generic call per vector here
            j += 8
        }
        best = m.max()
    }
    for k in j..<n { best = max(best, row[k]) }
    var sums = SIMD8<Float>()
    j = 0
    while j + 8 <= n {
        let e = expNonPositive(load8(row + j) - best)
        UnsafeMutableRawPointer(row + j).storeBytes(of: e, as: SIMD8<Float>.self)
        sums += e
        j += 8
    }
    if j < n {
        // The tail through one vector whose lanes past the row hold 0 after the exponential.
        var tail = SIMD8<Float>(repeating: -87)
        for k in j..<n { tail[k - j] = row[k] - best }
        var e = expNonPositive(tail)
        for k in (n - j)..<8 { e[k] = 0 }
        for k in j..<n { row[k] = e[k - j] }
        sums += e
    }
    let inverse = 1 / (((sums[0] + sums[1]) + (sums[2] + sums[3])) + ((sums[4] + sums[5]) + (sums[6] + sums[7])))
    j = 0
    while j + 16 <= n {
        store16(load16(row + j) * inverse, row + j)
        j += 16
    }
    for k in j..<n { row[k] *= inverse }
    if n < count { (row + n).update(repeating: 0, count: count - n) }
}

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
