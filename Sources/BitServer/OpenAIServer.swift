import BitKernels
import BitNet
import Foundation
import Hummingbird
import Logging

/// A loaded model with what serving it needs: its tokenizer (optional: without one, prompts are
/// token-id arrays and completions come back as ids), special tokens and chat format.
///
/// ```swift
/// let served = try ServedModel(path: "bitnet-b1.58-2B-4T")       // name: the last path component
/// ```
public struct ServedModel: Sendable {
    /// The model name clients send and `/v1/models` lists.
    public let name: String
    /// The loaded model.
    public let model: BitNetModel
    /// Its tokenizer; nil when it has none (prompts must then be token ids).
    public let tokenizer: Tokenizer?
    /// BOS, EOS and the chat template the checkpoint names.
    public let special: SpecialTokens
    /// nil when the model has no chat template (or one this engine cannot render).
    public let template: ChatTemplate?
    /// Why `template` is nil, for the error a chat request gets.
    public let templateProblem: String?
    /// The context length requests are checked against.
    public let contextLimit: Int
    /// Where a chat reply ends: the EOS ids and the token that closes each turn in the template
    /// (`<|eot_id|>`), which some models' files do not list as an EOS.
    public var chatStopTokens: Set<Int> {
        special.eos.union(template != nil ? [tokenizer?.specialTokens["<|eot_id|>"]].compactMap { $0 } : [])
    }

    /// A served model from parts already loaded.
    ///
    /// ```swift
    /// let served = ServedModel(model: model, name: "tiny", tokenizer: nil, special: SpecialTokens(), template: nil)
    /// ```
    public init(model: BitNetModel, name: String, tokenizer: Tokenizer?, special: SpecialTokens,
                template: ChatTemplate?, templateProblem: String? = nil, contextLimit: Int? = nil) {
        self.model = model
        self.name = name
        self.tokenizer = tokenizer
        self.special = special
        self.template = template
        self.templateProblem = templateProblem ?? (template == nil ? "the model has no chat template" : nil)
        self.contextLimit = min(contextLimit ?? model.config.maxPositions, model.config.maxPositions)
    }

    /// Loads the model at `path` with its tokenizer and special tokens; `templateName` (`llama3`,
    /// `bitnet`) overrides the model's own chat template; `kernels` runs every product of the model.
    public init(path: String, name: String? = nil, tokenizerFile: String? = nil, templateName: String? = nil,
                contextLimit: Int? = nil, using kernels: Kernels = .default) throws(BitNetError) {
        let model = try BitNetModel.load(path: path, using: kernels)
        let tokenizer: Tokenizer?
        if let tokenizerFile { tokenizer = try Tokenizer.load(file: tokenizerFile) } else { tokenizer = try Tokenizer.load(modelPath: path) }
        let special = try SpecialTokens(modelPath: path, tokenizer: tokenizer)
        var template: ChatTemplate?, problem: String?
        if let templateName {
            template = try ChatTemplate(named: templateName)
        } else if let jinja = special.chatTemplate {
            do { template = try ChatTemplate(recognizing: jinja) } catch { problem = error.description }
        }
        if tokenizer == nil { problem = "the model has no tokenizer" }
        let trimmed = path.hasSuffix("/") ? String(path.dropLast()) : path
        self.init(model: model, name: name ?? URL(fileURLWithPath: trimmed).lastPathComponent, tokenizer: tokenizer,
                  special: special, template: tokenizer == nil ? nil : template, templateProblem: problem, contextLimit: contextLimit)
    }

    /// The prompt's token ids: text is encoded (with BOS when the tokenizer config adds it), chat
    /// messages are rendered with the chat template, ids are taken as they are.
    func tokens(for prompt: CompletionParameters.Prompt) throws(APIError) -> [Int] {
        switch prompt {
        case .tokens(let ids):
            if let bad = ids.first(where: { $0 >= model.config.vocabularySize }) {
                throw .invalid("token id \(bad) in 'prompt' is outside the vocabulary (0..<\(model.config.vocabularySize))", param: "prompt")
            }
            return ids
        case .text(let text):
            guard let tokenizer else {
                throw .invalid("model '\(name)' has no tokenizer: send 'prompt' as an array of token ids", param: "prompt")
            }
            var ids: [Int]
            do { ids = try tokenizer.encode(text) } catch { throw .invalid("'prompt' cannot be tokenized: \(error)", param: "prompt") }
            if special.addsBOS, let bos = special.bos, ids.first != bos { ids.insert(bos, at: 0) }
            return ids
        case .chat(let messages):
            guard let tokenizer, let template else {
                throw .invalid("model '\(name)' cannot chat: \(templateProblem ?? "no chat template"); use /v1/completions", param: "messages")
            }
            do { return try tokenizer.encode(template.render(messages, bos: special.bosText(tokenizer))) } catch {
                throw .invalid("'messages' cannot be tokenized: \(error)", param: "messages")
            }
        }
    }

    /// The text of generated tokens: decoded, or the ids separated by spaces without a tokenizer.
    func text(of ids: [Int]) -> String {
        if let tokenizer { return tokenizer.decode(ids) }
        return ids.map { " \($0)" }.joined()
    }
}

/// The OpenAI-compatible HTTP API over a `BatchScheduler`: `GET /health`, `GET /v1/models`,
/// `POST /v1/completions`, `POST /v1/chat/completions` (both with `"stream": true` as server-sent
/// events). Errors are OpenAI's JSON (`{"error": {"message", "type", "param", "code"}}`): 400 for an
/// invalid request, 503 when the queue is full.
///
/// ```swift
/// let server = OpenAIServer(served: try ServedModel(path: "model-dir"), scheduler: scheduler)
/// try await server.run(host: "127.0.0.1", port: 8080)     // until SIGINT or SIGTERM
/// ```
public struct OpenAIServer: Sendable {
    /// The model this server answers for.
    public let served: ServedModel
    /// The scheduler that decodes its requests (started by the caller).
    public let scheduler: BatchScheduler
    let created = Int(Date().timeIntervalSince1970)

    /// A server; `run(host:port:onRunning:)` serves until a signal. See the type's example.
    public init(served: ServedModel, scheduler: BatchScheduler) {
        self.served = served
        self.scheduler = scheduler
    }

    /// The routes, for `run` and for tests.
    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/health") { _, _ in
            let l = scheduler.load
            return json(200, ["status": "ok", "model": served.name, "running": l.running, "queued": l.queued,
                              "completed": l.completed, "cancelled": l.cancelled, "failed": l.failed,
                              "steps": l.steps, "step_tokens": l.stepTokens])
        }
        router.get("/v1/models") { _, _ in
            json(200, ["object": "list", "data": [modelObject]])
        }
        router.get("/v1/models/:id") { _, context in
            guard context.parameters.get("id") == served.name else {
                return error(APIError(status: 404, message: "model '\(context.parameters.get("id") ?? "")' does not exist; this server serves '\(served.name)'",
                                      type: "invalid_request_error", param: "model", code: "model_not_found"))
            }
            return json(200, modelObject)
        }
        router.post("/v1/completions") { request, _ in await complete(request, chat: false) }
        router.post("/v1/chat/completions") { request, _ in await complete(request, chat: true) }
        return router
    }

    /// Serves until SIGINT or SIGTERM, then stops accepting connections, lets the running
    /// responses finish, and returns.
    public func run(host: String, port: Int, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        var logger = Logger(label: "bitkernels-serve")
        logger.logLevel = .warning
        let app = Application(router: router(), configuration: .init(address: .hostname(host, port: port), serverName: "bitkernels"),
                              onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger)
        try await app.runService()
    }

    var modelObject: [String: Any] {
        ["id": served.name, "object": "model", "created": created, "owned_by": "bitkernels",
         "context_length": served.contextLimit]
    }

    /// Both endpoints: parse, check, queue, then answer at once or as a stream.
    func complete(_ request: Request, chat: Bool) async -> Response {
        var response = await answer(request, chat: chat)
        // Watching for the client to leave (below) ends the connection after the response, so
        // say so: a client that reused it would find it closed under its next request.
        response.headers[.connection] = "close"
        return response
    }

    func answer(_ request: Request, chat: Bool) async -> Response {
        do {
            // Cancels the generation when the client closes the connection before the answer.
            return try await request.body.consumeWithCancellationOnInboundClose { body in
                let bytes = try await body.collect(upTo: 8 << 20)
                let parameters: CompletionParameters
                let prompt: [Int]
                let job: Job
                do {
                    parameters = try CompletionParameters(body: Array(buffer: bytes), chat: chat)
                    guard parameters.model == served.name else {
                        throw APIError.invalid("model '\(parameters.model)' does not exist; this server serves '\(served.name)'",
                                               param: "model", code: "model_not_found")
                    }
                    prompt = try served.tokens(for: parameters.prompt)
                    job = try submit(parameters, prompt: prompt, chat: chat)
                } catch let e as APIError { return error(e) }
                return parameters.stream ? stream(job) : try await collect(job)
            }
        } catch let e as HTTPError where e.status == .contentTooLarge {
            return error(APIError(status: 413, message: "the request body is larger than 8 MiB", type: "invalid_request_error"))
        } catch {
            return self.error(APIError(status: 499, message: "the client closed the connection", type: "cancelled"))
        }
    }

    /// A queued request and how to report it.
    struct Job: Sendable {
        let id: String
        let chat: Bool
        let promptTokens: Int
        let stop: [String]
        let includeUsage: Bool
        let stopTokens: Set<Int>
        let events: AsyncStream<GenerationEvent>
        let cancel: @Sendable () -> Void
    }

    func submit(_ p: CompletionParameters, prompt: [Int], chat: Bool) throws(APIError) -> Job {
        let limit = served.contextLimit
        guard prompt.count < limit else {
            throw .invalid("this model's maximum context length is \(limit) tokens; the prompt has \(prompt.count)",
                           param: chat ? "messages" : "prompt", code: "context_length_exceeded")
        }
        if let m = p.maxTokens, prompt.count + m > limit {
            throw .invalid("this model's maximum context length is \(limit) tokens; you requested \(prompt.count + m) (\(prompt.count) in the prompt, \(m) to generate)",
                           param: "max_tokens", code: "context_length_exceeded")
        }
        // OpenAI's defaults: 16 new tokens for completions, up to the context for chat.
        let maxTokens = p.maxTokens ?? (chat ? limit - prompt.count : min(16, limit - prompt.count))
        let request = GenerationRequest(prompt: prompt, maxTokens: maxTokens, sampler: p.sampler,
                                        stopTokens: chat ? served.chatStopTokens : served.special.eos)
        do {
            let (events, cancel) = try scheduler.submit(request)
            let id = (chat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24)
            return Job(id: id, chat: chat, promptTokens: prompt.count, stop: p.stop, includeUsage: p.includeUsage,
                       stopTokens: request.stopTokens, events: events, cancel: cancel)
        } catch .queueFull(let running, let queued) {
            throw APIError(status: 503, message: SchedulerError.queueFull(running: running, queued: queued).description,
                           type: "server_error", code: "queue_full")
        } catch {
            throw APIError(status: 503, message: error.description, type: "server_error", code: "unavailable")
        }
    }

    /// Turns tokens into text as they come: holds back an incomplete UTF-8 character and any tail
    /// that could be the start of a stop string, and ends at a stop string.
    struct Detokenizer {
        let served: ServedModel
        let stop: [String]
        let eos: Set<Int>
        var tokens: [Int] = []
        var sent = 0  // unicode scalars already returned
        var stopped = false

        /// The new text after `token` (possibly empty).
        mutating func add(_ token: Int) -> String {
            if !eos.contains(token) { tokens.append(token) }
            return flush(final: false)
        }

        mutating func flush(final: Bool) -> String {
            guard !stopped else { return "" }
            let text = served.text(of: tokens)
            let scalars = Array(text.unicodeScalars)
            if !final, scalars.last == "\u{FFFD}" { return "" }
            var end = scalars.count
            for s in stop {
                guard let r = text.range(of: s) else { continue }
                end = min(end, text.unicodeScalars.distance(from: text.unicodeScalars.startIndex, to: r.lowerBound))
                stopped = true
            }
            if !stopped && !final, let longest = stop.map({ $0.unicodeScalars.count }).max() { end -= longest - 1 }
            end = max(end, sent)
            var out = String.UnicodeScalarView()
            out.append(contentsOf: scalars[sent..<end])
            sent = end
            return String(out)
        }
    }

    /// Waits for the whole answer.
    func collect(_ job: Job) async throws -> Response {
        var detok = Detokenizer(served: served, stop: job.stop, eos: job.stopTokens)
        var text = "", tokens: [Int] = [], finish = FinishReason.length
        loop: for await event in job.events {
            switch event {
            case .token(let t):
                tokens.append(t)
                text += detok.add(t)
                if detok.stopped { finish = .stop; job.cancel(); break loop }
            case .finished(let reason):
                finish = reason
                text += detok.flush(final: true)
            case .failed(let message):
                return error(APIError(status: 500, message: message, type: "server_error"))
            }
        }
        try Task.checkCancellation()
        var choice: [String: Any] = ["index": 0, "finish_reason": finish.rawValue, "tokens": tokens]
        if job.chat {
            choice["message"] = ["role": "assistant", "content": text]
        } else {
            choice["text"] = text
            choice["logprobs"] = NSNull()
        }
        return json(200, ["id": job.id, "object": job.chat ? "chat.completion" : "text_completion", "created": Int(Date().timeIntervalSince1970),
                          "model": served.name, "choices": [choice], "usage": usage(job, tokens.count)])
    }

    func usage(_ job: Job, _ generated: Int) -> [String: Any] {
        ["prompt_tokens": job.promptTokens, "completion_tokens": generated, "total_tokens": job.promptTokens + generated]
    }

    /// Server-sent events in OpenAI's chunk format, `data: [DONE]` last. A failed write (the client
    /// went away) cancels the generation.
    func stream(_ job: Job) -> Response {
        let served = self.served
        let created = Int(Date().timeIntervalSince1970)
        @Sendable func chunk(_ choice: [String: Any], usage: [String: Any]? = nil) -> ByteBuffer {
            var object: [String: Any] = ["id": job.id, "object": job.chat ? "chat.completion.chunk" : "text_completion",
                                         "created": created, "model": served.name, "choices": usage == nil ? [choice] : []]
            if let usage { object["usage"] = usage }
            return ByteBuffer(string: "data: " + encode(object) + "\n\n")
        }
        @Sendable func piece(_ text: String, tokens: [Int], finish: FinishReason?) -> [String: Any] {
            var choice: [String: Any] = ["index": 0, "finish_reason": finish?.rawValue ?? NSNull(), "tokens": tokens]
            if job.chat { choice["delta"] = text.isEmpty && finish != nil ? [String: Any]() : ["content": text] } else {
                choice["text"] = text
                choice["logprobs"] = NSNull()
            }
            return choice
        }
        let body = ResponseBody { writer in
            defer { job.cancel() }
            var detok = Detokenizer(served: served, stop: job.stop, eos: job.stopTokens)
            var generated = 0
            if job.chat {
                try await writer.write(chunk(["index": 0, "delta": ["role": "assistant", "content": ""], "finish_reason": NSNull()]))
            }
            loop: for await event in job.events {
                switch event {
                case .token(let t):
                    generated += 1
                    let text = detok.add(t)
                    if detok.stopped {
                        try await writer.write(chunk(piece(text, tokens: [t], finish: .stop)))
                        break loop
                    }
                    try await writer.write(chunk(piece(text, tokens: [t], finish: nil)))
                case .finished(let reason):
                    try await writer.write(chunk(piece(detok.flush(final: true), tokens: [], finish: reason)))
                case .failed(let message):
                    try await writer.write(ByteBuffer(string: "data: " + encode(APIError(status: 500, message: message, type: "server_error").json) + "\n\n"))
                    break loop
                }
            }
            if job.includeUsage { try await writer.write(chunk([:], usage: usage(job, generated))) }
            try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    func json(_ status: Int, _ object: [String: Any]) -> Response {
        Response(status: .init(code: status), headers: [.contentType: "application/json"],
                 body: .init(byteBuffer: ByteBuffer(string: encode(object) + "\n")))
    }

    func error(_ e: APIError) -> Response { json(e.status, e.json) }
}

/// Compact JSON text of a JSONSerialization object.
func encode(_ object: Any) -> String {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.withoutEscapingSlashes, .sortedKeys])) ?? Data("{}".utf8)
    return String(decoding: data, as: UTF8.self)
}
