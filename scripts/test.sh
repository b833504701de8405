#!/usr/bin/env bash
# The test suite: correctness only (every optimized kernel variant against the scalar reference,
# the Swift API, the CLI), then the C library as a C user gets it (install, pkg-config, example).
# Installs missing libraries first, like scripts/run.sh. Arguments go to `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
swift test "$@"
scripts/c_library_check.sh
