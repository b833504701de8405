import BitNet
import Foundation
import Testing

@testable import BitServer

/// Tests/BitServerTests/Fixtures/bitnet-tiny-chat: the bitnet-tiny fixture (symlinked) with a
/// byte-level tokenizer, the 2B-4T chat template and EOS ids (make_chat_fixture.py).
enum ChatFixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/bitnet-tiny-chat").path
    static let served = try! ServedModel(path: directory)
    static let prompts = [[979, 976, 987, 5, 6], [1, 2, 3], [500, 501, 502, 503, 504, 505, 506], [42]]
}

@Suite struct ChatTemplateTests {
    @Test func recognizesTheBitNetAndLlama3Templates() throws {
        let special = ChatFixture.served.special
        #expect(special.bos == 994 && special.addsBOS && special.eos == [995, 999])
        #expect(ChatFixture.served.chatStopTokens == [995, 999])
        let bitnet = try ChatTemplate(recognizing: special.chatTemplate!)
        #expect(bitnet.style == .bitnet)
        let messages = [ChatMessage(role: "system", content: "Be brief. "), ChatMessage(role: "user", content: " Hi\n")]
        #expect(bitnet.render(messages, bos: "<|begin_of_text|>")
                == "<|begin_of_text|>System: Be brief.<|eot_id|>User: Hi<|eot_id|>Assistant: ")
        let llama3Jinja = """
            {% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}
            """
        let llama3 = try ChatTemplate(recognizing: llama3Jinja)
        #expect(llama3.style == .llama3)
        #expect(llama3.render([messages[1]], bos: "<B>", addGenerationPrompt: false) == "<B><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>")
        // Anything else is a clear error naming what is supported.
        #expect(throws: BitNetError.self) { try ChatTemplate(recognizing: "{% for m in messages %}<|im_start|>{{ m.role }}{% endfor %}") }
        #expect(throws: BitNetError.unsupported("chat template 'chatml'; known: llama3, bitnet")) { try ChatTemplate(named: "chatml") }
    }

    @Test func chatPromptsStartWithBOSAndUseSpecialTokens() throws {
        let s = ChatFixture.served
        let ids = try s.tokens(for: .chat([ChatMessage(role: "user", content: "Hello!")]))
        #expect(ids.first == 994 && ids.filter { $0 == 999 }.count == 1)  // BOS once, one <|eot_id|>
        #expect(s.tokenizer!.decode(ids) == "<|begin_of_text|>User: Hello!<|eot_id|>Assistant: ")
        // A text prompt gets BOS from the post-processor; token ids are taken as they are.
        #expect(try s.tokens(for: .text("Hello")).first == 994)
        #expect(try s.tokens(for: .tokens([5, 6])) == [5, 6])
        #expect(throws: APIError.self) { try s.tokens(for: .tokens([1000])) }
    }

    @Test func theTinyFixtureAloneHasNoSpecialTokens() throws {
        let plain = URL(fileURLWithPath: ChatFixture.directory).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("BitNetTests/Fixtures/bitnet-tiny")
        let s = try SpecialTokens(modelPath: plain.path, tokenizer: nil)
        #expect(s == SpecialTokens())
        let g = try SpecialTokens(modelPath: plain.path + "/model.gguf", tokenizer: nil)
        #expect(g.eos.isEmpty && g.chatTemplate == nil)
    }
}

@Suite struct RequestValidationTests {
    func parse(_ text: String, chat: Bool = false) throws(APIError) -> CompletionParameters {
        try CompletionParameters(body: Array(text.utf8), chat: chat)
    }

    @Test func acceptsOpenAIRequests() throws {
        let p = try parse(#"{"model": "m", "prompt": [1, 2, 3], "max_tokens": 5, "temperature": 0, "stream": true, "stop": ["x", "yz"], "seed": 7}"#)
        #expect(p.prompt == .tokens([1, 2, 3]) && p.maxTokens == 5 && p.temperature == 0 && p.stream && p.stop == ["x", "yz"] && p.seed == 7)
        #expect(try parse(#"{"model": "m", "prompt": ["hi"]}"#).prompt == .text("hi"))
        #expect(try parse(#"{"model": "m", "prompt": [[4, 5]]}"#).prompt == .tokens([4, 5]))
        let c = try parse(#"{"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}], "max_completion_tokens": 3}"#, chat: true)
        #expect(c.prompt == .chat([ChatMessage(role: "user", content: "ab")]) && c.maxTokens == 3)
    }

    @Test(arguments: [
        (#"{"model": "m", "prompt": [1], "temperature": 2.5}"#, "temperature"),
        (#"{"model": "m", "prompt": [1], "temperature": "hot"}"#, "temperature"),
        (#"{"model": "m", "prompt": [1], "top_p": 0}"#, "top_p"),
        (#"{"model": "m", "prompt": [1], "max_tokens": 0}"#, "max_tokens"),
        (#"{"model": "m", "prompt": [1], "max_tokens": 1.5}"#, "max_tokens"),
        (#"{"model": "m", "prompt": [1], "n": 2}"#, "n"),
        (#"{"model": "m", "prompt": [1, -1]}"#, "prompt"),
        (#"{"model": "m", "prompt": []}"#, "prompt"),
        (#"{"model": "m"}"#, "prompt"),
        (#"{"prompt": [1]}"#, "model"),
        (#"{"model": "m", "prompt": [1], "stop": 3}"#, "stop"),
        (#"{"model": "m", "prompt": [1], "stream": 1}"#, "stream"),
    ])
    func rejectsInvalidParameters(body: String, param: String) {
        #expect(throws: APIError.self) { try parse(body) }
        do { _ = try parse(body) } catch { #expect(error.param == param && error.status == 400, "\(error.message)") }
    }

    @Test func rejectsBadJSONAndBadMessages() {
        #expect(throws: APIError.invalid("the request body is not valid JSON")) { try parse("{\"model\": ") }
        #expect(throws: APIError.invalid("the request body must be a JSON object")) { try parse("[1]") }
        #expect(throws: APIError.self) { try parse(#"{"model": "m", "messages": [{"role": "robot", "content": "x"}]}"#, chat: true) }
        #expect(throws: APIError.self) { try parse(#"{"model": "m", "messages": []}"#, chat: true) }
    }

    @Test func stopStringsCutTheTextAndHoldBackPrefixes() throws {
        let s = ChatFixture.served, tok = s.tokenizer!
        let ids = try tok.encode("Hello there, general Kenobi")
        var d = OpenAIServer.Detokenizer(served: s, stop: ["general"], eos: s.special.eos)
        var text = ""
        for id in ids where !d.stopped { text += d.add(id) }
        #expect(d.stopped && text == "Hello there, ")
        var plain = OpenAIServer.Detokenizer(served: s, stop: [], eos: s.special.eos)
        #expect((ids + [999]).map { plain.add($0) }.joined() + plain.flush(final: true) == "Hello there, general Kenobi")
    }
}

@Suite(.serialized) struct SchedulerTests {
    func run(_ scheduler: BatchScheduler, _ request: GenerationRequest) async -> (tokens: [Int], end: GenerationEvent?) {
        var tokens: [Int] = [], end: GenerationEvent?
        for await e in try! scheduler.submit(request).events {
            if case .token(let t) = e { tokens.append(t) } else { end = e }
        }
        return (tokens, end)
    }

    /// Concurrent greedy requests, decoded together, return what each returns alone, which is what
    /// `generate` returns.
    @Test func concurrentGreedyRequestsEqualSequentialOnes() async throws {
        let model = ChatFixture.served.model
        let scheduler = BatchScheduler(model: model, parallel: 4, queueLimit: 4, threads: 1)
        scheduler.start()
        defer { scheduler.stop() }
        let requests = ChatFixture.prompts.prefix(3).enumerated().map { GenerationRequest(prompt: $1, maxTokens: 8 + 3 * $0) }
        var sequential: [[Int]] = []
        for r in requests {
            let (tokens, end) = await run(scheduler, r)
            #expect(end == .finished(.length))
            #expect(tokens == (try model.generate(prompt: r.prompt, maxNewTokens: r.maxTokens, threads: 1).tokens))
            sequential.append(tokens)
        }
        let concurrent = await withTaskGroup(of: (Int, [Int]).self) { group in
            for (i, r) in requests.enumerated() { group.addTask { (i, await self.run(scheduler, r).tokens) } }
            var out = [[Int]](repeating: [], count: requests.count)
            for await (i, tokens) in group { out[i] = tokens }
            return out
        }
        #expect(concurrent == sequential)
        let load = scheduler.load
        #expect(load.completed == 2 * requests.count && load.running == 0 && load.queued == 0)
        #expect(load.stepTokens > load.steps)  // some steps decoded several requests at once
    }

    @Test func stopTokensSeededSamplingAndTheQueueLimit() async throws {
        let model = ChatFixture.served.model
        let scheduler = BatchScheduler(model: model, parallel: 1, queueLimit: 1, threads: 1)
        scheduler.start()
        defer { scheduler.stop() }
        let greedy = await run(scheduler, GenerationRequest(prompt: [1, 2, 3], maxTokens: 8)).tokens
        let stopped = await run(scheduler, GenerationRequest(prompt: [1, 2, 3], maxTokens: 8, stopTokens: [greedy[2]]))
        #expect(stopped.tokens == Array(greedy.prefix(3)) && stopped.end == .finished(.stop))
        let sampled = GenerationRequest(prompt: [1, 2, 3], maxTokens: 8, sampler: Sampler(temperature: 1, seed: 9))
        #expect(await run(scheduler, sampled).tokens == (try model.generate(prompt: [1, 2, 3], maxNewTokens: 8, sampler: Sampler(temperature: 1, seed: 9)).tokens))
        // One running, one queued, the third refused.
        let long = GenerationRequest(prompt: [1], maxTokens: 400)
        let a = try scheduler.submit(long), b = try scheduler.submit(long)
        #expect(throws: SchedulerError.self) { try scheduler.submit(long) }
        a.cancel()
        b.cancel()
        for _ in 0..<200 where scheduler.load.running + scheduler.load.queued > 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(scheduler.load.running == 0 && scheduler.load.queued == 0 && scheduler.load.cancelled == 2)
    }
}
