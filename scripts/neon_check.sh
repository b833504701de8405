#!/usr/bin/env bash
# Runs the NEON kernels: cross-compiles the C kernels and Tests/neon/neon_check.c for aarch64 and
# runs the checks under qemu-aarch64, once with dotprod (-cpu max) and once without
# (-cpu cortex-a57), so both NEON ternary paths run. Built twice: by Debian's gcc-aarch64-linux-gnu
# with its own OpenMP (libgomp, cross-installed with the compiler), so the threaded wrappers run
# on two threads; and by clang, the compiler SwiftPM uses, serially. hwloc has no arm64 build
# here: placement.c is left out (the driver calls nothing from it). About 50 s.
# Usage: scripts/neon_check.sh [--native]   (--native: the same driver on this CPU's tables)
set -euo pipefail
cd "$(dirname "$0")/.."

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
sources=$(ls CKernels/*.c | grep -v placement.c)
flags=(-O2 -std=gnu11 -ffp-contract=off -Iinclude -ICKernels)

if [ "${1:-}" = "--native" ]; then # clang: the x86 target regions are clang pragmas; Debian's libomp
    for f in $sources Tests/neon/neon_check.c; do clang "${flags[@]}" -fopenmp -c "$f" -o "$out/$(basename "$f" .c).o"; done
    clang "$out"/*.o -l:libomp.so.5 -lm -o "$out/check"
    "$out/check"
    exit
fi

for tool in aarch64-linux-gnu-gcc qemu-aarch64; do
    command -v "$tool" >/dev/null || { echo "neon_check: $tool missing (scripts/deps.sh installs it)" >&2; exit 1; }
done
run() { # run BINARY LABEL: with dotprod, then without
    for cpu in max cortex-a57; do
        echo "==> $2, qemu-aarch64 -cpu $cpu"
        OMP_NUM_THREADS=2 qemu-aarch64 -cpu "$cpu" -L /usr/aarch64-linux-gnu "$1"
    done
}
# Base ARMv8-A: dotprod only inside its BK_TARGET_DOTPROD function, so the build runs on cores without it.
aarch64-linux-gnu-gcc "${flags[@]}" -fopenmp -march=armv8-a $sources Tests/neon/neon_check.c -lm -o "$out/gcc"
run "$out/gcc" "gcc, libgomp"
# Again with clang, the compiler SwiftPM builds the kernels with (the Swift toolchain's), linked by
# the cross gcc; serial, as there is no arm64 libomp (bk_omp.h stands in without -fopenmp).
if command -v clang >/dev/null; then
    mkdir "$out/clang"
    for f in $sources Tests/neon/neon_check.c; do
        clang --target=aarch64-linux-gnu -isystem /usr/aarch64-linux-gnu/include "${flags[@]}" \
            -march=armv8-a -c "$f" -o "$out/clang/$(basename "$f" .c).o"
    done
    aarch64-linux-gnu-gcc "$out"/clang/*.o -lm -o "$out/clang/check"
    run "$out/clang/check" "clang, serial"
fi
