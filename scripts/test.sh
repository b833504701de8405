#!/usr/bin/env bash
# The test suite: correctness only (every optimized kernel variant against the scalar reference,
# the Swift API, the CLI), then the server driven by real clients (scripts/serve_check.py: the
# openai package and curl against `bitkernels serve` on a free loopback port), then the NEON
# variants under qemu-aarch64 (scripts/neon_check.sh), then the C library as a C user gets it
# (install, pkg-config, example), then the MPI checks under mpirun on 2 and 3 ranks
# (scripts/mpi_check.sh, built with the MPI trait), then every Swift example of the README compiled and run as a
# package depending on BitKernels (scripts/readme_check.py), then the DocC documentation of every
# library module, which must build without a warning (scripts/docc_check.sh). Installs missing libraries and tools first. Arguments go to
# `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."
# One temporary folder for the whole run, removed at exit: whatever the tools leave in $TMPDIR
# (SwiftPM 6.3 leaves an empty TemporaryDirectory.XXXXXX behind on every build) goes with it.
TMPDIR="$(mktemp -d "${TMPDIR:-/tmp}/bitkernels-test.XXXXXX")"
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
scripts/deps.sh --test
swift test "$@"
swift build --product bitkernels
python3 scripts/serve_check.py --bin "$(swift build --show-bin-path)/bitkernels"
scripts/neon_check.sh
scripts/c_library_check.sh
scripts/mpi_check.sh
python3 scripts/readme_check.py
scripts/docc_check.sh
