#!/usr/bin/env python3
"""Aggregate decoding throughput of `bitkernels serve` with 1 client and with N concurrent clients
(the server decodes concurrent requests together, one batched forward pass per step). Each client
sends the same kind of request: a prompt of token ids, greedy, a fixed number of new tokens (the
model's EOS ignored by giving a model without one, e.g. bench/make_synthetic_bitnet.py's). Prints
tokens/s per configuration and the ratio to one client.

    python3 bench/make_synthetic_bitnet.py --out /tmp/bitnet-2b4t-synthetic
    swift build -c release --product bitkernels
    python3 bench/serve_throughput.py --bin .build/release/bitkernels --model /tmp/bitnet-2b4t-synthetic \\
        --clients 1,4 --tokens 64 --threads 2
"""
import argparse
import json
import re
import signal
import subprocess
import threading
import time
import urllib.request


def post(base, payload):
    req = urllib.request.Request(base + "/v1/completions", data=json.dumps(payload).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=3600) as r:
        return json.load(r)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--clients", default="1,4", help="comma-separated client counts")
    ap.add_argument("--tokens", type=int, default=64, help="new tokens per request")
    ap.add_argument("--prompt", type=int, default=16, help="prompt length in tokens")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=2, help="runs per client count (the best is kept)")
    a = ap.parse_args()
    counts = [int(c) for c in a.clients.split(",")]
    server = subprocess.Popen([a.bin, "serve", "--model", a.model, "--port", "0", "--parallel", str(max(counts)),
                               "--threads", str(a.threads), "--alias", "m"], stderr=subprocess.PIPE, text=True)
    try:
        port = None
        for line in server.stderr:
            m = re.search(r"on http://127\.0\.0\.1:(\d+)/v1", line)
            if m:
                port = int(m.group(1))
                break
        if port is None:
            raise SystemExit("the server did not start")
        threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
        base = f"http://127.0.0.1:{port}"
        # Warm up (page in the weights).
        post(base, {"model": "m", "prompt": list(range(1, a.prompt + 1)), "max_tokens": 4, "temperature": 0})
        rates = {n: [] for n in counts}
        first, mismatches = {}, []
        steps = {n: [0, 0] for n in counts}
        # Interleaved (1, 4, 1, 4, ...) so that a change in the machine's load hits every count alike.
        for _ in range(a.repeats):
            for n in counts:
                got = [0] * n

                def client(i):
                    prompt = [(i * 7919 + k * 13 + 1) % 1000 + 1 for k in range(a.prompt)]
                    r = post(base, {"model": "m", "prompt": prompt, "max_tokens": a.tokens, "temperature": 0})
                    got[i] = r["usage"]["completion_tokens"]
                    # Greedy: client 0 gets the same tokens however many requests run beside it.
                    first.setdefault(i, r["choices"][0]["tokens"])
                    if r["choices"][0]["tokens"] != first[i]:
                        mismatches.append((n, i))
                threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
                before = json.load(urllib.request.urlopen(base + "/health"))
                t0 = time.time()
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                seconds = time.time() - t0
                after = json.load(urllib.request.urlopen(base + "/health"))
                steps[n][0] += after["steps"] - before["steps"]
                steps[n][1] += after["step_tokens"] - before["step_tokens"]
                rates[n].append(sum(got) / seconds)
                print(f"  {n} client(s): {sum(got) / seconds:.2f} tokens/s", flush=True)
        median = {n: sorted(v)[len(v) // 2] for n, v in rates.items()}
        print("greedy tokens identical across batch sizes" if not mismatches else f"TOKENS DIFFER: {mismatches}")
        print(f"{a.tokens} new tokens per request, prompt {a.prompt}, {a.repeats} interleaved runs, wall time incl. prompts:")
        for n in counts:
            mean_batch = steps[n][1] / max(steps[n][0], 1)
            ratio = f", {median[n] / median[counts[0]]:.2f}x of {counts[0]} client(s)" if n != counts[0] else ""
            print(f"{n} client(s): median {median[n]:.2f} tokens/s (runs {', '.join(f'{r:.2f}' for r in rates[n])}), "
                  f"mean batch {mean_batch:.2f}{ratio}")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)


if __name__ == "__main__":
    main()
