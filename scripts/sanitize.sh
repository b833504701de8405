#!/usr/bin/env bash
# The test suite under AddressSanitizer (its own build folder, .build-asan): every report fails
# the run. ~20 min on 2 cores (the suite runs ~4x slower).
#   scripts/sanitize.sh [extra swift test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
swift test --sanitize=address --build-path .build-asan "$@"
