#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build in release mode, show what this
# CPU runs (`bitkernels info`), a short per-ISA benchmark of every kernel, then both layers on the
# data committed under Tests/: bit-neurons organizing an MNIST subset, and the BitNet b1.58 test
# model generating its greedy continuation. Extra arguments go to the benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
echo "==> building (release)" >&2
swift build -c release --product bitkernels
bin="$(swift build -c release --show-bin-path)/bitkernels"
"$bin" info
"$bin" bench --quick "$@"
echo "==> bit-neurons on the MNIST subset (bitkernels organize --help for the full datasets)" >&2
"$bin" organize --neurons 20
echo "==> BitNet b1.58 test model (transformers' greedy continuation: 141 993 476 296 450 450 450 450)" >&2
"$bin" generate --model Tests/BitNetTests/Fixtures/bitnet-tiny \
    --prompt-ids 979,976,987,380,171,923,104,261,138,319,536,118,795,241,786,318 --max-tokens 8
