#!/bin/sh
# Builds sweep.c against the kernels of this tree and runs the sweep of REPORT.md.
# Usage: bench/experiments/decode-prefetch/run.sh [THREADS]   (from the repository root)
set -e
out=${TMPDIR:-/tmp}/bk-decode-sweep
clang -O3 -std=gnu11 -fopenmp -DNDEBUG -Iinclude -ICKernels $(pkg-config --cflags hwloc) \
    CKernels/*.c bench/experiments/decode-prefetch/sweep.c -o "$out" \
    $(pkg-config --libs hwloc) -L/usr/lib/llvm-14/lib -fopenmp=libomp -Wl,-rpath,/usr/lib/llvm-14/lib -lm
for t in ${1:-1}; do
    for s in "2560 2560" "6912 2560" "2560 6912" "4096 4096"; do
        "$out" $s "$t" 0 avx512 5 -1 0 2048 4096 8192
    done
done
