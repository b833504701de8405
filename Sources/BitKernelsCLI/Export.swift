import ArgumentParser
import BitKernels
import BitNet
import Foundation

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a BitNet b1.58 model in the Hugging Face layout or as GGUF, with a tokenizer.",
        discussion: """
            Reads any model `generate` reads and writes it again: --format hf makes a directory \
            (config.json, model.safetensors with packed 2-bit weights and weight_scale, \
            tokenizer.json) that transformers' BitNetForCausalLM loads; tq2_0 or i2_s a .gguf file. \
            The tokenizer is the model's own unless --tokenizer names one: chars:FILE (the \
            characters of a text file, sorted by code point), bytes, or a tokenizer.json / \
            tiktoken file.

            Example: bitkernels export --model bitnet-tiny --out tiny.gguf --format i2_s
            """)

    @Option(help: "Model directory (config.json + model.safetensors) or .gguf file.")
    var model: String

    @Option(help: "Output directory (hf) or file (tq2_0, i2_s).")
    var out: String

    @Option(help: "hf, tq2_0 or i2_s.")
    var format = "hf"

    @Option(help: "chars:FILE, bytes, or a tokenizer file (default: the model's own, if any).")
    var tokenizer: String?

    func validate() throws {
        guard format == "hf" || GGUFTernaryFormat(rawValue: format) != nil else {
            throw ValidationError("--format must be hf, tq2_0 or i2_s, not '\(format)'")
        }
    }

    func run() throws {
        let kernels = try resolveKernels()
        let m = try loadModel(model, kernels: kernels)
        let tok: Tokenizer?
        do throws(BitNetError) {
            switch tokenizer {
            case nil: tok = try Tokenizer.load(modelPath: model)
            case "bytes": tok = Tokenizer.bytes
            case let spec? where spec.hasPrefix("chars:"):
                let file = String(spec.dropFirst(6))
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw BitNetError.missingFile(file) }
                tok = Tokenizer(charactersOf: text)
            case let file?: tok = try Tokenizer.load(file: file)
            }
            let weights = m.weights
            if let ggufFormat = GGUFTernaryFormat(rawValue: format) {
                try weights.writeGGUF(to: out, format: ggufFormat, tokenizer: tok)
            } else {
                try weights.writeHuggingFace(to: out, tokenizer: tok)
            }
        } catch { throw Failure(error) }
        print("wrote \(out) (\(format)\(tok.map { ", tokenizer of \($0.vocabularySize) ids" } ?? ", no tokenizer"))")
    }
}
