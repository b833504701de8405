// Definitions the tests of several targets check kernels against.

/// Each pixel's 3 × 3 neighbourhood sum (itself included, the image's edge cut off) in an
/// image `columns` pixels wide: the second key of rank encoding with blurred ties.
public func neighbourhoodSums(_ p: [UInt8], columns: Int) -> [Int] {
    let rows = p.count / columns
    return p.indices.map { i in
        let r = i / columns, c = i % columns
        var s = 0
        for dr in -1...1 where (0..<rows).contains(r + dr) {
            for dc in -1...1 where (0..<columns).contains(c + dc) { s += Int(p[(r + dr) * columns + c + dc]) }
        }
        return s
    }
}
