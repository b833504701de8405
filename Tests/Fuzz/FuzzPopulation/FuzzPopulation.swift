// libFuzzer target: a saved population. Inputs whose first byte is odd get a correct CRC-32
// before parsing, so mutations reach the field checks behind the checksum; a loaded population
// then learns one input (the counters and rates it trusts are exercised).
import BitKernels
import BitNeurons
import CZlib
import Foundation
import FuzzSupport

@_cdecl("LLVMFuzzerInitialize")
public func fuzzPopulationInitialize(_ argc: UnsafeMutablePointer<Int32>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> Int32 {
    // scripts/fuzz.sh asks for seeds: small populations written by this build.
    if let dir = ProcessInfo.processInfo.environment["BK_FUZZ_WRITE_SEEDS"] {
        var g = SplitMix64(seed: 7)
        for (i, width) in [64, 100, 784].enumerated() {
            let inputs = (0..<8).map { _ in BitVector(width: width, words: (0..<((width + 63) / 64)).map { w in
                let bits = g.next()
                let rest = width - 64 * w
                return rest >= 64 ? bits : bits & ((1 << UInt64(rest)) - 1)
            }) }
            var p = BitPopulation(width: width, configuration: .init(neurons: 3, settleAfter: i == 1 ? 2 : nil,
                                                                    growBelow: i == 2 ? 0.2 : nil), seedInputs: inputs)
            for x in inputs { p.learn(x) }
            try? p.save(to: "\(dir)/seed\(i).bkn")
        }
        exit(0)
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPopulation(_ data: UnsafeRawPointer?, _ count: Int) -> Int32 {
    var bytes = count > 0 ? [UInt8](UnsafeRawBufferPointer(start: data, count: count)) : []
    if bytes.count >= 40, bytes[0] & 1 == 1 {
        bytes[0] = UInt8(ascii: "B")
        let crc = bytes.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count - 4))) }
        withUnsafeBytes(of: crc.littleEndian) { bytes.replaceSubrange((bytes.count - 4)..., with: $0) }
    }
    if var p = try? BitPopulation(serialized: bytes) {
        p.learn(BitVector(width: p.width))
        _ = p.novelty(BitVector(width: p.width))
    }
    return 0
}

@_cdecl("FuzzPopulation_main")
public func fuzzPopulationMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 { runFuzzer(fuzzPopulation) }
