import BitKernels
import Testing

/// The clock probe behind every B/cycle figure. `.serialized`: a parallel test would share the
/// core and slow the chain down.
@Suite(.serialized) struct ClockTests {
    /// A dependent `add reg, reg` chain: one add per cycle. The `add reg, imm` chain it replaces
    /// read 8–18 GHz on Golden Cove-class cores, which fold it at rename.
    @Test func measuredClockIsSane() {
        let hz = Machine.measureClockHz(seconds: 0.05)
        #expect(hz > 0.4e9 && hz < 7e9, "measured \(hz / 1e9) GHz")
    }

    /// Against what the OS reports: a current clock within 15%; a maximum not exceeded by more
    /// than 15%; a nominal (TSC) clock, which turbo exceeds, between 0.85× and 2×. (Emerald Rapids
    /// VM without cpufreq: measured 3.0–3.1 GHz against a nominal 2.3 GHz.)
    @Test(.enabled(if: Machine.reportedClock != nil, "the OS reports no clock"))
    func measuredClockAgreesWithTheOS() throws {
        let hz = Machine.measureClockHz(seconds: 0.1)
        let os = try #require(Machine.reportedClock)
        let ratio = hz / os.hz
        switch os.kind {
        case "current": #expect(ratio > 0.85 && ratio < 1.15, "measured \(hz / 1e9) GHz, OS current \(os.hz / 1e9) GHz")
        case "maximum": #expect(ratio > 0.2 && ratio < 1.15, "measured \(hz / 1e9) GHz, OS maximum \(os.hz / 1e9) GHz")
        default: #expect(ratio > 0.85 && ratio < 2, "measured \(hz / 1e9) GHz, OS nominal \(os.hz / 1e9) GHz")
        }
    }
}
