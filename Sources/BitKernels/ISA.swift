import CBitKernels

/// An instruction-set variant of the kernels.
///
/// Every kernel is compiled for each variant into the same binary; the best one the CPU and
/// operating system support is chosen at run time.
///
/// ```swift
/// for isa in ISA.supported { print(isa, isa.isSupported) }   // scalar true, avx2 true, ...
/// ```
public enum ISA: String, CaseIterable, Sendable, CustomStringConvertible {
    /// The portable reference: plain C, no vector instructions. The specification of every kernel.
    case scalar
    /// x86-64 AVX2 with BMI2, POPCNT and FMA.
    case avx2
    /// x86-64 AVX2 with AVX-VNNI (VEX-encoded VPDPBUSD on 256-bit registers) for the ternary
    /// products, the AVX2 code elsewhere: CPUs with AVX-VNNI but no AVX-512 (Alder Lake and later
    /// client cores, Zen 5 client parts). Chosen after `avx512`, before `avx2`.
    case avxVNNI = "avxvnni"
    /// x86-64 AVX-512 F/BW/VL with VPOPCNTDQ and VNNI (Ice Lake, Zen 4 and later).
    case avx512
    /// AArch64 Advanced SIMD.
    case neon

    /// The variants this CPU can run, scalar first.
    public static var supported: [ISA] { allCases.filter(\.isSupported) }

    /// Whether this binary contains the variant and this CPU and OS can run it.
    public var isSupported: Bool { bk_isa_supported(cValue) }

    public var description: String { rawValue }

    var cValue: bk_isa {
        switch self {
        case .scalar: BK_ISA_SCALAR
        case .avx2: BK_ISA_AVX2
        case .avxVNNI: BK_ISA_AVXVNNI
        case .avx512: BK_ISA_AVX512
        case .neon: BK_ISA_NEON
        }
    }

    init(_ c: bk_isa) {
        switch c {
        case BK_ISA_AVX2: self = .avx2
        case BK_ISA_AVXVNNI: self = .avxVNNI
        case BK_ISA_AVX512: self = .avx512
        case BK_ISA_NEON: self = .neon
        default: self = .scalar
        }
    }
}

/// Errors from the environment: an ISA this CPU lacks, a bad setting, a bad file.
///
/// ```swift
/// do { _ = try Kernels.variant(.avx512) } catch { print(error) }
/// // "the avx512 kernels cannot run on this CPU (supported: scalar, avx2)"
/// ```
public enum BitKernelsError: Error, Equatable, CustomStringConvertible {
    /// The variant was requested but this CPU or OS cannot run it.
    case unsupportedISA(ISA)
    /// A name that is not one of `scalar`, `avx2`, `avxvnni`, `avx512`, `neon`.
    case unknownISA(String)
    /// `BITKERNELS_ISA` names a variant that cannot be used; the message says why.
    case invalidOverride(String)

    public var description: String {
        switch self {
        case .unsupportedISA(let isa):
            let list = ISA.supported.map(\.rawValue).joined(separator: ", ")
            return "the \(isa) kernels cannot run on this CPU (supported: \(list))"
        case .unknownISA(let name):
            return "'\(name)' is not an instruction-set variant; use scalar, avx2, avxvnni, avx512 or neon"
        case .invalidOverride(let message):
            return message
        }
    }
}

/// One variant of every kernel: the handle that operations take in their `using:` parameter.
///
/// `Kernels.default` is the best variant for this CPU, or the one named by the environment
/// variable `BITKERNELS_ISA`. `Kernels.variant(_:)` selects a specific one, and throws when the
/// CPU cannot run it, rather than crashing on an illegal instruction.
///
/// ```swift
/// let fast = try Kernels.variant(.avx2)
/// let n = a.sharedBits(with: b, using: fast)
/// ```
public struct Kernels: @unchecked Sendable, Equatable, CustomStringConvertible {
    // The tables are static constants in C: sharing the pointer across threads is safe.
    let table: UnsafePointer<bk_kernels>

    /// The instruction-set variant of this handle.
    public var isa: ISA { ISA(table.pointee.isa) }

    public var description: String { isa.rawValue }

    /// The variant for `isa`; throws `unsupportedISA` when this CPU cannot run it.
    public static func variant(_ isa: ISA) throws(BitKernelsError) -> Kernels {
        guard let table = bk_kernels_for(isa.cValue) else { throw .unsupportedISA(isa) }
        return Kernels(table: table)
    }

    /// The variant named by `name` (`"avx2"`, ...).
    public static func variant(named name: String) throws(BitKernelsError) -> Kernels {
        guard let isa = ISA(rawValue: name.lowercased()) else { throw .unknownISA(name) }
        return try variant(isa)
    }

    /// The best variant for this CPU, honouring `BITKERNELS_ISA`; throws if that override names a
    /// variant that does not exist or cannot run here.
    public static func best() throws(BitKernelsError) -> Kernels {
        guard let table = bk_kernels_best() else {
            throw .invalidOverride(String(cString: bk_kernels_best_error()))
        }
        return Kernels(table: table)
    }

    /// The default used by every operation: `best()`. An impossible `BITKERNELS_ISA` stops the
    /// program with the reason (call `best()` first to handle it yourself).
    public static let `default`: Kernels = {
        do { return try best() } catch { fatalError("BitKernels: \(error)") }
    }()
}

/// What the CPU and operating system support, as detected once at start-up.
///
/// ```swift
/// let cpu = CPUFeatures.current
/// print(cpu.brand, cpu.avx2)
/// ```
public struct CPUFeatures: Sendable {
    /// The CPU model name, empty when unknown.
    public let brand: String
    /// Feature flags by name (`avx2`, `avx512f`, `avx512_vpopcntdq`, ...), in a fixed order.
    public let flags: [(name: String, present: Bool)]

    /// The features of the CPU this process runs on.
    public static let current: CPUFeatures = {
        let f = bk_cpu_detect().pointee
        let brand = withUnsafeBytes(of: f.brand) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return CPUFeatures(
            brand: brand,
            flags: [
                ("popcnt", f.popcnt), ("bmi2", f.bmi2), ("fma", f.fma), ("avx2", f.avx2),
                ("avx512f", f.avx512f), ("avx512bw", f.avx512bw), ("avx512vl", f.avx512vl),
                ("avx512_vpopcntdq", f.avx512_vpopcntdq), ("avx512_vnni", f.avx512_vnni),
                ("avx_vnni", f.avx_vnni), ("gfni", f.gfni), ("neon", f.neon), ("dotprod", f.dotprod),
            ])
    }()

    /// Whether the named feature is present (false for unknown names).
    public func has(_ name: String) -> Bool { flags.first { $0.name == name }?.present ?? false }
}
