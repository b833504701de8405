#!/usr/bin/env bash
# Makes sure the C libraries BitKernels links are installed: libomp-dev (LLVM's OpenMP runtime)
# libhwloc-dev (topology and thread binding) and zlib1g-dev (reading .gz datasets); with --serve-test
# also what scripts/serve_check.py drives the server with: curl, python3 and its `openai` package.
# Installs them with apt-get (and pip) when run as root; otherwise prints the exact command and fails.
set -euo pipefail

serve_test=false
[ "${1:-}" = "--serve-test" ] && serve_test=true
missing=()
packages=(libomp-dev libhwloc-dev zlib1g-dev pkg-config)
$serve_test && packages+=(curl)
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
$serve_test && ! command -v python3 >/dev/null 2>&1 && missing+=(python3 python3-pip)

# The official OpenAI client (pip: Debian packages no `openai`).
install_openai() {
    $serve_test || return 0
    python3 -c 'import openai' 2>/dev/null && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "the serving test needs the openai package: python3 -m pip install openai" >&2
        exit 1
    fi
    echo "==> installing the python openai package" >&2
    python3 -m pip --version >/dev/null 2>&1 || { [ "$(id -u)" -eq 0 ] && apt-get install -y -qq python3-pip >&2; }
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
