import ArgumentParser
import BitKernels
import BitNet
import BitServer
import Foundation

/// Loads a model for serving or chatting on `kernels`, or stops with the reason.
func loadServedModel(_ path: String, tokenizer: String?, chatTemplate: String?, context: Int?, name: String? = nil,
                     kernels: Kernels) throws -> ServedModel {
    FileHandle.standardError.write("loading \(path)...\n".data(using: .utf8)!)
    do {
        return try ServedModel(path: path, name: name, tokenizerFile: tokenizer, templateName: chatTemplate, contextLimit: context,
                               using: kernels)
    } catch { throw Failure(error.description) }
}

/// Runs async work to completion from a synchronous command.
func blockOn(_ work: @escaping @Sendable () async throws -> Void) throws {
    final class Outcome: @unchecked Sendable { var error: (any Error)? }
    let outcome = Outcome(), done = DispatchSemaphore(value: 0)
    Task {
        do { try await work() } catch { outcome.error = error }
        done.signal()
    }
    done.wait()
    if let e = outcome.error { throw e }
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a model over an OpenAI-compatible HTTP API.",
        discussion: """
            GET /health, GET /v1/models, POST /v1/completions and POST /v1/chat/completions \
            ("stream": true for server-sent events). Up to --parallel requests are decoded together, \
            one batched forward pass per token (the ternary GEMM); --queue more wait, and beyond that \
            requests get 503. A prompt may be text (with a tokenizer) or an array of token ids. Chat \
            uses the model's chat template (llama3 and bitnet formats; --chat-template to choose). \
            SIGINT or SIGTERM stops accepting connections, finishes the open responses and exits.

            Example: bitkernels serve --model bitnet-b1.58-2B-4T --port 8080 --parallel 4
            """)

    @Option(help: "Model directory (config.json + model.safetensors) or .gguf file.")
    var model: String

    @Option(help: "Address to bind (loopback unless told otherwise).")
    var host = "127.0.0.1"

    @Option(help: "TCP port (0 = any free port; the chosen one is printed).")
    var port = 8080

    @Option(parsing: .unconditional, help: "OpenMP threads per forward pass (0 = OpenMP's default; 0...1024).")
    var threads = 0

    @Option(help: "Requests decoded together at most.")
    var parallel = 4

    @Option(help: "Requests that may wait for a free slot; more get 503.")
    var queue = 16

    @Option(help: "Context length per request (default: the model's maximum positions).")
    var context: Int?

    @Option(help: "A tokenizer.json or tiktoken file, if the model has no tokenizer of its own.")
    var tokenizer: String?

    @Option(name: .customLong("chat-template"), help: "Chat format instead of the model's own template: llama3 or bitnet.")
    var chatTemplate: String?

    @Option(help: "The model's name in the API (default: the last component of --model).")
    var alias: String?

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
        try check("--threads", threads, in: 0...maxThreads)
        guard parallel >= 1 else { throw ValidationError("--parallel must be at least 1") }
        guard queue >= 0 else { throw ValidationError("--queue must be ≥ 0") }
        if let context { guard context >= 2 else { throw ValidationError("--context must be at least 2") } }
        if let chatTemplate { guard ChatTemplate.Style(rawValue: chatTemplate) != nil else { throw ValidationError("--chat-template must be llama3 or bitnet") } }
    }

    func run() throws {
        let kernels = try resolveKernels()
        let served = try loadServedModel(model, tokenizer: tokenizer, chatTemplate: chatTemplate, context: context, name: alias,
                                         kernels: kernels)
        let scheduler = BatchScheduler(model: served.model, parallel: parallel, queueLimit: queue, threads: threads)
        scheduler.start()
        defer { scheduler.stop() }
        let server = OpenAIServer(served: served, scheduler: scheduler)
        let host = self.host, parallel = self.parallel
        let chat = served.template.map { "chat format \($0.style.rawValue)" } ?? "no chat (\(served.templateProblem ?? "?"))"
        try blockOn {
            try await server.run(host: host, port: self.port) { port in
                FileHandle.standardError.write("""
                    serving '\(served.name)' on http://\(host):\(port)/v1 (\(parallel) parallel, context \(served.contextLimit), \(chat))

                    """.data(using: .utf8)!)
            }
        }
        let l = scheduler.load
        FileHandle.standardError.write("stopped: \(l.completed) completed, \(l.cancelled) cancelled, \(l.failed) failed\n".data(using: .utf8)!)
    }
}
