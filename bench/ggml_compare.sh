#!/usr/bin/env bash
# Our ternary GEMV/GEMM against ggml's TQ2_0 and TQ1_0 kernels (issue 16), same machine, same
# process: bench/ggml_compare.c links ggml's CPU backend and our C kernels and alternates them
# pass by pass over the same shapes, tokens, threads and cache level.
#
#   bench/ggml_compare.sh fetch            # llama-cpp-python's sdist from PyPI (ggml inside), unpacked
#   bench/ggml_compare.sh build            # ggml's CPU backend twice (avx2-only, native) + the harness
#   /tmp/quiet.sh bench/ggml_compare.sh run avx2|native [harness options]   # the measurement
#
# Nothing fetched or built here is committed: everything goes to $GGMLCMP_WORK (default
# /tmp/ggmlcmp). Builds run at nice 10 with -j2; run them outside /tmp/quiet.sh.
# Harness options: --shapes 2560x2560,... --tokens 1,8 --threads 1,2 --levels warm,dram
# --types tq2_0,tq1_0 --passes P --calls C (see bench/ggml_compare.c).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=${GGMLCMP_WORK:-/tmp/ggmlcmp}
version=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
src="$work/llama_cpp_python-$version/vendor/llama.cpp/ggml"
die() { echo "ggml_compare: $*" >&2; exit 1; }

venv() {
    [ -x "$work/venv/bin/cmake" ] && [ -x "$work/venv/bin/ninja" ] && return
    python3 -m venv "$work/venv"
    "$work/venv/bin/pip" install -q cmake ninja scikit-build-core
}

fetch() {
    mkdir -p "$work/dl"
    venv
    local tgz="$work/dl/llama_cpp_python-$version.tar.gz"
    if [ ! -f "$tgz" ]; then
        # --no-build-isolation: pip prepares the sdist's metadata with the venv's scikit-build-core
        # instead of building cmake from source in an isolated environment.
        "$work/venv/bin/pip" download -q --no-deps --no-binary :all: --no-build-isolation \
            "llama-cpp-python==$version" -d "$work/dl"
    fi
    [ -d "$src" ] || tar -xzf "$tgz" -C "$work"
    [ -f "$src/include/ggml-cpu.h" ] || die "no ggml in $tgz"
    echo "ggml: $src"
}

build_one() { # name, cmake flags...
    local name=$1; shift
    local b="$work/build-$name"   # configured from llama.cpp's top level (the sdist's ggml/ lacks ggml.pc.in)
    PATH="$work/venv/bin:$PATH" nice -n 10 cmake -S "$src/.." -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ -DBUILD_SHARED_LIBS=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF \
        -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF -DGGML_OPENMP=OFF -DGGML_LLAMAFILE=OFF \
        "$@" >"$b.cmake.log" 2>&1 || { tail -20 "$b.cmake.log"; die "cmake ($name) failed"; }
    PATH="$work/venv/bin:$PATH" nice -n 10 cmake --build "$b" -j 2 --target ggml-cpu ggml-base \
        >"$b.build.log" 2>&1 || { tail -20 "$b.build.log"; die "build ($name) failed"; }
    local libs
    libs=$(find "$b" -name 'libggml-cpu.a' -o -name 'libggml-base.a' | sort -r | tr '\n' ' ')
    nice -n 10 clang -O3 -std=gnu11 -fopenmp=libomp -DNDEBUG -Iinclude -I"$src/include" \
        bench/ggml_compare.c "$work/ours/libbitkernels.a" $libs -o "$work/ggml_compare-$name" \
        $(pkg-config --libs hwloc) -L/usr/lib/llvm-14/lib -Wl,-rpath,/usr/lib/llvm-14/lib \
        -lstdc++ -lpthread -lm
    echo "built $work/ggml_compare-$name"
}

ours() { # our kernels from this tree, compiled as scripts/run.sh and the Swift package do (clang, libomp)
    rm -rf "$work/ours"; mkdir -p "$work/ours"
    local f
    for f in CKernels/*.c; do
        nice -n 10 clang -c -O3 -std=gnu11 -fopenmp=libomp -DNDEBUG -Iinclude -ICKernels \
            $(pkg-config --cflags hwloc) "$f" -o "$work/ours/$(basename "$f" .c).o" &
        [ "$(jobs -r | wc -l)" -ge 2 ] && wait -n
    done
    wait
    ar rcs "$work/ours/libbitkernels.a" "$work"/ours/*.o
}

case "${1:-}" in
fetch) fetch ;;
build)
    [ -d "$src" ] || fetch
    venv
    what=${2:-avx2,native}
    ours
    [[ ,$what, == *,avx2,* ]] && build_one avx2 -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON \
        -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AVX_VNNI=OFF
    [[ ,$what, == *,native,* ]] && build_one native -DGGML_NATIVE=ON
    true ;;
run)
    shift
    which=${1:-}; shift || true
    case "$which" in avx2|native) ;; *) die "run avx2|native [options]" ;; esac
    exe="$work/ggml_compare-$which"
    [ -x "$exe" ] || die "$exe missing: bench/ggml_compare.sh build first"
    echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(nproc) vCPUs;" \
        "commit $(git rev-parse --short HEAD); llama-cpp-python $version (ggml $which build); $(date -u +%FT%TZ)"
    exec "$exe" --ggml-build "$which" "$@" ;;
*) die "usage: $0 fetch | build [avx2,native] | run avx2|native [options]" ;;
esac
