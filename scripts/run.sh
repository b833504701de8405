#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build in release mode, show what this
# CPU runs (`bitkernels info`) and a short per-ISA benchmark of every kernel.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
echo "==> building (release)" >&2
swift build -c release --product bitkernels
bin="$(swift build -c release --show-bin-path)/bitkernels"
"$bin" info
"$bin" bench --quick "$@"
