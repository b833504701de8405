#!/usr/bin/env bash
# Q1 of the bit-neuron study: which rank-encoding tie rule carries over between datasets.
#   bench/experiments/bitneurons/tie_rules.sh [OUT_DIR]   (default bench/experiments/bitneurons/runs/q1)
# MNIST and Fashion-MNIST, as published and as three sparse variants (thinned strokes, edges only,
# half the ink dropped), rank k = 118 with each tie rule (index, blur, distance, ink), N = 10 and
# 100, seeds 1-5. One JSON per run; skips runs whose JSON exists; summarize with summarize.py.
set -euo pipefail
cd "$(dirname "$0")/../../.."
out="${1:-bench/experiments/bitneurons/runs/q1}"
data="${BK_DATA:-../shared/data}"
mkdir -p "$out"
swift build -c release --product bitkernels >/dev/null
bin="${BK_BIN:-$(swift build -c release --show-bin-path)/bitkernels}"
for set in mnist fashion-mnist; do
    for variant in none thinned edges dropout; do
        for ties in index blur distance ink; do
            for n in 10 100; do
                for seed in 1 2 3 4 5; do
                    name="$set-$variant-$ties-n$n-s$seed"
                    [ -s "$out/$name.json" ] && continue
                    args=(--data "$data/$set" --neurons "$n" --ties "$ties" --seed "$seed" --json "$out/$name.json")
                    [ $variant != none ] && args+=(--variant "$variant")
                    echo "==> $name" >&2
                    "$bin" organize "${args[@]}" >/dev/null
                done
            done
        done
    done
done
