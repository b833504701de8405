#!/usr/bin/env python3
"""The communication-vs-compute model of bench/DISTRIBUTED.md: prints its tables.

Every input is a named assumption below (links, memory bandwidth, model sizes); change one and
re-run. Collective costs use the usual latency-bandwidth (alpha-beta) model: a tree/recursive-
doubling all-reduce of n bytes over R ranks costs 2*ceil(log2 R)*(alpha + n/beta) for small n
(latency-bound), a ring all-reduce 2*(R-1)*alpha + 2*(R-1)/R * n/beta for large n (bandwidth-bound).
"""
import math

LINKS = {  # name: (alpha seconds per message, beta bytes per second)
    "10 Gb/s TCP": (30e-6, 10e9 / 8),
    "100 Gb/s RDMA": (3e-6, 100e9 / 8),
}
RANKS = [2, 8, 32, 128, 1024]


def tree_allreduce(n, R, alpha, beta):
    return 0 if R == 1 else 2 * math.ceil(math.log2(R)) * (alpha + n / beta)


def ring_allreduce(n, R, alpha, beta):
    return 0 if R == 1 else 2 * (R - 1) * alpha + 2 * (R - 1) / R * n / beta


def best_allreduce(n, R, alpha, beta):
    return min(tree_allreduce(n, R, alpha, beta), ring_allreduce(n, R, alpha, beta))


def us(s):
    if s < 10e-6:
        return f"{s * 1e6:.1f} µs"
    return f"{s * 1e6:,.0f} µs" if s < 1e-3 else f"{s * 1e3:,.1f} ms" if s < 10 else f"{s:,.1f} s"


def search():
    # One query against N rows of d bits; each rank scans its N/R rows at M bytes/s, then the
    # winner record (40 bytes) is all-reduced and the query (d/8 bytes) was broadcast first.
    M = 200e9  # assumed: one server socket's read bandwidth (this VM measured 26 GB/s on 2 threads)
    d = 1024
    print(f"## Sharded search, one query at a time (d = {d} bits, {M / 1e9:.0f} GB/s scan per rank)\n")
    print("| rows | link | " + " | ".join(f"R = {R}: scan · comm" for R in RANKS) + " | stops scaling at |")
    print("|---|---|" + "---|" * len(RANKS) + "---|")
    for N in [10**6, 10**8, 10**10]:
        for name, (alpha, beta) in LINKS.items():
            cells, stop = [], None
            for R in [1] + RANKS:
                scan = N * d / 8 / R / M
                comm = tree_allreduce(40, R, alpha, beta) + math.ceil(math.log2(R)) * (alpha + d / 8 / beta) if R > 1 else 0
                if R > 1:
                    cells.append(f"{us(scan)} · {us(comm)}")
                if stop is None and R > 1 and comm >= scan:
                    stop = R
            print(f"| 10^{round(math.log10(N))} | {name} | " + " | ".join(cells) + f" | {'R ≈ ' + str(stop) if stop else '> 1024'} |")
    print()
    # Batched: Q queries per round amortize the latency: comm = tree all-reduce of 40*Q bytes
    # + broadcast of Q*d/8 bytes; compute = Q*N/R pairs at P pairs/s: 1.58 ns per 1024-bit pair on
    # one core (RESULTS.md, FAISS comparison, batch, avx512, Zen 4 VM), times an assumed 64 cores.
    P = 64 / 1.58e-9 / (d / 1024)
    Q = 1000
    print(f"Batched, Q = {Q} queries per round, {P:.1e} pairs/s per rank: per-query cost scan · comm\n")
    print("| rows | link | " + " | ".join(f"R = {R}" for R in RANKS) + " |")
    print("|---|---|" + "---|" * len(RANKS))
    for N in [10**6, 10**8]:
        for name, (alpha, beta) in LINKS.items():
            cells = []
            for R in RANKS:
                scan = Q * N / R / P
                comm = tree_allreduce(40 * Q, R, alpha, beta) + math.ceil(math.log2(R)) * (alpha + Q * d / 8 / beta)
                cells.append(f"{us(scan / Q)} · {us(comm / Q)}")
            print(f"| 10^{round(math.log10(N))} | {name} | " + " | ".join(cells) + " |")
    print()


def training():
    # Data-parallel: every step all-reduces 4*P bytes of float32 gradients; compute per step per
    # rank = 6 * P * T / F (T tokens per rank per step, F flop/s), no overlap assumed.
    F = 1e12  # assumed: a 64-core AVX-512 node's sustained float GEMM throughput
    T = 4096
    print(f"## Data-parallel training ({T} tokens per rank per step, {F / 1e12:.0f} TFLOP/s per rank, no overlap)\n")
    print("| model | grad bytes | compute/step | link | " + " | ".join(f"R = {R}" for R in RANKS) + " |")
    print("|---|---|---|---|" + "---|" * len(RANKS))
    for label, params in [("width 128 × 4 layers (this repo's recipe)", 0.9e6), ("125M", 125e6), ("BitNet 2B", 2.4e9)]:
        compute = 6 * params * T / F
        for name, (alpha, beta) in LINKS.items():
            cells = []
            for R in RANKS:
                comm = best_allreduce(4 * params, R, alpha, beta)
                cells.append(f"{us(comm)} ({compute / (compute + comm):.0%})")
            print(f"| {label} | {4 * params / 1e6:,.1f} MB | {us(compute)} | {name} | " + " | ".join(cells) + " |")
    print("\n(cell: all-reduce time per step, and the efficiency compute / (compute + comm))\n")


def tensor_parallel():
    # BitNet b1.58 2B4T: hidden 2560, MLP 6912, 30 layers, 20 heads / 5 KV heads, vocab 128256.
    h, layers, vocab = 2560, 30, 128256
    per_token_bytes = 1.178e9  # measured here: bytes read per decoded token (RESULTS.md, bf16 head)
    M = 200e9
    print("## Tensor-parallel BitNet 2B decode, one token (batch 1)\n")
    print("| link | " + " | ".join(f"R = {R}" for R in [2, 4, 8, 16, 32]) + " |")
    print("|---|" + "---|" * 5)
    for name, (alpha, beta) in LINKS.items():
        cells = []
        for R in [2, 4, 8, 16, 32]:
            compute = per_token_bytes / R / M
            # per layer: 2 all-reduces of h int32 partial sums (after o_proj and down_proj) + 2
            # fused scalar all-reduces (sum of squares and absmax of the split sub-norm inputs, one
            # 8-byte record with a (sum, max) user op); the head: an 8-byte (logit, -id) argmax.
            comm = layers * (2 * best_allreduce(4 * h, R, alpha, beta) + 2 * tree_allreduce(8, R, alpha, beta)) + tree_allreduce(8, R, alpha, beta)
            cells.append(f"{us(compute)} · {us(comm)}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"\n(cell: weight streaming at {M / 1e9:.0f} GB/s per rank · collectives per token; R = 1: {us(per_token_bytes / M)})\n")


if __name__ == "__main__":
    search()
    training()
    tensor_parallel()
