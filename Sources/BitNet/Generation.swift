import BitKernels
import Foundation

/// How the next token is chosen from logits: greedy when `temperature` is 0, otherwise sampling
/// from softmax(logits / temperature) restricted to the `topK` most likely tokens (0 = all) and to
/// the smallest set whose probability reaches `topP` (1 = all). Seeded: the same seed and logits
/// give the same tokens on every machine.
public struct Sampler: Sendable {
    /// Divides the logits before softmax; 0 picks the most likely token.
    public var temperature: Float
    /// Sample among this many most likely tokens (0 = all).
    public var topK: Int
    /// Sample among the smallest set of tokens whose probability reaches this (1 = all).
    public var topP: Float
    private var random: SplitMix64

    /// Always the most likely token (ties to the lowest id).
    public static let greedy = Sampler(temperature: 0)

    /// A seeded sampler.
    ///
    /// ```swift
    /// var sampler = Sampler(temperature: 0.7, topK: 40, topP: 0.9, seed: 1)
    /// ```
    public init(temperature: Float = 0.8, topK: Int = 40, topP: Float = 0.95, seed: UInt64 = 0) {
        precondition(temperature >= 0, "temperature must be ≥ 0, not \(temperature)")
        precondition(topK >= 0, "topK must be ≥ 0 (0 = no limit), not \(topK)")
        precondition(topP > 0 && topP <= 1, "topP must be in (0, 1], not \(topP)")
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        random = SplitMix64(seed: seed)
    }

    /// The next token for these logits (one row of the vocabulary).
    public mutating func next(_ logits: ArraySlice<Float>) -> Int {
        let base = logits.startIndex
        if temperature == 0 { return logits.indices.max { logits[$0] < logits[$1] }! - base }
        var order = Array(logits.indices).sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        if topK > 0 && topK < order.count { order.removeLast(order.count - topK) }
        let top = logits[order[0]]
        var probabilities = order.map { exp(Double((logits[$0] - top) / temperature)) }
        let total = probabilities.reduce(0, +)
        var kept = 0, mass = 0.0
        while kept < probabilities.count {
            probabilities[kept] /= total
            mass += probabilities[kept]
            kept += 1
            if mass >= Double(topP) { break }
        }
        let u = uniform() * mass
        var acc = 0.0
        for i in 0..<kept {
            acc += probabilities[i]
            if u < acc { return order[i] - base }
        }
        return order[kept - 1] - base
    }

    /// [0, 1) from the top 53 bits.
    private mutating func uniform() -> Double { Double(random.next() >> 11) * 0x1p-53 }
}

/// Timings of a generation, as llama.cpp reports them.
public struct GenerationStats: Sendable, Codable {
    /// Tokens of the prompt, and tokens generated.
    public var promptTokens = 0, generatedTokens = 0
    /// Single-token forward passes after the prompt's: the first new token comes from the prompt
    /// pass's logits, so `n` new tokens take `n - 1` (as llama.cpp counts its eval runs).
    public var decodingPasses = 0
    /// Wall time of the prompt pass, and of the generation after it.
    public var promptSeconds = 0.0, generationSeconds = 0.0
    /// Prompt tokens per second (0 when not timed).
    public var promptTokensPerSecond: Double { promptSeconds > 0 ? Double(promptTokens) / promptSeconds : 0 }
    /// Tokens decoded per second: `decodingPasses` over `generationSeconds` (0 when not timed or
    /// when the prompt pass gave the only new token).
    ///
    /// ```swift
    /// let (_, stats) = try model.generate(prompt: [1, 2, 3], maxNewTokens: 8)
    /// print(stats.generationTokensPerSecond)
    /// ```
    public var generationTokensPerSecond: Double { generationSeconds > 0 ? Double(decodingPasses) / generationSeconds : 0 }
}

extension BitNetModel {
    /// Processes the prompt in one batch (ternary GEMM), then decodes one token at a time (GEMV)
    /// until `maxNewTokens`, a stop token, or prompt + output reaching the context limit (the
    /// model's maximum positions unless `contextLimit` is smaller). `onToken` sees each new token as it
    /// is chosen and may return false to stop. Returns the new tokens (a stop token included) and
    /// the prompt-processing and generation speed.
    public func generate(prompt: [Int], maxNewTokens: Int, sampler: Sampler = .greedy, stopTokens: Set<Int> = [],
                         contextLimit: Int? = nil, threads: Int = 0,
                         onToken: (Int) -> Bool = { _ in true }) throws(BitNetError) -> (tokens: [Int], stats: GenerationStats) {
        precondition(!prompt.isEmpty, "generation needs a prompt of at least one token")
        let limit = min(contextLimit ?? config.maxPositions, config.maxPositions)
        guard prompt.count < limit else { throw .contextFull(limit: limit) }
        let cache = makeCache(capacity: min(limit, prompt.count + maxNewTokens))
        var sampler = sampler
        var measured = GenerationStats()
        let t0 = Date()
        var logits = try forward(prompt, cache: cache, threads: threads, lastOnly: true)
        measured.promptTokens = prompt.count
        measured.promptSeconds = Date().timeIntervalSince(t0)
        var out: [Int] = []
        let t1 = Date()
        while out.count < maxNewTokens {
            let next = sampler.next(logits[...])
            out.append(next)
            // The last token needs no pass of its own: nothing reads its logits.
            if stopTokens.contains(next) || !onToken(next) || out.count == maxNewTokens || prompt.count + out.count >= limit { break }
            logits = try forward([next], cache: cache, threads: threads, lastOnly: true)
            measured.decodingPasses += 1
        }
        measured.generatedTokens = out.count
        measured.generationSeconds = Date().timeIntervalSince(t1)
        return (out, measured)
    }
}
