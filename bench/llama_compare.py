#!/usr/bin/env python3
"""Side by side with llama.cpp on the same GGUF: prompt (pp64, pp512) and generation (tg128)
tokens/s at 1 and 2 threads, and the logits of both on the same tokens.

llama.cpp comes from `pip install llama-cpp-python`, which compiles it from source; build it with
native CPU flags into a virtual environment first (it takes long on a small machine):

    python3 -m venv /tmp/llama/venv && /tmp/llama/venv/bin/pip install scikit-build-core cmake ninja
    CMAKE_ARGS="-DGGML_NATIVE=ON -DLLAVA_BUILD=OFF" \\
        /tmp/llama/venv/bin/pip install --no-build-isolation llama-cpp-python
    python3 bench/llama_compare.py --llama-python /tmp/llama/venv/bin/python \\
        --bitkernels .build/release/bitkernels --model tiny=/work/shared/fixtures/bitnet-tiny/model.gguf \\
        --model 2b4t=/tmp/bitnet-2b4t.gguf --threads 1,2 --json bench/out/llama_compare.json

Every model (a .gguf, or a directory in the Hugging Face layout such as
bench/make_synthetic_bitnet.py's output) is first written as TQ2_0 GGUF into --work by
`bitkernels export --format tq2_0 --tokenizer bytes`, and both engines read that file. What
llama.cpp expects beyond our own loader: a vocabulary. It rejects every token id of a GGUF without
`tokenizer.ggml.tokens` (the fixture's `tokenizer.ggml.model = "none"`: its vocabulary has 0
tokens), so the export writes the byte-level "gpt2" vocabulary padded to the model's size.

What the two compute differs, and the logits are compared knowing it: llama.cpp's `bitnet`
graph (src/models/bitnet.cpp) uses SiLU in the FFN gate where BitNet b1.58 2B-4T (and our
forward pass, after transformers) uses squared ReLU, and it quantizes TQ2_0 activations per
256-block (Q8_K) where BitLinear quantizes per token. No GGUF metadata selects squared ReLU for
this architecture in llama.cpp, so logits are reported (max |difference|, top-1 agreement) but
not expected to agree; the timing comparison is unaffected (the activation is ~0.1% of a step).

Each measurement runs in its own process, llama.cpp and bitkernels alternating, so neither
warms the other's caches; ratios divide figures of one run of this script.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

# Runs inside the llama-cpp-python environment: times pp and tg, writes the logits of `tokens`.
LLAMA_RUNNER = r'''
import json, sys, time
import numpy as np
from llama_cpp import Llama
a = json.loads(sys.argv[1])
llm = Llama(model_path=a["model"], n_threads=a["threads"], n_threads_batch=a["threads"],
            n_ctx=a["ctx"], n_batch=512, n_ubatch=512, logits_all=True, verbose=False)
vocab = llm.n_vocab()
def prompt(n): return [(i * 7919 + 13) % vocab for i in range(n)]
out = {"vocab": vocab, "pp": {}, "tg": None}
for n in a["pp"]:
    runs = []
    for _ in range(a["repeats"]):
        llm.reset(); t0 = time.perf_counter(); llm.eval(prompt(n)); runs.append(n / (time.perf_counter() - t0))
    out["pp"][str(n)] = sorted(runs)
runs = []
for _ in range(a["repeats"]):
    llm.reset(); llm.eval(prompt(1)); t0 = time.perf_counter()
    for i in range(a["tg"]): llm.eval([(i * 31 + 7) % vocab])
    runs.append(a["tg"] / (time.perf_counter() - t0))
out["tg"] = sorted(runs)
llm.reset(); llm.eval(a["tokens"])
np.asarray(llm.scores[: len(a["tokens"]), :vocab], dtype=np.float32).tofile(a["logits"])
json.dump(out, sys.stdout)
'''


def fail(message, code=65):
    print(f"Error: {message}", file=sys.stderr)
    sys.exit(code)


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        fail(f"{cmd[0]} exited with {p.returncode}: {(p.stderr or p.stdout).strip().splitlines()[-1:]}", 70)
    return p.stdout


def median(v):
    s = sorted(v)
    return s[len(s) // 2]


def read_f32(path):
    with open(path, "rb") as f:
        data = f.read()
    return struct.unpack(f"<{len(data) // 4}f", data)


def bitkernels_side(exe, model, threads, pp_counts, tg, repeats):
    """`bitkernels bench model` (llama-bench's conventions) for every pp size and one tg test."""
    rows = json.loads(run([exe, "bench", "model", "-m", model, "-p", ",".join(map(str, pp_counts)),
                           "-n", str(tg), "-t", str(threads), "-r", str(repeats), "-o", "json"]))
    out = {"pp": {}, "tg": None}
    for r in rows:
        if r["test"].startswith("pp"):
            out["pp"][str(r["promptTokens"])] = r["samples"]
        else:
            out["tg"] = r["samples"]
            out["bound"] = r.get("boundTokensPerSecond")
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--llama-python", required=True, help="python of the environment with llama-cpp-python")
    p.add_argument("--bitkernels", default=".build/release/bitkernels")
    p.add_argument("--model", action="append", required=True, help="NAME=PATH (.gguf or model directory)")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--pp", default="64,512")
    p.add_argument("--tg", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--work", default=tempfile.gettempdir(), help="where exported GGUFs and logits go")
    p.add_argument("--json", help="write every figure here")
    a = p.parse_args()
    try:
        threads = [int(t) for t in a.threads.split(",")]
        pp_counts = [int(n) for n in a.pp.split(",")]
    except ValueError:
        fail("--threads and --pp take comma-separated integers", 64)
    if not all(1 <= t <= 1024 for t in threads) or not all(1 <= n <= 4096 for n in pp_counts):
        fail("--threads must be in 1...1024 and --pp in 1...4096", 64)
    if not 1 <= a.tg <= 4096 or not 1 <= a.repeats <= 100:
        fail("--tg must be in 1...4096 and --repeats in 1...100", 64)
    for exe, flag in [(a.llama_python, "--llama-python"), (a.bitkernels, "--bitkernels")]:
        if not os.access(exe, os.X_OK):
            fail(f"{flag} {exe}: not an executable", 66)
    results = {}
    for spec in a.model:
        name, sep, path = spec.partition("=")
        if not sep or not os.path.exists(path):
            fail(f"--model {spec}: expected NAME=PATH of an existing .gguf or model directory", 66)
        gguf = os.path.join(a.work, f"{name}-tq2_0.gguf")
        run([a.bitkernels, "export", "--model", path, "--out", gguf, "--format", "tq2_0", "--tokenizer", "bytes"])
        path = gguf
        tokens = [(i * 7919 + 13) % 1000 for i in range(16)]
        for t in threads:
            logits_ll = os.path.join(a.work, f"{name}-t{t}-llama.f32")
            logits_bk = os.path.join(a.work, f"{name}-t{t}-bitkernels.f32")
            args = {"model": path, "threads": t, "ctx": max(pp_counts) + a.tg + 8, "pp": pp_counts, "tg": a.tg,
                    "repeats": a.repeats, "tokens": tokens, "logits": logits_ll}
            ll = json.loads(run([a.llama_python, "-c", LLAMA_RUNNER, json.dumps(args)]))
            bk = bitkernels_side(a.bitkernels, path, t, pp_counts, a.tg, a.repeats)
            run([a.bitkernels, "logits", "--model", path, "--prompt-ids", ",".join(map(str, tokens)), "--out", logits_bk,
                 "--threads", str(t)])
            x, y = read_f32(logits_ll), read_f32(logits_bk)
            if len(x) != len(y):
                fail(f"{name}: logits of {len(x)} and {len(y)} values (vocabularies differ?)")
            vocab = len(x) // len(tokens)
            top = lambda v, r: max(range(vocab), key=lambda i: v[r * vocab + i])
            agree = sum(top(x, r) == top(y, r) for r in range(len(tokens)))
            row = {"llama": {"pp": {n: median(v) for n, v in ll["pp"].items()}, "tg": median(ll["tg"])},
                   "bitkernels": {"pp": {n: median(v) for n, v in bk["pp"].items()}, "tg": median(bk["tg"]),
                                  "pp_runs": bk["pp"], "tg_runs": bk["tg"], "bound": bk.get("bound")},
                   "llama_runs": ll,
                   "logits_max_abs_diff": max(abs(u - v) for u, v in zip(x, y)),
                   "logits_max_abs": max(abs(v) for v in y), "top1_agree": f"{agree}/{len(tokens)}"}
            results[f"{name} t{t}"] = row
            bk = row["bitkernels"]
            cells = [f"pp{n} {bk['pp'][str(n)]:.1f} / {row['llama']['pp'][str(n)]:.1f} "
                     f"({bk['pp'][str(n)] / row['llama']['pp'][str(n)]:.2f}x)" for n in pp_counts]
            print(f"{name} {t} thread(s), bitkernels / llama.cpp TQ2_0 tokens/s: " + ", ".join(cells) +
                  f", tg{a.tg} {bk['tg']:.2f} / {row['llama']['tg']:.2f} ({bk['tg'] / row['llama']['tg']:.2f}x); "
                  f"logits max |diff| {row['logits_max_abs_diff']:.3g} (max |logit| {row['logits_max_abs']:.3g}), "
                  f"top-1 {row['top1_agree']}", flush=True)
    if a.json:
        tmp = a.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, a.json)


if __name__ == "__main__":
    main()
