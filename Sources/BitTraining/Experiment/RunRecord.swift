import BitKernels
import Foundation

// The run record of the width × bits experiment: one JSON file per training run, written when
// the run ends, from which the report is made. Schema version 1 (JSON keys sorted, pretty
// printed; non-finite numbers as the strings "nan", "inf", "-inf"):
//
// {
//   "schema": 1,
//   "version": String, "commit": String,  // of the build that wrote it (not read back)
//   "precision": "float" | "ternary" | "binary",
//   "width": Int, "heads": Int, "layers": Int, "context": Int, "batch": Int,
//   "steps": Int,                       // optimizer steps taken
//   "learningRate": Double,             // peak learning rate
//   "seed": UInt64, "threads": Int,
//   "tokensSeen": Int,                  // training tokens (steps × batch × context)
//   "wallSeconds": Double,              // time spent in training steps (evaluations excluded)
//   "trainLoss":      [{"step": Int, "loss": Double}],   // nats/char, as logged
//   "validationLoss": [{"step": Int, "loss": Double}],   // nats/char on the fixed validation batches
//   "finalValidationLoss": Double,
//   "geometry": {
//     "embedding":    {"effectiveRank", "participationRatio", "meanCosine"},  // the token table, vocab × width
//     "hiddenStates": [same, layers + 1 entries]   // on the fixed validation sample (positions ×
//                                                  // width): [0] the embedding output (input of
//                                                  // block 1), [l] the residual stream after block l
//   },                                             // rank stats of mean-centred rows; meanCosine of raw rows
//   "characters": {                                // the token embedding table of the vocabulary
//     "vocabulary": String,                        // the characters, in token order
//     "classSets": [{"name": "kinds" | "vowels/consonants" | "case",
//                    "silhouette": Double,         // cosine distance, all classified characters
//                    "classes": [{"name": String, "silhouette": Double}]}],
//     "casePairs": {"count", "meanRank", "medianRank", "shareNearest", "meanCosine", "chanceRank"},
//     "neighbours": [{"character": String, "neighbours": [{"character": String, "cosine": Double}]}]
//   },
//   "frustration": [{"step": Int, "layer": Int (0-based), "matrix": "q"|"k"|"v"|"o"|"gate"|"up"|"down",
//                    "stats": {"shareNegative", "shareZero", "sharePositive",
//                              "nearThresholdShare", "relativeError"},
//                    "flipRate": Double?,          // nil at a matrix's first sample
//                    "flipsCountedEveryStep": Bool?}], // true: exact; absent: snapshot difference
//                                                  // empty for float runs; see Frustration.swift
//   "hiddenStates": {"path": String,               // relative to the record's directory
//                    "positions": Int, "width": Int, "blocks": Int (layers + 1),
//                    "format": "float32le",        // [block][position][dim], no header
//                    "sampleOffset": Int}?,        // first validation token of the sample
//   "notes": String?
// }
//
// A run lives in `<runs>/<precision>-w<width>-s<seed>/record.json`, its hidden states beside it.

/// One training run of the width × bits experiment and what the instruments measured on it.
///
/// ```swift
/// let record = try RunRecord.read(from: "runs/ternary-w128-s1/record.json")
/// record.finalValidationLoss
/// ```
public struct RunRecord: Sendable, Equatable, Codable, JSONDocument {
    /// What a run trained with: full-precision weights, BitNet b1.58 ternary, or BitNet 1-bit.
    /// Raw values are the trainer's precision names; cases in report order (the control first).
    public enum Precision: String, Sendable, Codable, CaseIterable, Comparable {
        case float
        case ternary
        case binary

        public static func < (a: Precision, b: Precision) -> Bool {
            allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
        }
    }

    /// The schema this build writes and reads.
    public static let currentSchema = 1
    /// The file name of a record inside its run directory.
    public static let fileName = "record.json"

    /// The record's schema version.
    public var schema: Int = RunRecord.currentSchema
    /// What the run trained with.
    public var precision: Precision
    /// The model width.
    public var width: Int
    /// Attention heads.
    public var heads: Int
    /// Decoder layers.
    public var layers: Int
    /// Positions per training sequence.
    public var context: Int
    /// Sequences per step.
    public var batch: Int
    /// Optimizer steps taken.
    public var steps: Int
    /// The peak learning rate.
    public var learningRate: Double
    /// The run's seed.
    public var seed: UInt64
    /// OpenMP threads of the training.
    public var threads: Int
    /// Training tokens over all steps.
    public var tokensSeen: Int
    /// Wall time of the training.
    public var wallSeconds: Double
    /// The training loss at each evaluation.
    public var trainLoss: [LossPoint]
    /// The validation loss at each evaluation.
    public var validationLoss: [LossPoint]
    /// The validation loss at the end.
    public var finalValidationLoss: Double
    /// Effective rank and spread of the embedding and of each residual block.
    public var geometry: Geometry
    /// How the embedding arranges characters (classes, case pairs, neighbours).
    public var characters: CharacterStructure
    /// Frustration statistics sampled during training (empty for float).
    public var frustration: [FrustrationSample]
    /// Where the hidden states for CKA are.
    public var hiddenStates: HiddenStatesFile?
    /// Free text.
    public var notes: String?

    /// A record from its values (`WidthBitsGrid.measure` makes one per run).
    public init(
        precision: Precision, width: Int, heads: Int, layers: Int, context: Int, batch: Int, steps: Int,
        learningRate: Double, seed: UInt64, threads: Int, tokensSeen: Int, wallSeconds: Double,
        trainLoss: [LossPoint], validationLoss: [LossPoint], finalValidationLoss: Double,
        geometry: Geometry, characters: CharacterStructure, frustration: [FrustrationSample],
        hiddenStates: HiddenStatesFile?, notes: String? = nil
    ) {
        self.precision = precision
        self.width = width
        self.heads = heads
        self.layers = layers
        self.context = context
        self.batch = batch
        self.steps = steps
        self.learningRate = learningRate
        self.seed = seed
        self.threads = threads
        self.tokensSeen = tokensSeen
        self.wallSeconds = wallSeconds
        self.trainLoss = trainLoss
        self.validationLoss = validationLoss
        self.finalValidationLoss = finalValidationLoss
        self.geometry = geometry
        self.characters = characters
        self.frustration = frustration
        self.hiddenStates = hiddenStates
        self.notes = notes
    }

    /// The run's directory name: `<precision>-w<width>-s<seed>`.
    public var runName: String { RunRecord.runName(precision: precision, width: width, seed: seed) }

    /// `<precision>-w<width>-s<seed>`, e.g. `ternary-w128-s1`.
    public static func runName(precision: Precision, width: Int, seed: UInt64) -> String {
        "\(precision.rawValue)-w\(width)-s\(seed)"
    }

    /// A loss (nats/char) at an optimizer step.
    public struct LossPoint: Sendable, Equatable, Codable {
        /// The step.
        public var step: Int
        /// The loss at that step.
        public var loss: Double
        /// A point of a loss curve.
        public init(step: Int, loss: Double) {
            self.step = step
            self.loss = loss
        }
    }

    /// Effective rank, participation ratio and isotropy of the embedding table and of each block's states.
    public struct Geometry: Sendable, Equatable, Codable {
        /// The token embedding table (vocabulary × width).
        public var embedding: GeometryStats
        /// The fixed validation sample's states: [0] embedding output, [l] after block l.
        public var hiddenStates: [GeometryStats]
        /// Statistics already computed.
        public init(embedding: GeometryStats, hiddenStates: [GeometryStats]) {
            self.embedding = embedding
            self.hiddenStates = hiddenStates
        }

        /// Measures an embedding table and the hidden states of each block.
        ///
        /// ```swift
        /// let g = RunRecord.Geometry(embedding: table, hiddenStates: states)  // [Matrix], layers + 1
        /// ```
        public init(embedding: Matrix, hiddenStates: [Matrix]) {
            self.init(embedding: GeometryStats(embedding), hiddenStates: hiddenStates.map(GeometryStats.init))
        }
    }

    /// Class silhouettes, case pairs and nearest neighbours of the character embeddings.
    public struct CharacterStructure: Sendable, Equatable, Codable {
        /// The vocabulary, in id order.
        public var vocabulary: String
        /// The silhouette of each class set (`CharacterClassSet.standard`).
        public var classSets: [ClassSetScore]
        /// How close each letter is to its other case.
        public var casePairs: CasePairStats
        /// Nearest neighbours of selected characters.
        public var neighbours: [Neighbourhood]

        /// Statistics already computed.
        public init(vocabulary: String, classSets: [ClassSetScore], casePairs: CasePairStats, neighbours: [Neighbourhood]) {
            self.vocabulary = vocabulary
            self.classSets = classSets
            self.casePairs = casePairs
            self.neighbours = neighbours
        }

        /// The characters whose neighbours a record lists, when in the vocabulary.
        public static let chosenCharacters: [Character] = ["a", "e", "t", "A", "T", " ", "\n", ".", ",", "?"]

        /// Measures the token embedding table of a character vocabulary (one row per character,
        /// in token order): the standard class sets, case pairs, and `k` neighbours of `chosen`.
        ///
        /// ```swift
        /// let c = RunRecord.CharacterStructure(vocabulary: Array(chars), embedding: table)
        /// ```
        public init(
            vocabulary: [Character], embedding: Matrix,
            chosen: [Character] = chosenCharacters, neighbourCount k: Int = 5,
            classSets sets: [CharacterClassSet] = CharacterClassSet.standard
        ) {
            precondition(vocabulary.count == embedding.rows, "\(vocabulary.count) characters for \(embedding.rows) embedding rows")
            let sims = cosineSimilarities(embedding)
            let scores = sets.map { set -> ClassSetScore in
                let labels = vocabulary.map { set.classify($0) ?? -1 }
                let s = Silhouette(similarities: sims, labels: labels, classCount: set.classNames.count)
                return ClassSetScore(
                    name: set.name, silhouette: s.overall,
                    classes: zip(set.classNames, s.perClass).map { ClassScore(name: $0, silhouette: $1) })
            }
            var lists = [Neighbourhood]()
            for ch in chosen {
                guard let i = vocabulary.firstIndex(of: ch) else { continue }
                let nn = nearestNeighbours(of: i, in: sims, k: k)
                lists.append(Neighbourhood(
                    character: String(ch),
                    neighbours: nn.map { Neighbour(character: String(vocabulary[$0.index]), cosine: $0.cosine) }))
            }
            self.init(
                vocabulary: String(vocabulary), classSets: scores,
                casePairs: CasePairStats(vocabulary: vocabulary, similarities: sims), neighbours: lists)
        }
    }

    /// The silhouette of one class set, overall and per class.
    public struct ClassSetScore: Sendable, Equatable, Codable {
        /// The class set's name.
        public var name: String
        /// The mean silhouette over its characters.
        public var silhouette: Double
        /// Per class.
        public var classes: [ClassScore]
        /// A score from its values.
        public init(name: String, silhouette: Double, classes: [ClassScore]) {
            self.name = name
            self.silhouette = silhouette
            self.classes = classes
        }
    }

    /// The mean silhouette of one class's characters.
    public struct ClassScore: Sendable, Equatable, Codable {
        /// The class's name.
        public var name: String
        /// The mean silhouette of its characters.
        public var silhouette: Double
        /// A score from its values.
        public init(name: String, silhouette: Double) {
            self.name = name
            self.silhouette = silhouette
        }
    }

    /// A character's nearest neighbours by cosine, nearest first.
    public struct Neighbourhood: Sendable, Equatable, Codable {
        /// The character.
        public var character: String
        /// Its nearest neighbours, nearest first.
        public var neighbours: [Neighbour]
        /// A neighbourhood from its values.
        public init(character: String, neighbours: [Neighbour]) {
            self.character = character
            self.neighbours = neighbours
        }
    }

    /// One neighbour and its cosine similarity.
    public struct Neighbour: Sendable, Equatable, Codable {
        /// The neighbour.
        public var character: String
        /// Its cosine similarity to the character.
        public var cosine: Double
        /// A neighbour from its values.
        public init(character: String, cosine: Double) {
            self.character = character
            self.cosine = cosine
        }
    }

    /// Where a run's hidden states for CKA are, and their shape.
    public struct HiddenStatesFile: Sendable, Equatable, Codable {
        /// The file, relative to the run directory.
        public var path: String
        /// Positions of the validation sample.
        public var positions: Int
        /// The model width.
        public var width: Int
        /// Residual blocks: the embedding output and one per layer.
        public var blocks: Int
        /// The element layout: little-endian float32, [block][position][width].
        public var format: String = "float32le"
        /// The first validation token of the sample.
        public var sampleOffset: Int
        /// A description from its values.
        public init(path: String, positions: Int, width: Int, blocks: Int, sampleOffset: Int) {
            self.path = path
            self.positions = positions
            self.width = width
            self.blocks = blocks
            self.sampleOffset = sampleOffset
        }
    }

    // MARK: Files

    static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }

    /// The record as JSON (keys sorted, so equal records give equal bytes), with the `version` and
    /// `commit` of this build beside the record's keys. Reading ignores those two, so the report
    /// of the same runs stays the same bytes whichever build wrote them.
    public func encoded() -> Data {
        // Encoding plain structs of numbers and strings cannot fail.
        try! RunRecord.encoder().encode(Stamped(self))
    }

    /// Writes the record atomically to `<directory>/record.json`, creating the directory.
    public func write(toDirectory directory: String) throws(ExperimentError) {
        try makeDirectory(directory)
        try writeFileAtomically(encoded(), to: directory + "/" + RunRecord.fileName)
    }

    /// Reads and checks a record.
    public static func read(from path: String) throws(ExperimentError) -> RunRecord {
        let data = try readExperimentFile(path)
        let record: RunRecord
        do { record = try decoder().decode(RunRecord.self, from: data) } catch {
            throw .badData(path: path, reason: "not a run record: \(oneLine(error))")
        }
        guard record.schema == currentSchema else {
            throw .badData(path: path, reason: "schema \(record.schema), this build reads \(currentSchema)")
        }
        guard record.width > 0, record.layers > 0, record.geometry.hiddenStates.count == record.layers + 1 else {
            throw .badData(path: path, reason: "width \(record.width), layers \(record.layers), \(record.geometry.hiddenStates.count) hidden-state entries (want layers + 1)")
        }
        if let h = record.hiddenStates, h.width != record.width || h.blocks != record.layers + 1 || h.positions <= 0 {
            throw .badData(path: path, reason: "hidden states \(h.positions)×\(h.width)×\(h.blocks) do not match width \(record.width), layers \(record.layers)")
        }
        return record
    }
}

func oneLine(_ error: Error) -> String {
    if let e = error as? DecodingError {
        switch e {
        case .keyNotFound(let key, let c): return "missing \(path(c.codingPath + [key]))"
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c):
            return "\(path(c.codingPath)): \(c.debugDescription)"
        @unknown default: return "\(e)"
        }
    }
    return "\(error)".replacingOccurrences(of: "\n", with: " ")
}

private func path(_ keys: [CodingKey]) -> String {
    keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
}

// MARK: Hidden states for CKA

/// Writes hidden states for CKA: `blocks` matrices of `positions × width`, as little-endian
/// float32 in [block][position][dim] order, atomically.
///
/// ```swift
/// try writeHiddenStates(states, to: "runs/ternary-w128-s1/hidden.f32")
/// ```
public func writeHiddenStates(_ blocks: [Matrix], to path: String) throws(ExperimentError) {
    var data = Data()
    if let first = blocks.first {
        precondition(blocks.allSatisfy { $0.rows == first.rows && $0.cols == first.cols }, "hidden-state blocks differ in shape")
        data.reserveCapacity(blocks.count * first.values.count * 4)
    }
    for block in blocks {
        for v in block.values {
            var bits = Float(v).bitPattern.littleEndian
            withUnsafeBytes(of: &bits) { data.append(contentsOf: $0) }
        }
    }
    try writeFileAtomically(data, to: path)
}

/// Reads the hidden states a record points to (`path` relative to `directory`): `blocks`
/// matrices of `positions × width`.
public func readHiddenStates(_ file: RunRecord.HiddenStatesFile, relativeTo directory: String) throws(ExperimentError) -> [Matrix] {
    let path = directory + "/" + file.path
    guard file.format == "float32le" else { throw .badData(path: path, reason: "format \(file.format), want float32le") }
    let data = try readExperimentFile(path, limit: 1 << 34)
    let count = file.positions * file.width
    guard data.count == count * file.blocks * 4 else {
        throw .badData(path: path, reason: "\(data.count) bytes, want \(count * file.blocks * 4) for \(file.blocks)×\(file.positions)×\(file.width) float32")
    }
    var floats = [Float](repeating: 0, count: count * file.blocks)
    data.withUnsafeBytes { raw in
        for i in 0..<floats.count {
            floats[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
        }
    }
    for f in floats where !f.isFinite { throw .badData(path: path, reason: "non-finite value") }
    return (0..<file.blocks).map { b in
        Matrix(rows: file.positions, cols: file.width, values: floats[(b * count)..<((b + 1) * count)].map(Double.init))
    }
}
