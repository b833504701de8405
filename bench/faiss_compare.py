"""Compare FAISS IndexBinaryFlat (k=1) with `bitkernels search-bench` on identical data.

Each case draws random rows and 1,000 random queries, writes them as raw packed codes (the
FAISS binary layout, which search-bench reads directly), then times both libraries in the
same run, with the same thread count, repeats, single-query count and batch size:

  * single query: one query searched at a time (latency), and
  * batch: B queries in one call (throughput, many-vs-many).

FAISS's Hamming distances of the winners must equal bitkernels' for every query, or the
script prints MISMATCH and exits 1. Winners may differ only between rows at equal distance.

Usage:
    pip install faiss-cpu
    swift build -c release --product bitkernels
    python3 bench/faiss_compare.py [--quick] [--threads N] [--isa avx2|avx512|scalar]
                                   [--faiss-level AVX2|AVX512|AVX512_VPOPCNT] [--json FILE]

Exit codes: 0 ok, 1 mismatch or bitkernels failure, 2 FAISS or the bitkernels binary missing.
"""

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
FULL_CASES = [(784, 50), (784, 1_000), (784, 100_000), (784, 1_000_000), (1024, 100_000), (4096, 100_000)]
QUICK_CASES = [(784, 50), (784, 100_000), (4096, 100_000)]
# Like bitkernels' Timing.swift: a sample repeats the call until it lasts this long, so that
# microsecond calls are not lost in timer resolution and both sides are timed the same way.
MIN_SAMPLE_SECONDS = 0.02


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small cases and fewer repeats (~30 s)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, help="samples per timing, median reported (default 7, quick 3)")
    p.add_argument("--single", type=int, help="queries timed one at a time (default 100, quick 20)")
    p.add_argument("--batch", type=int, help="queries in the batch (default 1000, quick 200)")
    p.add_argument("--queries", type=int, default=1000, help="random queries per case (all cross-checked)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--isa", help="passed to bitkernels --isa (default: its best for this CPU)")
    p.add_argument("--faiss-level", help="FAISS SIMD level, e.g. AVX2 or AVX512_VPOPCNT (default: its best);"
                   " needs a FAISS built with dynamic dispatch (faiss-cpu 1.15 wheels are)")
    p.add_argument("--bitkernels", help="path of the bitkernels binary (default: the release build)")
    p.add_argument("--json", help="save every figure here")
    a = p.parse_args()
    a.repeats = a.repeats or (3 if a.quick else 7)
    a.single = min(a.single or (20 if a.quick else 100), a.queries)
    a.batch = min(a.batch or (200 if a.quick else 1000), a.queries)
    return a


def find_bitkernels(explicit):
    if explicit:
        path = Path(explicit)
    else:
        try:
            bin_dir = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=REPO,
                                     capture_output=True, text=True, check=True, timeout=120).stdout.strip()
            path = Path(bin_dir) / "bitkernels"
        except (OSError, subprocess.SubprocessError):
            path = REPO / ".build" / "release" / "bitkernels"  # no usable swift: the usual place
    if not path.is_file():
        print(f"bitkernels not found at {path}; build it with\n"
              f"    cd {shlex.quote(str(REPO))} && swift build -c release --product bitkernels\n"
              "or pass --bitkernels PATH.", file=sys.stderr)
        sys.exit(2)
    return path


def median_seconds(call, repeats):
    """Median seconds per call() over `repeats` samples, after a warm-up call."""
    call()
    inner, elapsed = 1, 0.0
    while True:
        t0 = time.perf_counter()
        for _ in range(inner):
            call()
        elapsed = time.perf_counter() - t0
        if elapsed >= MIN_SAMPLE_SECONDS:
            break
        inner = max(inner * 2, int(inner * MIN_SAMPLE_SECONDS / max(elapsed, 1e-9) * 1.2))
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            call()
        samples.append((time.perf_counter() - t0) / inner)
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}


def run_faiss(faiss, rows, queries, width, args):
    index = faiss.IndexBinaryFlat(width)
    index.add(rows)
    # Pre-sliced so that the loop times the search calls (with their Python overhead, which a
    # Python user pays too) and not numpy slicing.
    singles = [queries[i:i + 1] for i in range(args.single)]

    def one_at_a_time():
        for q in singles:
            index.search(q, 1)

    single = median_seconds(one_at_a_time, args.repeats)
    single = {k: v / args.single for k, v in single.items()}
    batch = median_seconds(lambda: index.search(queries[:args.batch], 1), args.repeats)
    distances, winners = index.search(queries, 1)
    return {"singleQuerySeconds": single, "batchSeconds": batch,
            "winners": winners[:, 0].tolist(), "distances": distances[:, 0].tolist()}


def run_bitkernels(binary, rows_file, queries_file, out_file, width, args):
    cmd = [str(binary), "search-bench", "--rows", rows_file, "--queries", queries_file,
           "--width", str(width), "--score", "differing", "--threads", str(args.threads),
           "--repeats", str(args.repeats), "--single", str(args.single), "--batch", str(args.batch),
           "--json", out_file] + (["--isa", args.isa] if args.isa else [])
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"bitkernels failed ({done.returncode}): {shlex.join(cmd)}\n{done.stderr}", file=sys.stderr)
        sys.exit(1)
    with open(out_file) as f:
        return json.load(f), cmd


def cross_check(case, rows, queries, fa, bk):
    """FAISS and bitkernels must agree on every winner's distance; winners only up to ties."""
    fd, bd = np.array(fa["distances"]), np.array(bk["distances"])
    bad = np.flatnonzero(fd != bd)
    if bad.size:
        q = bad[0]
        return f"{case}: {bad.size} queries differ in distance, first query {q}: FAISS {fd[q]}, bitkernels {bd[q]}"
    fw, bw = np.array(fa["winners"]), np.array(bk["winners"])
    for q in np.flatnonzero(fw != bw):
        actual = int(np.bitwise_count(rows[bw[q]] ^ queries[q]).sum())
        if actual != fd[q]:
            return (f"{case}: query {q}: bitkernels row {bw[q]} is at distance {actual}, "
                    f"not the reported {bd[q]} (FAISS row {fw[q]}, distance {fd[q]})")
    return None


def us(seconds):
    """Microseconds with at least three significant digits, for µs and ns columns alike."""
    x = seconds * 1e6
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}" if x >= 1 else f"{x:.3f}"


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown"


def main():
    args = parse_args()
    try:
        import faiss
    except ImportError:
        print("pip install faiss-cpu", file=sys.stderr)
        sys.exit(2)
    binary = find_bitkernels(args.bitkernels)
    faiss.omp_set_num_threads(args.threads)
    if args.faiss_level:
        # Compare like with like: e.g. both libraries at AVX2 on a CPU that also has AVX-512.
        level = getattr(faiss, "SIMDLevel_" + args.faiss_level.upper(), None)
        if level is None or not hasattr(faiss, "SIMDConfig"):
            sys.exit(f"this FAISS cannot be set to SIMD level {args.faiss_level}")
        faiss.SIMDConfig.set_level(level)
    simd = faiss.SIMDConfig.get_level_name() if hasattr(faiss, "SIMDConfig") else "?"
    options = faiss.get_compile_options() if hasattr(faiss, "get_compile_options") else "?"
    rng = np.random.default_rng(args.seed)
    results, first_cmd = [], None

    with tempfile.TemporaryDirectory(prefix="faiss_compare_") as tmp:
        for width, n in QUICK_CASES if args.quick else FULL_CASES:
            assert width % 8 == 0, "FAISS binary indexes need widths that are multiples of 8"
            case = f"{width} × {n:,}"
            print(f"running {case} ...", file=sys.stderr, flush=True)
            rows = rng.integers(0, 256, size=(n, width // 8), dtype=np.uint8)
            queries = rng.integers(0, 256, size=(args.queries, width // 8), dtype=np.uint8)
            paths = [os.path.join(tmp, name) for name in ("rows.bin", "queries.bin", "out.json")]
            rows.tofile(paths[0])
            queries.tofile(paths[1])
            bk, cmd = run_bitkernels(binary, *paths, width, args)
            first_cmd = first_cmd or cmd
            fa = run_faiss(faiss, rows, queries, width, args)
            problem = cross_check(case, rows, queries, fa, bk)
            if problem:
                print(f"MISMATCH {problem}")
                sys.exit(1)
            results.append({"width": width, "rows": n, "bitkernelsIsa": bk["isa"],
                            "faiss": {k: fa[k] for k in ("singleQuerySeconds", "batchSeconds")},
                            "bitkernels": {k: bk[k] for k in ("singleQuerySeconds", "batchSeconds")}})

    isas = sorted({r["bitkernelsIsa"] for r in results})
    print(f"command:     {shlex.join([sys.executable] + sys.argv)}")
    print(f"bitkernels:  {binary}, ISA {', '.join(isas)}; e.g. {shlex.join(first_cmd)}")
    print(f"FAISS:       {faiss.__version__}, SIMD level {simd}, compile options: {options}")
    print(f"CPU:         {cpu_name()}; threads {args.threads}, repeats {args.repeats}, "
          f"single {args.single}, batch {args.batch}, queries {args.queries}, seed {args.seed}")
    print(f"all {args.queries} queries per case: FAISS and bitkernels winner distances agree\n")
    print(f"{'':>17} | {'single query, µs':^26} | {'ns per row':^15} | {'batch, µs per query':^26} | {'ns per pair':^15}")
    print(f"{'width × rows':>17} | {'FAISS':>8} {'bitk':>8} {'ratio':>8} | {'FAISS':>7} {'bitk':>7} "
          f"| {'FAISS':>8} {'bitk':>8} {'ratio':>8} | {'FAISS':>7} {'bitk':>7}")
    for r in results:
        fs, bs = r["faiss"]["singleQuerySeconds"]["median"], r["bitkernels"]["singleQuerySeconds"]["median"]
        fb, bb = (r[side]["batchSeconds"]["median"] / args.batch for side in ("faiss", "bitkernels"))
        r["ratios"] = {"single": fs / bs, "batch": fb / bb}
        n = r["rows"]
        print(f"{r['width']:>5} × {n:>9,} | {us(fs):>8} {us(bs):>8} {fs / bs:>7.2f}× "
              f"| {us(fs * 1e3 / n):>7} {us(bs * 1e3 / n):>7} "
              f"| {us(fb):>8} {us(bb):>8} {fb / bb:>7.2f}× | {us(fb * 1e3 / n):>7} {us(bb * 1e3 / n):>7}")
    print("\nratio = FAISS time / bitkernels time (above 1: bitkernels is faster); FAISS times include "
          "its Python call overhead.")

    if args.json:
        meta = {"command": [sys.executable] + sys.argv, "bitkernels": str(binary), "bitkernelsCommand": first_cmd,
                "faissVersion": faiss.__version__, "faissSimdLevel": simd, "faissCompileOptions": options,
                "cpu": cpu_name(), "threads": args.threads, "repeats": args.repeats, "single": args.single,
                "batch": args.batch, "queries": args.queries, "seed": args.seed}
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "cases": results}, f, indent=2)


if __name__ == "__main__":
    main()
