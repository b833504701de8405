/// A JSON value written with its object keys in the order given (config.json, tokenizer.json,
/// safetensors headers): the same input gives the same bytes.
indirect enum JSONText {
    case null
    case bool(Bool)
    case int(Int)
    /// A finite double, written in Swift's shortest round-trip form (`1e-05`, `500000.0`).
    case double(Double)
    case string(String)
    case array([JSONText])
    case object([(String, JSONText)])

    /// The text; `pretty` indents nested arrays and objects by two spaces (short arrays of
    /// scalars stay on one line).
    func text(pretty: Bool = true) -> String {
        var out = ""
        write(into: &out, pretty: pretty, depth: 0)
        return out
    }

    private func write(into out: inout String, pretty: Bool, depth: Int) {
        let newline = pretty ? "\n" + String(repeating: "  ", count: depth + 1) : ""
        let close = pretty ? "\n" + String(repeating: "  ", count: depth) : ""
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            precondition(d.isFinite, "JSON has no \(d)")
            out += "\(d)"
        case .string(let s): Self.quote(s, into: &out)
        case .array(let items):
            if items.isEmpty { out += "[]"; return }
            let scalars = items.allSatisfy { if case .array = $0 { false } else if case .object = $0 { false } else { true } }
            let inline = !pretty || (scalars && items.count <= 8)
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += inline && pretty ? ", " : "," }
                if !inline { out += newline }
                item.write(into: &out, pretty: pretty, depth: depth + 1)
            }
            out += inline ? "]" : close + "]"
        case .object(let members):
            if members.isEmpty { out += "{}"; return }
            out += "{"
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out += "," }
                out += newline
                Self.quote(key, into: &out)
                out += pretty ? ": " : ":"
                value.write(into: &out, pretty: pretty, depth: depth + 1)
            }
            out += close + "}"
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped, the rest UTF-8.
    static func quote(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

extension Double {
    /// The double whose shortest decimal is the float's (`Float(1e-5)` → `1e-05`, not
    /// `9.99999974737875e-06`), so a config written from a Float reads back as the same Float.
    init(shortestOf f: Float) { self = Double("\(f)") ?? Double(f) }
}
