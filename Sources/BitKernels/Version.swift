/// The version of BitKernels (semantic versioning), also printed by `bitkernels --version`,
/// written into every JSON file the tools write, and installed as the C library's version.
///
/// ```swift
/// print("BitKernels \(bitKernelsVersion)")   // BitKernels 0.2.0
/// ```
public let bitKernelsVersion = "0.2.0"
