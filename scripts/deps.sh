#!/usr/bin/env bash
# Makes sure the C libraries BitKernels links are installed: libomp-dev (LLVM's OpenMP runtime),
# libhwloc-dev (topology and thread binding), zlib1g-dev (reading .gz datasets), libfftw3-dev (audio features),
# libopenblas-dev (float GEMM for training) and hwloc's tools (hwloc-distrib, which the placement tests compare plans with). With --test, also what
# scripts/neon_check.sh needs to run the NEON kernels: the aarch64 cross compiler and C library,
# and qemu-user; and what scripts/serve_check.py drives the server with: curl, python3 and its
# `openai` package. Installs them with apt-get (and pip) when run as root; otherwise prints the
# exact command and fails.
set -euo pipefail

test_tools=false
[ "${1:-}" = "--test" ] && test_tools=true
packages=(libomp-dev libhwloc-dev hwloc zlib1g-dev libfftw3-dev libopenblas-dev pkg-config)
$test_tools && packages+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user curl libopenmpi-dev openmpi-bin)
missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
$test_tools && ! command -v python3 >/dev/null 2>&1 && missing+=(python3 python3-pip)

# The official OpenAI client (pip: Debian packages no `openai`).
install_openai() {
    $test_tools || return 0
    python3 -c 'import openai' 2>/dev/null && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "the serving test needs the openai package: python3 -m pip install openai" >&2
        exit 1
    fi
    echo "==> installing the python openai package" >&2
    python3 -m pip --version >/dev/null 2>&1 || apt-get install -y -qq python3-pip >&2
    python3 -m pip install -q openai >&2 || python3 -m pip install -q --break-system-packages openai >&2
}
if [ ${#missing[@]} -eq 0 ]; then
    install_openai
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "BitKernels needs ${missing[*]} (OpenMP runtime and hwloc); install them with your package manager." >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "BitKernels needs: ${missing[*]}. Install them with:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
fi
echo "==> installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq "${missing[@]}" >&2
install_openai
