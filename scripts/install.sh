#!/usr/bin/env bash
# Builds the C kernels as a shared library and installs it with its headers and a pkg-config file:
#   scripts/install.sh PREFIX        (default /usr/local)
# Afterwards a C program builds with
#   cc prog.c $(PKG_CONFIG_PATH=PREFIX/lib/pkgconfig pkg-config --cflags --libs bitkernels)
# The kernels need clang (their per-ISA regions use `#pragma clang attribute`); Swift's toolchain
# ships one. OpenMP is compiled in with -fopenmp and linked against Debian's runtime (libomp5) by
# name, since `-fopenmp` at link time looks for a libomp.so that Debian does not install.
# -ffp-contract=off: the training kernels promise the scalar reading's bits (no fused multiply-adds).
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${1:-/usr/local}"
version="$(sed -n 's/.*bitKernelsVersion = "\(.*\)".*/\1/p' Sources/BitKernels/Version.swift)"
[ -n "$version" ] || { echo "install.sh: cannot read the version from Sources/BitKernels/Version.swift" >&2; exit 1; }
cc="${CC:-clang}"
command -v "$cc" >/dev/null || { echo "install.sh: needs clang (set CC); Swift's toolchain has one" >&2; exit 1; }
scripts/deps.sh

build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
objects=()
for src in CKernels/*.c; do
    obj="$build/$(basename "$src" .c).o"
    "$cc" -c -O3 -std=gnu11 -ffp-contract=off -fopenmp -fPIC -DNDEBUG -fvisibility=default -Iinclude \
        $(pkg-config --cflags hwloc) "$src" -o "$obj"
    objects+=("$obj")
done
soname="libbitkernels.so.${version%%.*}"
"$cc" -shared -Wl,-soname,"$soname" -o "$build/libbitkernels.so.$version" "${objects[@]}" \
    $(pkg-config --libs hwloc) -l:libomp.so.5

install -d "$prefix/lib/pkgconfig" "$prefix/include/bitkernels"
install -m 0644 include/bitkernels.h "$prefix/include/"
install -m 0644 include/bitkernels/*.h "$prefix/include/bitkernels/"
install -m 0644 "$build/libbitkernels.so.$version" "$prefix/lib/"
ln -sf "libbitkernels.so.$version" "$prefix/lib/$soname"
ln -sf "$soname" "$prefix/lib/libbitkernels.so"
cat > "$prefix/lib/pkgconfig/bitkernels.pc" <<PC
prefix=$prefix
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: bitkernels
Description: Hand-tuned C kernels for 1-bit and ternary neural networks (popcount scoring, ternary/binary GEMV)
Version: $version
Requires.private: hwloc
Cflags: -I\${includedir}
Libs: -L\${libdir} -Wl,-rpath,\${libdir} -lbitkernels
PC
echo "installed libbitkernels $version into $prefix (pkg-config: $prefix/lib/pkgconfig)" >&2
