#!/usr/bin/env bash
# Q4 of the bit-neuron study: neurons on demand against a fixed population of the same final size.
#   bench/experiments/bitneurons/neurons_on_demand.sh [OUT_DIR]   (default bench/experiments/bitneurons/runs/q4)
# For MNIST and Fashion-MNIST, N in 10 20 50 100 200, 5 seeds: a fixed population of N, and one grown
# on demand (--grow, resonance floor 0.3) up to a capacity of N; then continual learning (classes
# 0-4, then 5-9) the same way. Every run writes its JSON (per-class specialists and purity); the
# summary is bench/experiments/bitneurons/summarize_q4.py. Skips runs whose JSON exists.
set -euo pipefail
cd "$(dirname "$0")/../../.."
out="${1:-bench/experiments/bitneurons/runs/q4}"
data="${BK_DATA:-../shared/data}"
mkdir -p "$out"
swift build -c release --product bitkernels >/dev/null
bin="$(swift build -c release --show-bin-path)/bitkernels"
for set in mnist fashion-mnist; do
    for mode in fixed grow; do
        for continual in no yes; do
            for n in 10 20 50 100 200; do
                for seed in 1 2 3 4 5; do
                    name="$set-$mode-$([ $continual = yes ] && echo continual || echo single)-n$n-s$seed"
                    [ -s "$out/$name.json" ] && continue
                    args=(--data "$data/$set" --seed "$seed" --json "$out/$name.json")
                    if [ $mode = grow ]; then args+=(--grow --grow-below 0.3 --capacity "$n"); else args+=(--neurons "$n"); fi
                    [ $continual = yes ] && args+=(--continual)
                    echo "==> $name" >&2
                    "$bin" organize "${args[@]}" >/dev/null
                done
            done
        done
    done
done
