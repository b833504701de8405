#!/usr/bin/env bash
# Installs the C library into a temporary prefix, builds Examples/c/ternary_gemv.c against it with
# the link line pkg-config gives, and runs it (part of the test command).
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="$(mktemp -d)"
trap 'rm -rf "$prefix"' EXIT
scripts/install.sh "$prefix" >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
"${CC:-clang}" -O2 Examples/c/ternary_gemv.c $(pkg-config --cflags --libs bitkernels) -o "$prefix/ternary_gemv"
if "$prefix/ternary_gemv"; then
    echo "c library: 1 passed, 0 failed"
else
    echo "c library: 0 passed, 1 failed"
    exit 1
fi
