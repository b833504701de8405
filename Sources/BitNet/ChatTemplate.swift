import BitKernels
import Foundation

/// One turn of a conversation: `role` is `system`, `user` or `assistant`.
///
/// ```swift
/// let turn = ChatMessage(role: "user", content: "Hello!")
/// ```
public struct ChatMessage: Sendable, Equatable, Codable {
    /// "system", "user" or "assistant".
    public var role: String
    /// The message's text.
    public var content: String

    /// A message.
    ///
    /// ```swift
    /// let m = ChatMessage(role: "user", content: "Hello")
    /// ```
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// A model's chat format. Chat templates are Jinja programs; rather than interpret Jinja, this
/// recognizes the templates it knows (as llama.cpp's `llama_chat_apply_template` does) and renders
/// their format directly:
/// - `llama3`: `<|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>` per turn (LLaMA-3 Instruct);
/// - `bitnet`: `Role: content<|eot_id|>` per turn, then `Assistant: ` (microsoft/bitnet-b1.58-2B-4T).
///
/// Both start with the BOS token and trim each message, as their Jinja does.
///
/// ```swift
/// let t = try ChatTemplate(recognizing: config.chatTemplate!)      // or ChatTemplate(named: "bitnet")
/// let text = t.render([ChatMessage(role: "user", content: "Hi")], bos: "<|begin_of_text|>")
/// // "<|begin_of_text|>User: Hi<|eot_id|>Assistant: "
/// ```
public struct ChatTemplate: Sendable, Equatable {
    /// The templates this library renders: LLaMA-3's header tokens, or BitNet b1.58 2B-4T's
    /// "Role: text<|eot_id|>" turns.
    public enum Style: String, Sendable, CaseIterable { case llama3, bitnet }

    /// Which template this is.
    public let style: Style

    /// A format by name (`llama3` or `bitnet`); throws `unsupported` for another name.
    public init(named name: String) throws(BitNetError) {
        guard let s = Style(rawValue: name) else {
            throw .unsupported("chat template '\(name)'; known: \(Style.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        style = s
    }

    /// The format a Jinja chat template implements; throws `unsupported` (naming the formats this
    /// knows) for any other template.
    public init(recognizing jinja: String) throws(BitNetError) {
        let compact = jinja.filter { !$0.isWhitespace }
        if compact.contains("|capitalize+':'") || compact.contains("'Assistant:'") && compact.contains("<|eot_id|>") {
            style = .bitnet
        } else if jinja.contains("<|start_header_id|>") && jinja.contains("<|end_header_id|>") {
            style = .llama3
        } else {
            let start = jinja.prefix(60).replacingOccurrences(of: "\n", with: " ")
            throw .unsupported("chat template '\(start)…': this engine renders the llama3 and bitnet formats; pass --chat-template llama3|bitnet to choose one")
        }
    }

    /// The prompt text for `messages`, ending with the assistant's header when
    /// `addGenerationPrompt`. `bos` is the BOS token's text (empty for none).
    public func render(_ messages: [ChatMessage], bos: String, addGenerationPrompt: Bool = true) -> String {
        var out = bos
        for m in messages {
            let content = m.content.trimmingCharacters(in: .whitespacesAndNewlines)
            switch style {
            case .llama3: out += "<|start_header_id|>\(m.role)<|end_header_id|>\n\n\(content)<|eot_id|>"
            case .bitnet: out += "\(m.role.prefix(1).uppercased() + m.role.dropFirst().lowercased()): \(content)<|eot_id|>"
            }
        }
        if addGenerationPrompt {
            switch style {
            case .llama3: out += "<|start_header_id|>assistant<|end_header_id|>\n\n"
            case .bitnet: out += "Assistant: "
            }
        }
        return out
    }
}

/// What a model says about its special tokens: the BOS token and whether to add it, the ids that
/// end generation, and its chat template. Read from a checkpoint directory's `config.json`,
/// `generation_config.json`, `tokenizer_config.json` and `tokenizer.json`, or a GGUF file's
/// `tokenizer.ggml.*` / `tokenizer.chat_template` metadata. Everything is optional.
///
/// ```swift
/// let special = try SpecialTokens(modelPath: "bitnet-b1.58-2B-4T", tokenizer: tokenizer)
/// var prompt = tokenizer.encode(text)
/// if special.addsBOS, let bos = special.bos { prompt.insert(bos, at: 0) }
/// model.generate(prompt: prompt, maxNewTokens: 64, stopTokens: special.eos)
/// ```
public struct SpecialTokens: Sendable, Equatable {
    /// The BOS id, if the model has one.
    public var bos: Int?
    /// Whether a plain prompt starts with BOS (`add_bos_token`, the tokenizer's post-processor, or
    /// GGUF `tokenizer.ggml.add_bos_token`).
    public var addsBOS = false
    /// Ids that end generation: the EOS ids of every file that names one (and GGUF's EOT).
    public var eos: Set<Int> = []
    /// The Jinja chat template, if any.
    public var chatTemplate: String?

    /// Special tokens from their values.
    ///
    /// ```swift
    /// let special = SpecialTokens(bos: 128000, addsBOS: true, eos: [128001, 128009])
    /// ```
    public init(bos: Int? = nil, addsBOS: Bool = false, eos: Set<Int> = [], chatTemplate: String? = nil) {
        self.bos = bos
        self.addsBOS = addsBOS
        self.eos = eos
        self.chatTemplate = chatTemplate
    }

    /// Reads the model's files; `tokenizer` maps token texts (`bos_token: "<|begin_of_text|>"`) to ids.
    public init(modelPath path: String, tokenizer: Tokenizer?) throws(BitNetError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw .missingFile(path) }
        if isDirectory.boolValue { try self.init(directory: path, tokenizer: tokenizer) } else { try self.init(gguf: path) }
    }

    init(gguf path: String) throws(BitNetError) {
        let g = try GGUFFile(path: path)
        bos = g.metadata["tokenizer.ggml.bos_token_id"]?.int
        if case .bool(let b)? = g.metadata["tokenizer.ggml.add_bos_token"] { addsBOS = b } else { addsBOS = false }
        for key in ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"] {
            if let id = g.metadata[key]?.int { eos.insert(id) }
        }
        chatTemplate = g.metadata["tokenizer.chat_template"]?.string
    }

    init(directory: String, tokenizer: Tokenizer?) throws(BitNetError) {
        func json(_ name: String) throws(BitNetError) -> [String: Any]? {
            let file = directory + "/" + name
            let bytes: [UInt8]
            do { bytes = try readRegularFile(file, limit: 1 << 26) } catch {
                if error.kind == .missing { return nil }
                throw .unreadable(file: file, reason: error.reason)
            }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else {
                throw .malformed(file: file, reason: "not a JSON object")
            }
            return object
        }
        // An id, a list of ids, or null.
        func ids(_ value: Any?) -> [Int] {
            if let i = value as? Int { return [i] }
            return (value as? [Any] ?? []).compactMap { $0 as? Int }
        }
        // A token given as text or as {"content": text}, mapped through the tokenizer.
        func tokenID(_ value: Any?) -> Int? {
            let text = value as? String ?? (value as? [String: Any])?["content"] as? String
            guard let text, let tokenizer else { return nil }
            return tokenizer.specialTokens[text]
        }
        let config = try json("config.json"), generation = try json("generation_config.json")
        let tokenizerConfig = try json("tokenizer_config.json")
        for source in [config, generation] {
            if let b = ids(source?["bos_token_id"]).first { bos = b }
            eos.formUnion(ids(source?["eos_token_id"]))
        }
        if let b = tokenID(tokenizerConfig?["bos_token"]) { bos = b }
        if let e = tokenID(tokenizerConfig?["eos_token"]) { eos.insert(e) }
        if let add = tokenizerConfig?["add_bos_token"] as? Bool {
            addsBOS = add
        } else if let bos, let tokenizerJSON = try json("tokenizer.json") {
            addsBOS = Self.postProcessorAdds(bos, tokenizerJSON["post_processor"])
        }
        switch tokenizerConfig?["chat_template"] {
        case let s as String: chatTemplate = s
        case let list as [[String: Any]]:  // [{"name": "default", "template": …}, …]
            chatTemplate = (list.first { $0["name"] as? String == "default" } ?? list.first)?["template"] as? String
        default: break
        }
    }

    /// Whether a tokenizer.json post-processor (TemplateProcessing, possibly inside a Sequence)
    /// puts the special token `id` into a single sequence.
    static func postProcessorAdds(_ id: Int, _ processor: Any?) -> Bool {
        guard let p = processor as? [String: Any] else { return false }
        if let inner = p["processors"] as? [Any] { return inner.contains { postProcessorAdds(id, $0) } }
        guard p["type"] as? String == "TemplateProcessing", let single = p["single"] as? [[String: Any]],
              let special = p["special_tokens"] as? [String: Any] else { return false }
        for piece in single {
            guard let name = (piece["SpecialToken"] as? [String: Any])?["id"] as? String,
                  let entry = special[name] as? [String: Any] else { continue }
            if (entry["ids"] as? [Int])?.contains(id) == true { return true }
        }
        return false
    }

    /// The BOS token's text for a chat template (empty when the model has none).
    public func bosText(_ tokenizer: Tokenizer) -> String {
        guard let bos else { return "" }
        return String(decoding: tokenizer.bytes(of: bos), as: UTF8.self)
    }
}
