/// A dense row-major matrix of `Double`: the input of every instrument.
///
/// ```swift
/// let x = Matrix(rows: 2, cols: 3, values: [1, 0, 0, 0, 1, 0])
/// x[1, 1]   // 1
/// ```
public struct Matrix: Sendable, Equatable {
    /// Number of rows.
    public let rows: Int
    /// Number of columns.
    public let cols: Int
    /// Row-major: element (r, c) at `r * cols + c`.
    public var values: [Double]

    /// A matrix of `rows × cols` row-major values; see the type's example.
    public init(rows: Int, cols: Int, values: [Double]) {
        precondition(rows >= 0 && cols >= 0, "matrix size \(rows)×\(cols) is negative")
        precondition(
            values.count == rows * cols,
            "matrix \(rows)×\(cols) needs \(rows * cols) values, got \(values.count)")
        self.rows = rows
        self.cols = cols
        self.values = values
    }

    /// A matrix from row-major `Float`s (hidden states, embeddings), widened to `Double`.
    public init(rows: Int, cols: Int, floats: [Float]) {
        self.init(rows: rows, cols: cols, values: floats.map(Double.init))
    }

    /// A `rows × cols` matrix of zeros.
    public static func zeros(rows: Int, cols: Int) -> Matrix {
        Matrix(rows: rows, cols: cols, values: [Double](repeating: 0, count: rows * cols))
    }

    /// Element (r, c).
    public subscript(r: Int, c: Int) -> Double {
        get { values[r * cols + c] }
        set { values[r * cols + c] = newValue }
    }

    /// Row `r` as an array.
    public func row(_ r: Int) -> [Double] { Array(values[(r * cols)..<((r + 1) * cols)]) }

    /// The rows at `indices`, in that order.
    public func selectingRows(_ indices: [Int]) -> Matrix {
        var out = [Double]()
        out.reserveCapacity(indices.count * cols)
        for r in indices { out.append(contentsOf: values[(r * cols)..<((r + 1) * cols)]) }
        return Matrix(rows: indices.count, cols: cols, values: out)
    }

    /// Each column minus its mean.
    public func centeringColumns() -> Matrix {
        guard rows > 0 else { return self }
        var mean = [Double](repeating: 0, count: cols)
        for r in 0..<rows { for c in 0..<cols { mean[c] += values[r * cols + c] } }
        for c in 0..<cols { mean[c] /= Double(rows) }
        var out = values
        for r in 0..<rows { for c in 0..<cols { out[r * cols + c] -= mean[c] } }
        return Matrix(rows: rows, cols: cols, values: out)
    }

    /// The product `selfᵀ · other` (cols × other.cols); both must have the same row count.
    public func transposedTimes(_ other: Matrix) -> Matrix {
        precondition(rows == other.rows, "row mismatch: \(rows) vs \(other.rows)")
        let m = cols, n = other.cols
        var out = [Double](repeating: 0, count: m * n)
        values.withUnsafeBufferPointer { a in
            other.values.withUnsafeBufferPointer { b in
                out.withUnsafeMutableBufferPointer { o in
                    for r in 0..<rows {
                        let ar = r * m, br = r * n
                        for i in 0..<m {
                            let x = a[ar + i]
                            if x == 0 { continue }
                            let oi = i * n
                            for j in 0..<n { o[oi + j] += x * b[br + j] }
                        }
                    }
                }
            }
        }
        return Matrix(rows: m, cols: n, values: out)
    }

    /// The product `self · selfᵀ` (rows × rows).
    public func timesTransposed() -> Matrix {
        var out = [Double](repeating: 0, count: rows * rows)
        values.withUnsafeBufferPointer { a in
            out.withUnsafeMutableBufferPointer { o in
                for i in 0..<rows {
                    for j in 0...i {
                        var s = 0.0
                        for k in 0..<cols { s += a[i * cols + k] * a[j * cols + k] }
                        o[i * rows + j] = s
                        o[j * rows + i] = s
                    }
                }
            }
        }
        return Matrix(rows: rows, cols: rows, values: out)
    }

    /// The Frobenius norm squared, Σ x².
    public var frobeniusNormSquared: Double { values.reduce(0) { $0 + $1 * $1 } }
}
