import Foundation

/// Why an audio file or folder could not be read. The message names the file.
public enum AudioError: Error, Equatable, CustomStringConvertible {
    /// The file or folder is missing, unreadable or not a regular file.
    case unreadable(path: String, reason: String)
    /// The bytes are not a WAV file this reader accepts (mono 16-bit PCM).
    case malformed(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "\(path): \(reason)"
        case .malformed(let path, let reason): "\(path): \(reason)"
        }
    }
}

/// Mono audio as floats in [-1, 1), with its sample rate.
///
/// ```swift
/// let clip = try PCMAudio(wavFile: "fsdd/recordings/7_theo_3.wav")
/// print(clip.sampleRate, clip.samples.count)   // 8000 2730
/// ```
public struct PCMAudio: Sendable, Equatable {
    /// Samples per second.
    public let sampleRate: Int
    /// The samples, in [-1, 1).
    public let samples: [Float]

    /// Audio from samples already decoded.
    ///
    /// ```swift
    /// let silence = PCMAudio(sampleRate: 8000, samples: [Float](repeating: 0, count: 8000))
    /// ```
    public init(sampleRate: Int, samples: [Float]) {
        self.sampleRate = sampleRate
        self.samples = samples
    }

    /// Reads a RIFF/WAVE file of mono 16-bit PCM. Anything else — another container, compressed
    /// or float samples, more than one channel, a truncated file — is an error naming the file.
    public init(wavFile path: String) throws(AudioError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw .unreadable(path: path, reason: isDirectory.boolValue ? "is a directory, not a WAV file" : "no such file")
        }
        guard let type = try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType,
              type == .typeRegular else { throw .unreadable(path: path, reason: "not a regular file") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .unreadable(path: path, reason: "cannot be read")
        }
        try self.init(wavBytes: [UInt8](data), name: path)
    }

    /// Parses WAV bytes (see ``init(wavFile:)``); `name` is used in error messages.
    public init(wavBytes b: [UInt8], name: String) throws(AudioError) {
        func u32(_ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 | Int(b[i + 2]) << 16 | Int(b[i + 3]) << 24 }
        func u16(_ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 }
        func tag(_ i: Int) -> String { String(decoding: b[i..<i + 4], as: UTF8.self) }
        guard b.count >= 12, tag(0) == "RIFF", tag(8) == "WAVE" else {
            throw .malformed(path: name, reason: "not a RIFF/WAVE file")
        }
        var format: (channels: Int, rate: Int, bits: Int)?
        var offset = 12
        while offset + 8 <= b.count {
            let id = tag(offset), size = u32(offset + 4), body = offset + 8
            guard size <= b.count - body else {
                throw .malformed(path: name, reason: "chunk '\(id)' at byte \(offset) declares \(size) bytes, only \(b.count - body) remain (truncated)")
            }
            if id == "fmt " {
                guard size >= 16 else { throw .malformed(path: name, reason: "fmt chunk of \(size) bytes (needs 16)") }
                var code = u16(body)
                if code == 0xFFFE && size >= 26 { code = u16(body + 24) }  // WAVE_FORMAT_EXTENSIBLE: the sub-format's first word
                guard code == 1 else { throw .malformed(path: name, reason: "audio format \(code) is not PCM (1)") }
                format = (u16(body + 2), u32(body + 4), u16(body + 14))
            } else if id == "data" {
                guard let f = format else { throw .malformed(path: name, reason: "data chunk before the fmt chunk") }
                guard f.channels == 1 else { throw .malformed(path: name, reason: "\(f.channels) channels; only mono is read") }
                guard f.bits == 16 else { throw .malformed(path: name, reason: "\(f.bits)-bit samples; only 16-bit PCM is read") }
                guard f.rate >= 1000 && f.rate <= 384_000 else { throw .malformed(path: name, reason: "sample rate \(f.rate) Hz is out of range") }
                guard size % 2 == 0 else { throw .malformed(path: name, reason: "data chunk of \(size) bytes is not whole 16-bit samples") }
                var samples = [Float](repeating: 0, count: size / 2)
                for i in 0..<samples.count {
                    samples[i] = Float(Int16(bitPattern: UInt16(u16(body + 2 * i)))) / 32768
                }
                self.init(sampleRate: f.rate, samples: samples)
                return
            }
            offset = body + size + (size & 1)  // chunks are padded to even sizes
        }
        throw .malformed(path: name, reason: format == nil ? "no fmt chunk" : "no data chunk")
    }
}

/// The Free Spoken Digit Dataset (or any folder of `{digit}_{speaker}_{index}.wav` files).
///
/// ```swift
/// let fsdd = try SpokenDigits(directory: "../shared/data/fsdd")
/// let (train, test) = fsdd.publishedSplit()              // 2,700 / 300 recordings
/// let (others, theo) = fsdd.split(leavingOut: "theo")    // leave-one-speaker-out
/// ```
public struct SpokenDigits: Sendable {
    /// One recording and what its file name says about it.
    public struct Recording: Sendable {
        /// The digit spoken, 0...9.
        public let digit: Int
        /// Who spoke it.
        public let speaker: String
        /// The take's number for that speaker and digit.
        public let index: Int
        /// The recording's samples.
        public let audio: PCMAudio
    }

    /// Every recording, sorted by speaker, digit and index (a fixed order on every file system).
    public let recordings: [Recording]

    /// Reads every `{digit}_{speaker}_{index}.wav` in `directory` (or in its `recordings/`
    /// subfolder). All must have `sampleRate` (FSDD: 8,000 Hz): this reader does not resample.
    public init(directory: String, sampleRate: Int = 8000) throws(AudioError) {
        var folder = directory
        let nested = (directory as NSString).appendingPathComponent("recordings")
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: nested, isDirectory: &isDirectory), isDirectory.boolValue { folder = nested }
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else {
            throw .unreadable(path: directory, reason: "not a readable folder")
        }
        var found: [Recording] = []
        for name in names where name.hasSuffix(".wav") {
            let parts = name.dropLast(4).split(separator: "_")
            guard parts.count == 3, let digit = Int(parts[0]), (0...9).contains(digit), let index = Int(parts[2]) else { continue }
            let path = (folder as NSString).appendingPathComponent(name)
            let audio = try PCMAudio(wavFile: path)
            guard audio.sampleRate == sampleRate else {
                throw .malformed(path: path, reason: "sample rate \(audio.sampleRate) Hz, expected \(sampleRate) (no resampling)")
            }
            found.append(Recording(digit: digit, speaker: String(parts[1]), index: index, audio: audio))
        }
        guard !found.isEmpty else {
            throw .unreadable(path: directory, reason: "no {digit}_{speaker}_{index}.wav files")
        }
        recordings = found.sorted { ($0.speaker, $0.digit, $0.index) < ($1.speaker, $1.digit, $1.index) }
    }

    /// The speakers, sorted.
    public var speakers: [String] { Array(Set(recordings.map(\.speaker))).sorted() }

    /// FSDD's published split: indices 0–4 are the test set, the rest the training set.
    public func publishedSplit() -> (train: [Recording], test: [Recording]) {
        (recordings.filter { $0.index >= 5 }, recordings.filter { $0.index < 5 })
    }

    /// Train on every other speaker, test on `speaker`.
    public func split(leavingOut speaker: String) -> (train: [Recording], test: [Recording]) {
        (recordings.filter { $0.speaker != speaker }, recordings.filter { $0.speaker == speaker })
    }
}
