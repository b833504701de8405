#!/usr/bin/env bash
# The test suite: correctness only (every optimized kernel variant against the scalar reference,
# the Swift API, the CLI), then the server driven by real clients (scripts/serve_check.py: the
# openai package and curl against `bitkernels serve` on a free loopback port). Installs missing
# libraries first, like scripts/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --serve-test
swift test "$@"
swift build --product bitkernels
python3 scripts/serve_check.py --bin "$(swift build --show-bin-path)/bitkernels"
