#!/usr/bin/env bash
# The test suite: correctness only (every optimized kernel variant against the scalar reference,
# the Swift API, the CLI), then the NEON variants under qemu-aarch64 (scripts/neon_check.sh), then
# the C library as a C user gets it (install, pkg-config, example). Installs missing libraries and
# tools first. Arguments go to `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test
swift test "$@"
scripts/neon_check.sh
scripts/c_library_check.sh
