#!/usr/bin/env bash
# The distributed benchmarks of RESULTS.md, one run: sharded search on 10^6 x 1024-bit rows at 1 and
# 2 ranks (one thread each) beside the single-process search-bench at 1 and 2 threads, and training
# tokens/s at 1 rank x 1 thread, 1 rank x 2 threads and 2 ranks x 1 thread with the same global
# batch. Usage: bench/mpi_bench.sh BITKERNELS_BINARY OUT_DIR (rows: seeded random bytes, written once).
set -euo pipefail
bin=$1 out=$2
mkdir -p "$out"
if [ ! -f "$out/rows.bin" ]; then
    python3 -c "
import random, sys
r = random.Random(19)
open(sys.argv[1] + '/rows.bin', 'wb').write(r.randbytes(1000000 * 128))
open(sys.argv[1] + '/queries.bin', 'wb').write(r.randbytes(1000 * 128))" "$out"
fi
export OMPI_MCA_btl_vader_single_copy_mechanism=none
mpi="mpirun --allow-run-as-root --bind-to none"
search="search-bench --rows $out/rows.bin --queries $out/queries.bin --width 1024 --single 100 --batch 1000 --repeats 7"
echo "== search, one process, 1 and 2 threads"
"$bin" $search --threads 1 --json "$out/search-1t.json"
"$bin" $search --threads 2 --json "$out/search-2t.json"
for ranks in 1 2; do
    echo "== search, $ranks rank(s) x 1 thread"
    $mpi -np $ranks "$bin" $search --threads 1 --json "$out/search-${ranks}r.json"
done
data=${DATA:-/work/shared/data/tinyshakespeare/input.txt}
train="train --data $data --layers 4 --width 128 --heads 4 --context 64 --steps 40 --warmup 5 --eval-every 40 --eval-batches 2 --export none"
for repeat in 1 2 3; do
    echo "== train repeat $repeat: 1 rank x 1 thread (batch 12), 1 rank x 2 threads (batch 12), 2 ranks x 1 thread (batch 6 each)"
    "$bin" $train --batch 12 --threads 1 --out "$out/t1" 2>/dev/null | tail -1
    "$bin" $train --batch 12 --threads 2 --out "$out/t1x2" 2>/dev/null | tail -1
    $mpi -np 2 "$bin" $train --batch 6 --threads 1 --out "$out/t2" 2>/dev/null | tail -1
done
