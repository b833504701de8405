#!/usr/bin/env bash
# The test suite: correctness only (every optimized kernel variant against the scalar reference,
# the Swift API, the CLI). Installs missing libraries first, like scripts/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
swift test "$@"
