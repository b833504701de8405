import BitKernels
import Foundation

/// Writes through BitKernels' atomic writer (temporary file, fsync, rename, fsync of the directory).
func writeFile(_ data: Data, to path: String) throws(TrainingError) {
    do { try writeAtomically([UInt8](data), to: path) } catch { throw .io(path: path, reason: error.reason) }
}

/// FNV-1a, 64 bits.
func fnv1a(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    return h
}

/// The checkpoint file: "BKTRAIN1", a little-endian UInt64 header length, a JSON header (shape,
/// settings, step, window generator, data fingerprint, evaluations), the latent weights and AdamW's
/// two moments as float32 in layout order, and an FNV-1a 64 checksum of everything before it.
struct CheckpointHeader: Codable {
    var configuration: ModelConfiguration
    var settings: TrainingSettings
    var step: Int
    var optimizerStep: Int
    var generatorState: UInt64
    var dataFingerprint: UInt64
    var dataTokens: Int
    var evaluations: [Evaluation]
    var recentLosses: [Float]
    var elapsed: Double
}

extension Trainer {
    static let magic = Array("BKTRAIN1".utf8)

    /// Saves everything needed to continue exactly: latent weights, optimizer state, step, window
    /// generator (the data position), evaluations. Written atomically, checksummed.
    ///
    /// ```swift
    /// try trainer.saveCheckpoint(to: "run/checkpoint.bkt")
    /// ```
    public func saveCheckpoint(to path: String) throws(TrainingError) {
        let header = CheckpointHeader(configuration: model.configuration, settings: settings, step: step, optimizerStep: optimizer.step,
                                      generatorState: generator.state, dataFingerprint: data.fingerprint, dataTokens: data.tokens.count,
                                      evaluations: evaluations, recentLosses: recentLosses, elapsed: elapsed)
        let json: Data
        do { json = try JSONEncoder().encode(header) } catch { throw .io(path: path, reason: "encoding the header: \(error)") }
        var out = Data(Self.magic)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for i in model.weights.indices {
            out.append(UnsafeBufferPointer(start: model.weights[i].p, count: model.weights[i].count))
            optimizer.m[optimizer.ranges[i]].withUnsafeBufferPointer { out.append($0) }
            optimizer.v[optimizer.ranges[i]].withUnsafeBufferPointer { out.append($0) }
        }
        let sum = out.withUnsafeBytes { fnv1a($0) }
        withUnsafeBytes(of: sum.littleEndian) { out.append(contentsOf: $0) }
        try writeFile(out, to: path)
    }

    /// Restores a checkpoint saved by a run of the same configuration, settings and data; throws
    /// `.badFile` naming the file and the first difference otherwise.
    public func loadCheckpoint(from path: String) throws(TrainingError) {
        let floats = model.weights.reduce(0) { $0 + 3 * $1.count }
        // The weights and moments, and up to 64 MiB of header (its evaluations): no more is read.
        let bytes: [UInt8]
        do { bytes = try readRegularFile(path, limit: 24 + floats * 4 + (1 << 26)) } catch {
            throw .badFile(path: path, reason: "cannot read the checkpoint: \(error.reason)")
        }
        guard bytes.count >= 24, Array(bytes.prefix(8)) == Self.magic else { throw .badFile(path: path, reason: "not a BitTraining checkpoint") }
        let stored = bytes.suffix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian
        let computed = bytes.prefix(bytes.count - 8).withUnsafeBytes { fnv1a($0) }
        guard stored == computed else { throw .badFile(path: path, reason: "checksum mismatch (truncated or corrupted)") }
        let storedLength = bytes.dropFirst(8).prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian
        guard storedLength > 0, storedLength <= UInt64(bytes.count - 24) else {
            throw .badFile(path: path, reason: "header length \(storedLength) exceeds the file")
        }
        let length = Int(storedLength)
        let header: CheckpointHeader
        do { header = try JSONDecoder().decode(CheckpointHeader.self, from: Data(bytes[16..<(16 + length)])) } catch {
            throw .badFile(path: path, reason: "bad header: \(error)")
        }
        guard header.configuration == model.configuration else {
            throw .badFile(path: path, reason: "saved from another configuration (\(Self.describe(header.configuration)) vs \(Self.describe(model.configuration)))")
        }
        var a = header.settings, b = settings
        a.evalEvery = 0; b.evalEvery = 0
        guard a == b else { throw .badFile(path: path, reason: "saved with other training settings (steps, batch, context, schedule, optimizer or seed)") }
        guard header.dataFingerprint == data.fingerprint, header.dataTokens == data.tokens.count else {
            throw .badFile(path: path, reason: "saved from other data (\(header.dataTokens) tokens vs \(data.tokens.count))")
        }
        // A checksum proves only that the file is as written: the header's numbers are checked too.
        guard (0...settings.steps).contains(header.step), header.optimizerStep == header.step else {
            throw .badFile(path: path, reason: "step \(header.step) (optimizer step \(header.optimizerStep)) is not a step of this \(settings.steps)-step run")
        }
        guard header.elapsed.isFinite, header.elapsed >= 0 else {
            throw .badFile(path: path, reason: "elapsed time \(header.elapsed) s is not a duration")
        }
        guard bytes.count == 16 + length + floats * 4 + 8 else {
            throw .badFile(path: path, reason: "\(bytes.count) bytes; expected \(16 + length + floats * 4 + 8) for this model")
        }
        bytes.withUnsafeBytes { raw in
            var offset = 16 + length
            func read(_ n: Int) -> [Float] {
                defer { offset += n * 4 }
                return (0..<n).map { raw.loadUnaligned(fromByteOffset: offset + $0 * 4, as: Float.self) }
            }
            for i in model.weights.indices {
                let n = model.weights[i].count
                let w = read(n)
                w.withUnsafeBufferPointer { model.weights[i].p.update(from: $0.baseAddress!, count: n) }
                optimizer.m.replaceSubrange(optimizer.ranges[i], with: read(n))
                optimizer.v.replaceSubrange(optimizer.ranges[i], with: read(n))
            }
        }
        optimizer.step = header.optimizerStep
        step = header.step
        generator = SplitMix64(seed: 0)
        generator.state = header.generatorState
        evaluations = header.evaluations
        recentLosses = header.recentLosses
        elapsed = header.elapsed
        model.requantize()
        model.lastFlips = [:]
    }

    static func describe(_ c: ModelConfiguration) -> String {
        "\(c.precision.rawValue) vocabulary \(c.vocabularySize) width \(c.width) layers \(c.layers) heads \(c.heads)/\(c.kvHeads) mlp \(c.mlpHidden)"
    }
}
