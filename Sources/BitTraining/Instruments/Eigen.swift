// Eigenvalues of a real symmetric matrix: Householder reduction to tridiagonal form, then the
// QL algorithm with implicit shifts (Numerical Recipes, 3rd ed., §11.3–11.4: tred2 without
// eigenvectors, then tqli). About (4/3)n³ flops for the reduction; 512×512 takes well under a
// second in release, where cyclic Jacobi needs several sweeps of ~4n³.

/// The eigenvalues of the symmetric `n × n` matrix `a` (row-major; only the lower triangle is
/// read), in descending order.
///
/// ```swift
/// symmetricEigenvalues(Matrix(rows: 2, cols: 2, values: [2, 1, 1, 2]))   // [3, 1]
/// ```
public func symmetricEigenvalues(_ matrix: Matrix) -> [Double] {
    precondition(matrix.rows == matrix.cols, "eigenvalues need a square matrix, got \(matrix.rows)×\(matrix.cols)")
    let n = matrix.rows
    if n == 0 { return [] }
    if n == 1 { return [matrix.values[0]] }
    var a = matrix.values
    var d = [Double](repeating: 0, count: n)
    var e = [Double](repeating: 0, count: n)
    a.withUnsafeMutableBufferPointer { a in
        // Householder: row i (from the bottom) is reduced so that only a[i][i-1] stays below the diagonal.
        for i in stride(from: n - 1, through: 1, by: -1) {
            let l = i - 1
            var h = 0.0
            if l > 0 {
                var scale = 0.0
                for k in 0...l { scale += abs(a[i * n + k]) }
                if scale == 0 {
                    e[i] = a[i * n + l]
                } else {
                    for k in 0...l {
                        a[i * n + k] /= scale
                        h += a[i * n + k] * a[i * n + k]
                    }
                    var f = a[i * n + l]
                    let g = f >= 0 ? -h.squareRoot() : h.squareRoot()
                    e[i] = scale * g
                    h -= f * g
                    a[i * n + l] = f - g
                    f = 0
                    for j in 0...l {
                        var g = 0.0
                        for k in 0...j { g += a[j * n + k] * a[i * n + k] }
                        if j + 1 <= l { for k in (j + 1)...l { g += a[k * n + j] * a[i * n + k] } }
                        e[j] = g / h
                        f += e[j] * a[i * n + j]
                    }
                    let hh = f / (h + h)
                    for j in 0...l {
                        let f = a[i * n + j]
                        let g = e[j] - hh * f
                        e[j] = g
                        for k in 0...j { a[j * n + k] -= f * e[k] + g * a[i * n + k] }
                    }
                }
            } else {
                e[i] = a[i * n + l]
            }
            _ = h
        }
        for i in 0..<n { d[i] = a[i * n + i] }
    }
    // QL with implicit shifts on the tridiagonal (d, e).
    for i in 1..<n { e[i - 1] = e[i] }
    e[n - 1] = 0
    let eps = Double.ulpOfOne
    for l in 0..<n {
        var iterations = 0
        var m = l
        repeat {
            m = l
            while m < n - 1 {
                let dd = abs(d[m]) + abs(d[m + 1])
                if abs(e[m]) <= eps * dd { break }
                m += 1
            }
            if m != l {
                iterations += 1
                if iterations > 100 { break }  // does not happen for finite input; keep what we have
                var g = (d[l + 1] - d[l]) / (2 * e[l])
                var r = hypot(g, 1)
                g = d[m] - d[l] + e[l] / (g + (g >= 0 ? r : -r))
                var s = 1.0, c = 1.0, p = 0.0
                var i = m - 1
                var deflated = false
                while i >= l {
                    let f = s * e[i]
                    let b = c * e[i]
                    r = hypot(f, g)
                    e[i + 1] = r
                    if r == 0 {
                        d[i + 1] -= p
                        e[m] = 0
                        deflated = true
                        break
                    }
                    s = f / r
                    c = g / r
                    g = d[i + 1] - p
                    r = (d[i] - g) * s + 2 * c * b
                    p = s * r
                    d[i + 1] = g + p
                    g = c * r - b
                    i -= 1
                }
                if deflated { continue }
                d[l] -= p
                e[l] = g
                e[m] = 0
            }
        } while m != l
    }
    return d.sorted(by: >)
}

private func hypot(_ a: Double, _ b: Double) -> Double {
    let x = abs(a), y = abs(b)
    if x > y { let t = y / x; return x * (1 + t * t).squareRoot() }
    if y == 0 { return 0 }
    let t = x / y
    return y * (1 + t * t).squareRoot()
}

/// The singular values of `matrix`, descending: square roots of the eigenvalues of the smaller
/// Gram matrix (XᵀX or XXᵀ), negatives from rounding clamped to zero.
public func singularValues(_ matrix: Matrix) -> [Double] {
    let gram = matrix.cols <= matrix.rows ? matrix.transposedTimes(matrix) : matrix.timesTransposed()
    return symmetricEigenvalues(gram).map { max($0, 0).squareRoot() }
}
