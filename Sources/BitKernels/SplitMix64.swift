/// SplitMix64 (Steele, Lea & Flood 2014): the package's one small seeded generator, for benchmark
/// workloads, metric noise, token sampling and tests, so a seed gives the same numbers everywhere.
/// Package-internal: the public way to draw random bits is `BitMask`.
package struct SplitMix64: RandomNumberGenerator, Sendable {
    package var state: UInt64

    package init(seed: UInt64) { state = seed }

    package mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
