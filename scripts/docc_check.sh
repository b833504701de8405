#!/usr/bin/env bash
# Builds the DocC documentation of every library module (swift-docc-plugin) and fails on any
# warning from our sources or catalogs: a broken symbol link, an ambiguous one, a parameter left
# undocumented in a `- Parameters:` list. SwiftPM's notes about third-party manifests (e.g.
# swift-distributed-tracing's unhandled file, which every `swift build` prints) are not ours and
# are left out. Part of the test command. Prints 'docc: N modules, 0 warnings'.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(BitKernels BitNet BitNeurons BitTraining BitServer)
failed=0
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
for target in "${targets[@]}"; do
    log="$logs/$target.log"
    if ! swift package generate-documentation --target "$target" >"$log" 2>&1; then
        tail -40 "$log"
        echo "docc: $target failed to build"
        failed=1
    fi
    warnings="$(grep -i 'warning' "$log" | grep -v "found [0-9]* file(s) which are unhandled" || true)"
    if [ -n "$warnings" ]; then
        grep -i -A8 'warning' "$log" | grep -v "found [0-9]* file(s) which are unhandled" | head -80
        echo "docc: $target has $(printf '%s\n' "$warnings" | wc -l) warning(s)"
        failed=1
    fi
done
[ "$failed" -eq 0 ] && echo "docc: ${#targets[@]} modules, 0 warnings"
exit "$failed"
