import BitNet
import Foundation

/// What one request asks the scheduler to generate.
///
/// ```swift
/// let r = GenerationRequest(prompt: [1, 2, 3], maxTokens: 16, sampler: .greedy, stopTokens: [2])
/// ```
public struct GenerationRequest: Sendable {
    /// The prompt's token ids (at least one).
    public var prompt: [Int]
    /// New tokens at most.
    public var maxTokens: Int
    /// How each token is chosen.
    public var sampler: Sampler
    /// Ids that end the reply (the stop token is reported, then the stream ends).
    public var stopTokens: Set<Int>

    /// A request; see the type's example.
    public init(prompt: [Int], maxTokens: Int, sampler: Sampler = .greedy, stopTokens: Set<Int> = []) {
        self.prompt = prompt
        self.maxTokens = maxTokens
        self.sampler = sampler
        self.stopTokens = stopTokens
    }
}

/// Why a generation ended, named as OpenAI's `finish_reason`.
public enum FinishReason: String, Sendable {
    /// A stop token (EOS) was generated, or a stop string appeared.
    case stop
    /// `maxTokens` or the context was reached.
    case length
}

/// What the scheduler reports for a request, in order: tokens, then one `finished` or `failed`.
public enum GenerationEvent: Sendable, Equatable {
    case token(Int)
    case finished(FinishReason)
    case failed(String)
}

/// Why a request was not accepted.
public enum SchedulerError: Error, Equatable, CustomStringConvertible {
    case queueFull(running: Int, queued: Int)
    case stopped

    public var description: String {
        switch self {
        case let .queueFull(running, queued): "the server is busy: \(running) requests running and \(queued) queued; try again later"
        case .stopped: "the server is shutting down"
        }
    }
}

/// Counters for `/health`.
public struct SchedulerLoad: Sendable, Equatable, Codable {
    /// Sequences decoding now, and waiting for a slot.
    public var running = 0, queued = 0
    /// Sequences finished, cancelled by their client, and failed, since the start.
    public var completed = 0, cancelled = 0, failed = 0
    /// Decoding steps run and the tokens they produced (their ratio is the mean batch size).
    public var steps = 0, stepTokens = 0
}

/// Owns the model and decodes every running request together: one thread loops over steps; each
/// step is one batched forward pass (`BitNetModel.forward(segments:)`) over the prompts of newly
/// admitted requests and the next token of every running request. At most `parallel` requests run; up to `queueLimit` more wait; beyond that `submit`
/// throws `queueFull`. A request whose stream is dropped (its client went away) is removed before
/// the next step.
///
/// ```swift
/// let scheduler = BatchScheduler(model: model, parallel: 4, queueLimit: 16)
/// scheduler.start()
/// for await event in try scheduler.submit(GenerationRequest(prompt: ids, maxTokens: 32)).events { print(event) }
/// scheduler.stop()
/// ```
public final class BatchScheduler: @unchecked Sendable {
    // Everything below `condition` is guarded by it; `model` is only used by the loop thread.
    /// The model every sequence decodes with (used by the scheduler's thread only).
    public let model: BitNetModel
    /// Sequences decoded together in one batched pass, at most.
    public let parallel: Int
    /// Requests waiting beyond `parallel` before `submit` refuses more (HTTP 503).
    public let queueLimit: Int
    /// OpenMP threads of each forward pass (0 = OpenMP's default).
    public let threads: Int

    private final class Sequence: @unchecked Sendable {  // fields guarded as the scheduler's
        let request: GenerationRequest
        let continuation: AsyncStream<GenerationEvent>.Continuation
        var sampler: Sampler
        var cache: KVCache?
        var next: Int?  // the token to feed at the next step
        var generated = 0
        var cancelled = false

        init(_ request: GenerationRequest, _ continuation: AsyncStream<GenerationEvent>.Continuation) {
            self.request = request
            self.continuation = continuation
            sampler = request.sampler
        }
    }

    private let condition = NSCondition()
    private var pending: [Sequence] = []
    private var running: [Sequence] = []
    private var counters = SchedulerLoad()
    private var stopping = false
    private var thread: Thread?
    private let exited = DispatchSemaphore(value: 0)

    /// A stopped scheduler; `start()` starts its decoding thread. See the type's example.
    public init(model: BitNetModel, parallel: Int = 4, queueLimit: Int = 16, threads: Int = 0) {
        precondition(parallel >= 1 && queueLimit >= 0 && threads >= 0, "parallel \(parallel) must be ≥ 1, queueLimit \(queueLimit) and threads \(threads) ≥ 0")
        self.model = model
        self.parallel = parallel
        self.queueLimit = queueLimit
        self.threads = threads
    }

    /// Starts the decoding thread.
    public func start() {
        condition.lock()
        defer { condition.unlock() }
        guard thread == nil else { return }
        let t = Thread { [self] in loop() }
        t.name = "bitkernels-scheduler"
        t.stackSize = 8 << 20
        thread = t
        t.start()
    }

    /// Ends every request (running ones get `failed`), then stops the thread and waits for it.
    public func stop() {
        condition.lock()
        let wasRunning = thread != nil && !stopping
        stopping = true
        condition.broadcast()
        condition.unlock()
        if wasRunning { exited.wait() }
    }

    /// The requests running and waiting, and totals so far.
    public var load: SchedulerLoad {
        condition.lock()
        defer { condition.unlock() }
        var l = counters
        l.running = running.count
        l.queued = pending.count
        return l
    }

    /// Queues a request; its events arrive on the returned stream. `cancel` (or the task iterating
    /// the stream being cancelled) removes the request before the next step.
    public func submit(_ request: GenerationRequest) throws(SchedulerError) -> (events: AsyncStream<GenerationEvent>, cancel: @Sendable () -> Void) {
        precondition(!request.prompt.isEmpty && request.maxTokens >= 1, "a request needs a prompt and maxTokens ≥ 1")
        let (stream, continuation) = AsyncStream<GenerationEvent>.makeStream()
        let sequence = Sequence(request, continuation)
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { throw .stopped }
        let free = parallel - running.count + queueLimit - pending.count
        guard free > 0 else { throw .queueFull(running: running.count, queued: pending.count) }
        pending.append(sequence)
        continuation.onTermination = { [weak self, weak sequence] _ in
            guard let self, let sequence else { return }
            self.condition.lock()
            sequence.cancelled = true
            self.condition.signal()
            self.condition.unlock()
        }
        condition.signal()
        return (stream, { continuation.finish() })
    }

    private func loop() {
        defer { exited.signal() }
        while true {
            condition.lock()
            while !stopping && pending.isEmpty && running.isEmpty { condition.wait() }
            if stopping {
                for s in running + pending { s.continuation.yield(.failed(SchedulerError.stopped.description)); s.continuation.finish() }
                running = []
                pending = []
                condition.unlock()
                return
            }
            // Drop the cancelled, admit waiting requests into free slots.
            for s in running + pending where s.cancelled { counters.cancelled += 1 }
            running.removeAll { $0.cancelled }
            pending.removeAll { $0.cancelled }
            while running.count < parallel && !pending.isEmpty { running.append(pending.removeFirst()) }
            let batch = running
            condition.unlock()
            step(batch)
        }
    }

    /// One forward pass over the whole batch: the prompts of new sequences and the next token of
    /// every other (`BitNetModel.forward(segments:)`), so a prompt shares the ternary products and
    /// the LM head's read with the running sequences instead of costing a pass of its own. A
    /// prompt that cannot run (a token id outside the vocabulary, longer than the context) fails
    /// its own request only.
    private func step(_ batch: [Sequence]) {
        var members: [Sequence] = [], segments: [(tokens: [Int], cache: KVCache)] = []
        let vocab = model.config.vocabularySize
        for s in batch {
            if s.cache == nil {
                let limit = min(model.config.maxPositions, s.request.prompt.count + s.request.maxTokens)
                let cache = model.makeCache(capacity: limit)
                s.cache = cache
                do {
                    try model.check(s.request.prompt, fitIn: cache)
                    members.append(s)
                    segments.append((s.request.prompt, cache))
                } catch { fail(s, error.description) }
            } else if let next = s.next {
                members.append(s)
                segments.append(([next], s.cache!))
            }
        }
        guard !members.isEmpty else { return }
        let logits: [Float]
        do {
            logits = try model.forward(segments: segments, threads: threads)
        } catch {
            for s in members { fail(s, error.description) }
            return
        }
        condition.lock()
        counters.steps += 1
        counters.stepTokens += members.count
        condition.unlock()
        for (i, s) in members.enumerated() { emit(s, s.sampler.next(logits[(i * vocab)..<((i + 1) * vocab)])) }
    }

    private func emit(_ s: Sequence, _ token: Int) {
        s.generated += 1
        s.continuation.yield(.token(token))
        if s.request.stopTokens.contains(token) {
            finish(s, .stop)
        } else if s.generated >= s.request.maxTokens || s.cache!.count + 1 > s.cache!.capacity {
            finish(s, .length)
        } else {
            s.next = token
        }
    }

    private func finish(_ s: Sequence, _ reason: FinishReason) {
        s.next = nil
        s.continuation.yield(.finished(reason))
        remove(s) { $0.completed += 1 }
        s.continuation.finish()
    }

    private func fail(_ s: Sequence, _ message: String) {
        s.next = nil
        s.continuation.yield(.failed(message))
        remove(s) { $0.failed += 1 }
        s.continuation.finish()
    }

    private func remove(_ s: Sequence, count: (inout SchedulerLoad) -> Void) {
        condition.lock()
        running.removeAll { $0 === s }
        count(&counters)
        condition.unlock()
    }
}
