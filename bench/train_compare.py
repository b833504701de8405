#!/usr/bin/env python3
"""Training speed, side by side: the same BitNet b1.58 model (nanoGPT's CPU recipe: 4 layers,
4 heads, context 64, batch 12, MLP 8·⌈8w/24⌉, untied head) trained by PyTorch (float32, CPU; float
and fake-quantized ternary with the straight-through estimator) and by `bitkernels train`, at widths
128 and 256, 1 and 2 threads. Prints training tokens/s (step time only, evaluation excluded).

    swift build -c release
    python3 bench/train_compare.py --data ../shared/data/tinyshakespeare/input.txt [--steps 40]
"""
import argparse, math, re, statistics, subprocess, time
import torch
import torch.nn.functional as F

WARMUP = 5  # untimed steps before the timed ones, on both sides


def act_quant(x):
    s = 127.0 / x.abs().amax(-1, keepdim=True).clamp(min=1e-5)
    return (x * s).round().clamp(-128, 127) / s


def weight_quant(w):
    s = w.abs().mean().clamp(min=1e-5)
    return (w / s).round().clamp(-1, 1) * s


class BitLinear(torch.nn.Linear):
    def __init__(self, i, o, ternary):
        super().__init__(i, o, bias=False)
        torch.nn.init.normal_(self.weight, 0, 0.02)
        self.ternary = ternary

    def forward(self, x):
        if not self.ternary:
            return F.linear(x, self.weight)
        xq = x + (act_quant(x) - x).detach()
        wq = self.weight + (weight_quant(self.weight) - self.weight).detach()
        return F.linear(xq, wq)


class RMSNorm(torch.nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(d))

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5))


class Block(torch.nn.Module):
    def __init__(self, w, heads, f, ternary):
        super().__init__()
        self.heads, self.d = heads, w // heads
        self.n1, self.n2, self.sa, self.sf = RMSNorm(w), RMSNorm(w), RMSNorm(w), RMSNorm(f)
        self.q, self.k, self.v, self.o = (BitLinear(w, w, ternary) for _ in range(4))
        self.g, self.u, self.dn = BitLinear(w, f, ternary), BitLinear(w, f, ternary), BitLinear(f, w, ternary)

    def forward(self, x, cos, sin):
        B, T, W = x.shape
        h = self.n1(x)
        def split(t):
            return t.view(B, T, self.heads, self.d).transpose(1, 2)
        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        def rope(t):
            a, b = t[..., : self.d // 2], t[..., self.d // 2:]
            return torch.cat([a * cos - b * sin, b * cos + a * sin], -1)
        a = F.scaled_dot_product_attention(rope(q), rope(k), v, is_causal=True)
        x = x + self.o(self.sa(a.transpose(1, 2).reshape(B, T, W)))
        h = self.n2(x)
        return x + self.dn(self.sf(F.relu(self.g(h)) ** 2 * self.u(h)))


class Model(torch.nn.Module):
    def __init__(self, vocab, w, layers, heads, ternary):
        super().__init__()
        f = 8 * math.ceil(8 * w / 24)
        self.emb = torch.nn.Embedding(vocab, w)
        torch.nn.init.normal_(self.emb.weight, 0, 0.02)
        self.blocks = torch.nn.ModuleList(Block(w, heads, f, ternary) for _ in range(layers))
        self.norm = RMSNorm(w)
        self.head = torch.nn.Linear(w, vocab, bias=False)
        torch.nn.init.normal_(self.head.weight, 0, 0.02)
        d = w // heads
        inv = 1.0 / (10000 ** (torch.arange(0, d, 2).float() / d))
        ang = torch.arange(64).float()[:, None] * inv[None, :]
        self.cos, self.sin = ang.cos(), ang.sin()

    def forward(self, idx):
        x = self.emb(idx)
        T = idx.shape[1]
        for b in self.blocks:
            x = b(x, self.cos[:T], self.sin[:T])
        return self.head(self.norm(x))


def torch_speed(data, vocab, width, threads, ternary, steps):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    m = Model(vocab, width, 4, 4, ternary)
    decay = [p for n, p in m.named_parameters() if p.dim() == 2 and "emb" not in n]
    rest = [p for n, p in m.named_parameters() if not (p.dim() == 2 and "emb" not in n)]
    opt = torch.optim.AdamW([dict(params=decay, weight_decay=0.1), dict(params=rest, weight_decay=0.0)], lr=1e-3, betas=(0.9, 0.99))
    g = torch.Generator().manual_seed(1)
    def step():
        ix = torch.randint(len(data) - 65, (12,), generator=g)
        xb = torch.stack([data[i: i + 65] for i in ix])
        loss = F.cross_entropy(m(xb[:, :-1]).reshape(-1, vocab), xb[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
    for _ in range(WARMUP):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * 12 * 64 / (time.perf_counter() - t)


def ours_speed(path, width, threads, precision, steps, binary):
    # As torch_speed: WARMUP untimed steps (the first pays for page faults and OpenBLAS's buffers),
    # then `steps` timed ones. The CLI reports the mean tok/s of the step time so far at each
    # evaluation (evaluation excluded), so the timed steps' rate follows from the reports after
    # WARMUP and after WARMUP + steps.
    total = WARMUP + steps
    out = subprocess.run([binary, "train", "--data", path, "--layers", "4", "--width", str(width), "--heads", "4", "--context", "64",
                          "--batch", "12", "--steps", str(total), "--warmup", str(min(total, 100)), "--precision", precision, "--threads", str(threads),
                          "--eval-every", str(WARMUP), "--eval-batches", "1", "--export", "none", "--out", f"/tmp/train_compare_{width}_{threads}_{precision}"],
                         capture_output=True, text=True, check=True)
    rate = {int(m.group(1)): float(m.group(2)) for m in re.finditer(r"step (\d+)/\d+ .*?([\d.]+) tok/s", out.stderr)}
    tokens = 12 * 64
    elapsed = total * tokens / rate[total] - WARMUP * tokens / rate[WARMUP]
    return steps * tokens / elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/tinyshakespeare/input.txt")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--binary", default=".build/release/bitkernels")
    ap.add_argument("--widths", default="128,256")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=1, help="rounds of the four runs, interleaved; medians (min-max) reported")
    a = ap.parse_args()
    text = open(a.data, encoding="utf-8").read()
    chars = sorted(set(text))
    data = torch.tensor([chars.index(c) for c in text], dtype=torch.long)
    print(f"torch {torch.__version__}; {a.steps} timed steps; tokens/s (training steps only)")
    print(f"{'width':>5} {'threads':>7} {'torch float':>12} {'torch ternary':>14} {'ours float':>11} {'ours ternary':>13} {'ours/torch tern':>16} {'ours tern/torch float':>22}")
    for w in map(int, a.widths.split(",")):
        for th in map(int, a.threads.split(",")):
            runs = []
            for _ in range(a.repeats):
                runs.append((torch_speed(data, len(chars), w, th, False, a.steps), torch_speed(data, len(chars), w, th, True, a.steps),
                             ours_speed(a.data, w, th, "float", a.steps, a.binary), ours_speed(a.data, w, th, "ternary", a.steps, a.binary)))
            tf, tt, of, ot = (statistics.median(r[i] for r in runs) for i in range(4))
            print(f"{w:>5} {th:>7} {tf:>12.0f} {tt:>14.0f} {of:>11.0f} {ot:>13.0f} {ot / tt:>16.2f} {ot / tf:>22.2f}", flush=True)
            if a.repeats > 1:
                spread = "  ".join(f"{min(r[i] for r in runs):.0f}-{max(r[i] for r in runs):.0f}" for i in range(4))
                ratios = [r[3] / r[1] for r in runs]
                print(f"{'':>13} min-max: {spread}; ours tern/torch tern per round {min(ratios):.2f}-{max(ratios):.2f}", flush=True)


if __name__ == "__main__":
    main()
