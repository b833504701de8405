#!/usr/bin/env python3
"""Writes reference.json: a tiny BitNet b1.58 decoder in PyTorch (CPU, float64) — its initial
weights, one batch, the loss and every gradient for each precision (float, ternary, binary, with
the straight-through estimator), and 100 AdamW steps' loss curves from the same weights and
batches at lr 1e-2 and 1e-3. BitTraining's tests compare against it.

    python3 Tests/BitTrainingTests/Fixtures/make_reference.py            # torch 2.x, CPU
    python3 Tests/BitTrainingTests/Fixtures/make_reference.py --spread   # float32 vs float64 curves

--spread writes nothing: it runs every curve again in float32 and prints how far PyTorch's own
float32 run strays from its float64 one, the floor any float32 trainer can be held to.

The model is the one BitTraining builds (and BitNet runs): embedding, RMSNorm, BitLinear q/k/v/o
with the attention sub-norm, half-split RoPE, GQA, ReLU²-gated MLP with its sub-norm, final norm,
untied float head, no biases. Quantizers: activations absmax int8 per token (round half to even,
as the kernels' rintf), ternary weights absmean per tensor, binary sign(W − mean W) (sign(0) = +1)
× mean |W|.
"""
import json, math, os, sys
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
CFG = dict(vocab=11, width=16, layers=2, heads=4, kv_heads=2, mlp=48, theta=10000.0, eps=1e-5, batch=2, length=8)
TRAIN = dict(steps=100, lr=1e-2, min_lr=1e-3, warmup=10, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.1, clip=1.0)
TEXT = "the cat sat on a mat. the mat sat on a cat. " * 40  # 11 characters


def names(c):
    out = [("model.embed_tokens.weight", [c["vocab"], c["width"]], "embedding")]
    h, f, d = c["width"], c["mlp"], c["width"] // c["heads"]
    qw, kw = c["heads"] * d, c["kv_heads"] * d
    for l in range(c["layers"]):
        p = f"model.layers.{l}."
        out += [(p + "input_layernorm.weight", [h], "norm"), (p + "self_attn.q_proj.weight", [qw, h], "linear"),
                (p + "self_attn.k_proj.weight", [kw, h], "linear"), (p + "self_attn.v_proj.weight", [kw, h], "linear"),
                (p + "self_attn.attn_sub_norm.weight", [qw], "norm"), (p + "self_attn.o_proj.weight", [h, qw], "linear"),
                (p + "post_attention_layernorm.weight", [h], "norm"), (p + "mlp.gate_proj.weight", [f, h], "linear"),
                (p + "mlp.up_proj.weight", [f, h], "linear"), (p + "mlp.ffn_sub_norm.weight", [f], "norm"),
                (p + "mlp.down_proj.weight", [h, f], "linear")]
    out += [("model.norm.weight", [h], "norm"), ("lm_head.weight", [c["vocab"], h], "head")]
    return out


def act_quant(x):
    s = 127.0 / x.abs().amax(-1, keepdim=True).clamp(min=1e-5)
    return (x * s).round().clamp(-128, 127) / s


def weight_quant(w, precision):
    if precision == "ternary":
        s = w.abs().mean().clamp(min=1e-5)
        return (w / s).round().clamp(-1, 1) * s
    beta = w.abs().mean().clamp(min=1e-5)
    return torch.where(w - w.mean() >= 0, 1.0, -1.0).to(w.dtype) * beta


def linear(x, w, precision):
    if precision == "float":
        return x @ w.T
    xq = x + (act_quant(x) - x).detach()
    wq = w + (weight_quant(w, precision) - w).detach()
    return xq @ wq.T


def rms(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rope(x, T, d, theta):  # x: B, heads, T, d
    inv = 1.0 / torch.pow(torch.tensor(theta, dtype=torch.float64), torch.arange(0, d, 2, dtype=torch.float32).double() / d)
    inv = inv.float().double()
    ang = torch.arange(T).double()[:, None] * inv[None, :]
    cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1)


def forward(P, tokens, c, precision):
    B, T = tokens.shape
    H, heads, kvh = c["width"], c["heads"], c["kv_heads"]
    d = H // heads
    x = P["model.embed_tokens.weight"][tokens]
    for l in range(c["layers"]):
        p = lambda n: P[f"model.layers.{l}." + n]
        h = rms(x, p("input_layernorm.weight"), c["eps"])
        q = linear(h, p("self_attn.q_proj.weight"), precision).view(B, T, heads, d).transpose(1, 2)
        k = linear(h, p("self_attn.k_proj.weight"), precision).view(B, T, kvh, d).transpose(1, 2)
        v = linear(h, p("self_attn.v_proj.weight"), precision).view(B, T, kvh, d).transpose(1, 2)
        q, k = rope(q, T, d, c["theta"]), rope(k, T, d, c["theta"])
        k, v = k.repeat_interleave(heads // kvh, 1), v.repeat_interleave(heads // kvh, 1)
        s = q @ k.transpose(-1, -2) / math.sqrt(d)
        s = s.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
        a = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, heads * d)
        a = rms(a, p("self_attn.attn_sub_norm.weight"), c["eps"])
        x = x + linear(a, p("self_attn.o_proj.weight"), precision)
        h = rms(x, p("post_attention_layernorm.weight"), c["eps"])
        m = F.relu(linear(h, p("mlp.gate_proj.weight"), precision)) ** 2 * linear(h, p("mlp.up_proj.weight"), precision)
        m = rms(m, p("mlp.ffn_sub_norm.weight"), c["eps"])
        x = x + linear(m, p("mlp.down_proj.weight"), precision)
    x = rms(x, P["model.norm.weight"], c["eps"])
    return x @ P["lm_head.weight"].T


def lr_at(it, t):
    if it < t["warmup"]:
        return t["lr"] * (it + 1) / (t["warmup"] + 1)
    ratio = (it - t["warmup"]) / (t["steps"] - t["warmup"])
    return t["min_lr"] + 0.5 * (1 + math.cos(math.pi * ratio)) * (t["lr"] - t["min_lr"])


def curve(init, batches, c, t, precision, dtype=torch.float64):
    P = {n: torch.tensor(v, dtype=dtype).reshape(dict((a, s) for a, s, _ in names(c))[n]).requires_grad_(True) for n, v in init.items()}
    kinds = {n: k for n, _, k in names(c)}
    decay = [P[n] for n in P if kinds[n] in ("linear", "head")]
    rest = [P[n] for n in P if kinds[n] not in ("linear", "head")]
    opt = torch.optim.AdamW([dict(params=decay, weight_decay=t["weight_decay"]), dict(params=rest, weight_decay=0.0)],
                            lr=t["lr"], betas=(t["beta1"], t["beta2"]), eps=t["eps"])
    losses = []
    for it, b in enumerate(batches[1:]):
        for group in opt.param_groups:
            group["lr"] = lr_at(it, t)
        logits = forward(P, b[:, :-1], c, precision)
        loss = F.cross_entropy(logits.reshape(-1, c["vocab"]), b[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(P.values()), t["clip"])
        opt.step()
        losses.append(loss.item())
    return losses


def main():
    c, t = CFG, TRAIN
    g = torch.Generator().manual_seed(1234)
    init = {}
    for n, shape, kind in names(c):
        if kind == "norm":  # not all ones, so that the norm gradients are exercised
            init[n] = (1 + 0.1 * torch.randn(shape, generator=g, dtype=torch.float32)).reshape(-1).tolist()
        else:
            init[n] = (0.02 * torch.randn(shape, generator=g, dtype=torch.float32) * (10 if kind == "embedding" else 1)).reshape(-1).tolist()
    chars = sorted(set(TEXT))
    data = torch.tensor([chars.index(ch) for ch in TEXT])
    def window(i):
        return data[i: i + c["length"] + 1]
    starts = torch.randint(0, len(data) - c["length"] - 1, (t["steps"] + 1, c["batch"]), generator=g)
    batches = [torch.stack([window(int(s)) for s in row]) for row in starts]
    if "--spread" in sys.argv:
        for lr in (1e-2, 1e-3):
            tt = dict(t, lr=lr, min_lr=lr / 10)
            for precision in ["float", "ternary", "binary"]:
                a, b = curve(init, batches, c, tt, precision), curve(init, batches, c, tt, precision, torch.float32)
                d = [abs(x - y) for x, y in zip(a, b)]
                print(f"lr {lr:g} {precision:8} max |float32 - float64|: steps 1-20 {max(d[:20]):.2e}, "
                      f"all 100 {max(d):.2e} (step {d.index(max(d)) + 1}); loss {a[0]:.3f} -> {a[-1]:.3f}")
        return
    out = dict(config=c, train=t, chars="".join(chars), weights=init, batch=batches[0].tolist(),
               batches=[b.tolist() for b in batches[1:]], precisions={})
    for precision in ["float", "ternary", "binary"]:
        P = {n: torch.tensor(v).double().reshape(dict((a, s) for a, s, _ in names(c))[n]).requires_grad_(True) for n, v in init.items()}
        b = batches[0]
        logits = forward(P, b[:, :-1], c, precision)
        loss = F.cross_entropy(logits.reshape(-1, c["vocab"]), b[:, 1:].reshape(-1))
        loss.backward()
        rec = dict(loss=loss.item(), logits=[round(v, 9) for v in logits[0].reshape(-1).tolist()],
                   gradients={n: [float("%.9g" % v) for v in P[n].grad.reshape(-1).tolist()] for n in P})
        # 100 AdamW steps from the same weights on batches[1:], at lr 1e-2 and at 1e-3
        rec["curve"] = curve(init, batches, c, t, precision)
        rec["curve_lr1e-3"] = curve(init, batches, c, dict(t, lr=1e-3, min_lr=1e-4), precision)
        rec["lrs"] = [lr_at(it, t) for it in range(t["steps"])]
        out["precisions"][precision] = rec
        print(precision, "loss", rec["loss"], "curve", rec["curve"][0], "->", rec["curve"][-1])
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference.json")
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
