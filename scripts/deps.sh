#!/usr/bin/env bash
# Makes sure the C libraries BitKernels links are installed: libomp-dev (LLVM's OpenMP runtime),
# libhwloc-dev (topology and thread binding), zlib1g-dev (reading .gz datasets) and hwloc's tools
# (hwloc-distrib, which the placement tests compare plans with). With --test, also what
# scripts/neon_check.sh needs to run the NEON kernels: the aarch64 cross compiler and C library,
# and qemu-user. Installs them with apt-get when run as root; otherwise prints the exact command
# and fails.
set -euo pipefail

packages=(libomp-dev libhwloc-dev hwloc zlib1g-dev pkg-config)
[ "${1:-}" = "--test" ] && packages+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

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
