import ArgumentParser
import BitNet

/// A command's defaults for `SamplingOptions` (generate decodes greedily, chat samples).
protocol SamplingDefaults {
    static var maxTokens: Int { get }
    static var maxTokensHelp: String { get }
    static var temperature: Float { get }
}

/// How many tokens to generate and how to pick them, shared by `generate` and `chat` (the server
/// takes the same fields per request: max_tokens, temperature, top_k, top_p, seed).
struct SamplingOptions<Defaults: SamplingDefaults>: ParsableArguments {
    @Option(name: .customLong("max-tokens"), help: ArgumentHelp(Defaults.maxTokensHelp))
    var maxTokens = Defaults.maxTokens

    @Option(help: "Sampling temperature (0 = greedy).")
    var temperature: Float = Defaults.temperature

    @Option(help: "Keep only the k most likely tokens (0 = all).")
    var topK = 40

    @Option(help: "Keep the smallest set of tokens with this much probability.")
    var topP: Float = 0.95

    @Option(help: "Random seed for sampling.")
    var seed: UInt64 = 0

    func validate() throws {
        try check("--max-tokens", maxTokens, in: 1...1_048_576)
        guard temperature >= 0, temperature.isFinite else { throw ValidationError("--temperature must be a finite number ≥ 0, got \(temperature)") }
        try check("--top-k", topK, in: 0...(1 << 24))
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
    }

    /// The sampler these options describe, its seed moved by `seedOffset` (chat: one per turn).
    func sampler(seedOffset: UInt64 = 0) -> Sampler {
        Sampler(temperature: temperature, topK: topK, topP: topP, seed: seed &+ seedOffset)
    }
}
