#!/usr/bin/env bash
# The test suite under a sanitizer, in its own build folder (.build-asan, .build-ubsan): every
# report fails the run. AddressSanitizer ~20 min on 2 cores (the suite runs ~4x slower).
#   scripts/sanitize.sh [address|undefined] [extra swift test arguments]     (default: address)
set -euo pipefail
cd "$(dirname "$0")/.."
sanitizer=address
case "${1:-}" in address|undefined) sanitizer=$1; shift ;; esac
scripts/deps.sh
# SwiftPM 6.3 may keep a stale build description in a build folder ("unknown build description"):
# plan afresh (the objects stay cached).
rm -f .build-asan/debug.yaml .build-asan/debug/description.json .build-ubsan/debug.yaml .build-ubsan/debug/description.json
case $sanitizer in
    address)
        export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
        swift test --sanitize=address --build-path .build-asan "$@" ;;
    undefined)
        # Swift on Linux has no -sanitize=undefined (Swift code traps on overflow and bounds by
        # itself): the C kernels are built with clang's UBSan, the runtime linked through swiftc,
        # and a report stops the test process (no recovery), so the run fails.
        export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
        swift test --build-path .build-ubsan -Xcc -fsanitize=undefined -Xcc -fno-sanitize-recover=undefined \
            -Xswiftc -Xclang-linker -Xswiftc -fsanitize=undefined "$@" ;;
esac
