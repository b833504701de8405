import ArgumentParser
import BitKernels
import BitNet
import BitServer
import Foundation

struct Chat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Talk with a model in the terminal: one line in, the reply streamed out.",
        discussion: """
            Each line read from standard input is a user message; the whole conversation goes \
            through the model's chat template and the reply streams until the model's EOS. Works \
            with piped input too (prompts are shown only on a terminal). /reset forgets the \
            conversation; /exit or end of input quits.

            Example: bitkernels chat --model bitnet-b1.58-2B-4T --system "You are terse."
            """)

    @Option(help: "Model directory (config.json + model.safetensors) or .gguf file.")
    var model: String

    @Option(help: "A system message to start the conversation with.")
    var system: String?

    @OptionGroup var sampling: SamplingOptions<Chat>

    @Option(help: "OpenMP threads (0 = OpenMP's default; 0...1024).")
    var threads = 0

    @Option(help: "Context length (default: the model's maximum positions).")
    var context: Int?

    @Option(help: "A tokenizer.json or tiktoken file, if the model has no tokenizer of its own.")
    var tokenizer: String?

    @Option(name: .customLong("chat-template"), help: "Chat format instead of the model's own template: llama3 or bitnet.")
    var chatTemplate: String?

    func validate() throws {
        try check("--threads", threads, in: 0...maxThreads)
        if let chatTemplate { guard ChatTemplate.Style(rawValue: chatTemplate) != nil else { throw ValidationError("--chat-template must be llama3 or bitnet") } }
    }

    func run() throws {
        let kernels = try resolveKernels()
        let served = try loadServedModel(model, tokenizer: tokenizer, chatTemplate: chatTemplate, context: context, kernels: kernels)
        guard let tok = served.tokenizer, let template = served.template else {
            throw Failure("\(model) cannot chat: \(served.templateProblem ?? "no chat template")")
        }
        let interactive = isatty(0) != 0
        var sampler = sampling.sampler()
        let start = system.map { [ChatMessage(role: "system", content: $0)] } ?? []
        var messages = start
        if interactive { FileHandle.standardError.write("chat with \(served.name) (/reset, /exit)\n".data(using: .utf8)!) }
        while true {
            if interactive { print("> ", terminator: ""); fflush(nil) }
            guard let line = readLine() else { break }
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            if text == "/exit" { break }
            if text == "/reset" { messages = start; continue }
            messages.append(ChatMessage(role: "user", content: text))
            let prompt: [Int]
            do { prompt = try tok.encode(template.render(messages, bos: served.special.bosText(tok))) } catch { throw Failure("\(error)") }
            guard prompt.count < served.contextLimit else {
                throw Failure("the conversation (\(prompt.count) tokens) no longer fits the context of \(served.contextLimit); /reset to start again")
            }
            var reply: [Int] = [], printed = 0
            let eos = served.chatStopTokens
            do {
                let result = try served.model.generate(prompt: prompt, maxNewTokens: sampling.maxTokens, sampler: sampler, stopTokens: eos,
                                                        contextLimit: served.contextLimit, threads: threads) { id in
                    if !eos.contains(id) { reply.append(id) }
                    let scalars = Array(tok.decode(reply).unicodeScalars)
                    if scalars.last != "\u{FFFD}", scalars.count > printed {
                        var out = String.UnicodeScalarView()
                        out.append(contentsOf: scalars[printed...])
                        print(String(out), terminator: "")
                        fflush(nil)
                        printed = scalars.count
                    }
                    return true
                }
                _ = result
            } catch { throw Failure(error.description) }
            print("")
            // A different seed per turn, the same sequence for the same seed.
            sampler = sampling.sampler(seedOffset: UInt64(messages.count))
            messages.append(ChatMessage(role: "assistant", content: tok.decode(reply)))
        }
    }
}

extension Chat: SamplingDefaults {
    static let maxTokens = 512
    static let maxTokensHelp = "New tokens per reply at most."
    static let temperature: Float = 0.7
}
