import BitNet
import Foundation

/// Any JSON value, decoded without loss of the distinctions OpenAI's parameters depend on (a
/// Boolean is not a number, 1.5 is not an integer).
enum JSONValue: Decodable, Equatable, Sendable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null
        } else if let b = try? c.decode(Bool.self) { self = .bool(b)
        } else if let n = try? c.decode(Double.self) { self = .number(n)
        } else if let s = try? c.decode(String.self) { self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) { self = .array(a)
        } else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    var int: Int? {
        if case .number(let n) = self, n.rounded() == n, abs(n) < 0x1p62 { return Int(n) }
        return nil
    }
}

/// 2 for 2.0, 0.5 for 0.5.
func plain(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x) }

/// A request the server refuses, with OpenAI's error fields.
struct APIError: Error, Equatable {
    var status: Int
    var message: String
    var type: String
    var param: String?
    var code: String?

    static func invalid(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: 400, message: message, type: "invalid_request_error", param: param, code: code)
    }

    /// `{"error": {"message", "type", "param", "code"}}`
    var json: [String: Any] {
        ["error": ["message": message, "type": type, "param": param ?? NSNull(), "code": code ?? NSNull()] as [String: Any]]
    }
}

/// A validated `/v1/completions` or `/v1/chat/completions` request.
struct CompletionParameters: Equatable {
    enum Prompt: Equatable {
        case text(String)
        case tokens([Int])
        case chat([ChatMessage])
    }

    var model: String
    var prompt: Prompt
    var maxTokens: Int?
    var temperature: Float = 1
    var topP: Float = 1
    var topK = 0
    var seed: UInt64?
    var stream = false
    var includeUsage = false
    var stop: [String] = []
    var echo = false

    /// Parses and checks a request body; `chat` selects the chat endpoint's fields.
    init(body: [UInt8], chat: Bool) throws(APIError) {
        let root: JSONValue
        do { root = try JSONDecoder().decode(JSONValue.self, from: Data(body)) } catch {
            throw .invalid("the request body is not valid JSON")
        }
        guard case .object(let o) = root else { throw .invalid("the request body must be a JSON object") }
        guard case .string(let m)? = o["model"] else { throw .invalid("'model' is required (a string)", param: "model") }
        model = m

        func number(_ key: String, in range: ClosedRange<Double>, openLower: Bool = false) throws(APIError) -> Double? {
            guard let v = o[key], v != .null else { return nil }
            guard case .number(let n) = v, n.isFinite, range.contains(n), !(openLower && n == range.lowerBound) else {
                let bounds = "\(openLower ? "(" : "[")\(plain(range.lowerBound)), \(plain(range.upperBound))]"
                throw .invalid("'\(key)' must be a number in \(bounds)", param: key)
            }
            return n
        }
        func integer(_ key: String, min: Int) throws(APIError) -> Int? {
            guard let v = o[key], v != .null else { return nil }
            guard let i = v.int, i >= min else { throw .invalid("'\(key)' must be an integer ≥ \(min)", param: key) }
            return i
        }
        func bool(_ key: String) throws(APIError) -> Bool {
            guard let v = o[key], v != .null else { return false }
            guard case .bool(let b) = v else { throw .invalid("'\(key)' must be true or false", param: key) }
            return b
        }

        if let t = try number("temperature", in: 0...2) { temperature = Float(t) }
        if let p = try number("top_p", in: 0...1, openLower: true) { topP = Float(p) }
        if let k = try integer("top_k", min: 0) { topK = k }
        if let s = o["seed"], s != .null {
            guard let i = s.int else { throw .invalid("'seed' must be an integer", param: "seed") }
            seed = UInt64(bitPattern: Int64(i))
        }
        maxTokens = try integer(chat && o["max_completion_tokens"] != nil ? "max_completion_tokens" : "max_tokens", min: 1)
        if let n = try integer("n", min: 1), n != 1 { throw .invalid("'n' must be 1: this server returns one choice", param: "n") }
        stream = try bool("stream")
        if case .object(let so)? = o["stream_options"], case .bool(let u)? = so["include_usage"] { includeUsage = u }
        switch o["stop"] {
        case nil, .null?: break
        case .string(let s)?: stop = [s]
        case .array(let a)? where a.count <= 4:
            for item in a {
                guard case .string(let s) = item, !s.isEmpty else { throw .invalid("'stop' must be a string or up to 4 non-empty strings", param: "stop") }
                stop.append(s)
            }
        default: throw .invalid("'stop' must be a string or up to 4 non-empty strings", param: "stop")
        }
        if stop.contains("") { throw .invalid("'stop' must be a string or up to 4 non-empty strings", param: "stop") }

        if chat {
            guard case .array(let list)? = o["messages"], !list.isEmpty else {
                throw .invalid("'messages' is required: a non-empty array of {role, content}", param: "messages")
            }
            var messages: [ChatMessage] = []
            for (i, item) in list.enumerated() {
                guard case .object(let mo) = item, case .string(let role)? = mo["role"],
                      ["system", "user", "assistant", "developer"].contains(role) else {
                    throw .invalid("messages[\(i)]: 'role' must be system, user or assistant", param: "messages")
                }
                var text = ""
                switch mo["content"] {
                case .string(let s)?: text = s
                case .array(let parts)?:  // [{"type": "text", "text": …}]
                    for part in parts {
                        guard case .object(let po) = part, po["type"] == .string("text"), case .string(let s)? = po["text"] else {
                            throw .invalid("messages[\(i)]: only text content parts are supported", param: "messages")
                        }
                        text += s
                    }
                default: throw .invalid("messages[\(i)]: 'content' must be a string", param: "messages")
                }
                messages.append(ChatMessage(role: role == "developer" ? "system" : role, content: text))
            }
            prompt = .chat(messages)
        } else {
            echo = try bool("echo")
            // A string, an array of token ids, or a one-element array of either.
            var p = o["prompt"]
            if case .array(let a)? = p, a.count == 1, case .string = a[0] { p = a[0] }
            if case .array(let a)? = p, a.count == 1, case .array = a[0] { p = a[0] }
            switch p {
            case .string(let s)?:
                guard !s.isEmpty else { throw .invalid("'prompt' is empty", param: "prompt") }
                prompt = .text(s)
            case .array(let a)? where !a.isEmpty:
                let ids = a.compactMap(\.int)
                guard ids.count == a.count, ids.allSatisfy({ $0 >= 0 }) else {
                    throw .invalid("'prompt' must be a string or an array of token ids", param: "prompt")
                }
                prompt = .tokens(ids)
            case .array?: throw .invalid("'prompt' is empty", param: "prompt")
            default: throw .invalid("'prompt' is required: a string or an array of token ids (one prompt per request)", param: "prompt")
            }
        }
    }

    /// The sampler these parameters ask for: greedy at temperature 0, else seeded (a random seed
    /// when the request gives none).
    var sampler: Sampler {
        temperature == 0 ? .greedy : Sampler(temperature: temperature, topK: topK, topP: topP, seed: seed ?? UInt64.random(in: 0...UInt64.max))
    }
}
