#!/usr/bin/env bash
# The bit-neuron runs behind the tables in bench/RESULTS.md (issue 5): every dataset × encoding ×
# population size × seed, the controls and the continual-learning runs, one JSON report each.
# Usage: bench/organize_sweep.sh [DATA_DIR] [OUT_DIR]; then python3 bench/organize_summary.py OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-../shared/data}
O=${2:-bench/out/organize}
B=.build/release/bitkernels
swift build -c release --product bitkernels >/dev/null
mkdir -p "$O"
run() { local name=$1; shift; echo "organize $name" >&2; $B organize "$@" --json "$O/$name.json" >/dev/null; }
for ds in mnist fashion-mnist; do
  other=fashion-mnist; [ $ds = fashion-mnist ] && other=mnist
  for seed in 1 2 3; do
    for n in 10 20 50 100 400; do
      run $ds-rank-n$n-s$seed --data $D/$ds --neurons $n --seed $seed --other $D/$other
      run $ds-threshold-n$n-s$seed --data $D/$ds --encoding threshold --neurons $n --seed $seed --other $D/$other
      run $ds-spread-n$n-s$seed --data $D/$ds --start spread --neurons $n --seed $seed --other $D/$other
      run $ds-settle150-n$n-s$seed --data $D/$ds --settle-after 150 --neurons $n --seed $seed --other $D/$other
      run $ds-spreadsettle-n$n-s$seed --data $D/$ds --start spread --settle-after 300 --neurons $n --seed $seed --other $D/$other
    done
    run $ds-basic-dense-n10-s$seed --data $D/$ds --score basic --start dense --neurons 10 --seed $seed
    run $ds-basic-inputs-n10-s$seed --data $D/$ds --score basic --neurons 10 --seed $seed
    run $ds-jaccard-dense-n10-s$seed --data $D/$ds --start dense --neurons 10 --seed $seed
    run $ds-unbounded-n10-s$seed --data $D/$ds --unbounded --neurons 10 --seed $seed
    run $ds-unbounded-n50-s$seed --data $D/$ds --unbounded --neurons 50 --seed $seed
    run $ds-continual-n100-s$seed --data $D/$ds --continual --neurons 100 --seed $seed
    run $ds-continual-n5-s$seed --data $D/$ds --continual --neurons 5 --seed $seed
    run $ds-continual-n5-settle-s$seed --data $D/$ds --continual --neurons 5 --settle-after 200 --seed $seed
    run $ds-continual-n100-settle-s$seed --data $D/$ds --continual --neurons 100 --settle-after 50 --seed $seed
    run $ds-continual-grow-s$seed --data $D/$ds --continual --grow --grow-below 0.3 --capacity 400 --seed $seed
    run $ds-continual-grow04-settle-s$seed --data $D/$ds --continual --grow --grow-below 0.4 --capacity 1000 --settle-after 20 --seed $seed
  done
done
python3 bench/organize_summary.py "$O"
