#!/usr/bin/env bash
# Builds the libFuzzer targets (Tests/Fuzz/, one per file reader) with -sanitize=fuzzer,address and runs
# each for SECONDS (default 60), seeded from the test fixtures. Findings (crash-*, timeout-*,
# oom-*) land in .build-fuzz/findings/<target>/; the corpus grows in .build-fuzz/corpus/<target>/.
#   scripts/fuzz.sh [seconds] [target ...]      e.g. scripts/fuzz.sh 600 FuzzGGUF
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(FuzzGGUF FuzzSafetensors FuzzIDX FuzzPopulation FuzzCheckpoint FuzzTokenizerJSON FuzzTiktoken)
out=.build-fuzz
export BITKERNELS_FUZZ=1
for t in "${targets[@]}"; do
    # SwiftPM 6.3 reuses a stale build description between --product builds ("unknown build
    # description"): drop it so each product is planned afresh (the objects stay cached).
    rm -f "$out/build/release.yaml" "$out/build/release/description.json"
    swift build -c release --build-path "$out/build" --product "$t" \
        -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address >&2
done
bin=$out/build/release

seed() {  # seed <target> <files...>: copy fixtures into the corpus (once)
    local dir=$out/corpus/$1; shift
    mkdir -p "$dir"
    for f in "$@"; do cp -n "$f" "$dir/" 2>/dev/null || true; done
}
fx=Tests/BitNetTests/Fixtures
nx=Tests/BitNeuronsTests/Fixtures/mnist
for t in "${targets[@]}"; do
    case $t in
        FuzzGGUF)
            seed $t $fx/bitnet-tiny/model.gguf $fx/bitnet-tiny-i2s.gguf
            head -c 8192 $fx/bitnet-tiny-i2s.gguf > $out/corpus/$t/i2s-head.gguf ;;  # the metadata alone
        FuzzSafetensors)
            seed $t $fx/bitnet-tiny/model.safetensors
            head -c 8192 $fx/bitnet-tiny/model.safetensors > $out/corpus/$t/head.safetensors ;;
        FuzzIDX)
            seed $t $nx/t10k-labels-idx1-ubyte.gz $nx/t10k-images-idx3-ubyte.gz
            gzip -dc $nx/t10k-labels-idx1-ubyte.gz > $out/corpus/$t/labels.raw
            (gzip -dc $nx/t10k-images-idx3-ubyte.gz | head -c 8000 > $out/corpus/$t/images-cut.raw) || true ;;
        FuzzPopulation|FuzzCheckpoint)
            mkdir -p $out/corpus/$t
            BK_FUZZ_WRITE_SEEDS=$out/corpus/$t "$bin/$t" ;;
        FuzzTokenizerJSON) seed $t $fx/tokenizer/tokenizer.json ;;
        FuzzTiktoken) seed $t $fx/tokenizer/cl100k_subset.tiktoken ;;
    esac
done

status=0
for t in "${targets[@]}"; do
    mkdir -p "$out/findings/$t"
    echo "== $t: ${seconds}s" >&2
    # -rss_limit_mb: the readers must refuse what does not fit, not allocate it.
    if ! "$bin/$t" "$out/corpus/$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -max_len=3000000 \
        -artifact_prefix="$out/findings/$t/" -print_final_stats=1 2> "$out/findings/$t/log.txt"; then
        status=1
        echo "$t: FINDING (see $out/findings/$t/)" >&2
    fi
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb|Done [0-9]+ runs" "$out/findings/$t/log.txt" >&2 || true
done
exit $status
