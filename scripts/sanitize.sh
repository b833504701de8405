#!/usr/bin/env bash
# The test suite under a sanitizer, in its own build folder (.build-asan, .build-ubsan): every
# report fails the run. AddressSanitizer ~20 min on 2 cores (the suite runs ~4x slower).
#   scripts/sanitize.sh [address|undefined] [extra swift test arguments]     (default: address)
set -euo pipefail
cd "$(dirname "$0")/.."
sanitizer=address
case "${1:-}" in address|undefined) sanitizer=$1; shift ;; esac
scripts/deps.sh
case $sanitizer in
    address)
        export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
        swift test --sanitize=address --build-path .build-asan "$@" ;;
    undefined)
        # halt_on_error: a report stops the test process, so the run fails instead of printing on.
        export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
        swift test --sanitize=undefined --build-path .build-ubsan "$@" ;;
esac
