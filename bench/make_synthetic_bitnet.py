#!/usr/bin/env python3
"""Writes a synthetic BitNet b1.58 checkpoint with the shapes of microsoft/bitnet-b1.58-2B-4T
(hidden 2560, FFN 6912, 30 layers, 20 heads / 5 KV heads, vocabulary 128,256) in the released
Hugging Face layout: config.json + model.safetensors with uint8 [out/4, in] packed ternary weights,
bf16 weight scales, a bf16 embedding (tied head) and bf16 norms. Random weights: for speed
measurements only, never committed (about 1.2 GB).

    python3 bench/make_synthetic_bitnet.py --out /tmp/bitnet-2b4t-synthetic [--layers 30]
"""
import argparse
import json
import os
import struct
import sys

import numpy as np


def bf16_bytes(a):
    """float32 array -> bf16 little-endian bytes (round to nearest even)."""
    u = np.asarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return rounded.tobytes()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--hidden", type=int, default=2560)
    p.add_argument("--intermediate", type=int, default=6912)
    p.add_argument("--layers", type=int, default=30)
    p.add_argument("--heads", type=int, default=20)
    p.add_argument("--kv-heads", type=int, default=5)
    p.add_argument("--vocab", type=int, default=128256)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    h, f, d = a.hidden, a.intermediate, a.hidden // a.heads
    kv = a.kv_heads * d

    tensors = []  # (name, dtype, shape, producer)
    def ternary(name, rows, cols):
        def make():
            codes = rng.integers(0, 3, size=(4, rows // 4, cols), dtype=np.uint8)
            return (codes[0] | (codes[1] << 2) | (codes[2] << 4) | (codes[3] << 6)).tobytes()
        tensors.append((name + ".weight", "U8", [rows // 4, cols], make))
        tensors.append((name + ".weight_scale", "BF16", [1], lambda: bf16_bytes([0.75])))
    def norm(name, n):
        tensors.append((name, "BF16", [n], lambda: bf16_bytes(rng.uniform(0.75, 1.25, n))))

    tensors.append(("model.embed_tokens.weight", "BF16", [a.vocab, h],
                    lambda: bf16_bytes(rng.standard_normal((a.vocab, h), dtype=np.float32) * 0.5)))
    for i in range(a.layers):
        q = f"model.layers.{i}."
        norm(q + "input_layernorm.weight", h)
        norm(q + "post_attention_layernorm.weight", h)
        norm(q + "self_attn.attn_sub_norm.weight", h)
        norm(q + "mlp.ffn_sub_norm.weight", f)
        ternary(q + "self_attn.q_proj", h, h)
        ternary(q + "self_attn.k_proj", kv, h)
        ternary(q + "self_attn.v_proj", kv, h)
        ternary(q + "self_attn.o_proj", h, h)
        ternary(q + "mlp.gate_proj", f, h)
        ternary(q + "mlp.up_proj", f, h)
        ternary(q + "mlp.down_proj", h, f)
    norm("model.norm.weight", h)

    size = {"U8": 1, "BF16": 2}
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, dt, shape, _ in tensors:
        n = int(np.prod(shape)) * size[dt]
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)

    os.makedirs(a.out, exist_ok=True)
    config = {
        "architectures": ["BitNetForCausalLM"], "model_type": "bitnet", "hidden_act": "relu2",
        "hidden_size": h, "intermediate_size": f, "num_hidden_layers": a.layers,
        "num_attention_heads": a.heads, "num_key_value_heads": a.kv_heads, "vocab_size": a.vocab,
        "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
        "tie_word_embeddings": True,
        "quantization_config": {"linear_class": "autobitlinear", "quant_method": "bitnet", "quantization_mode": "offline"},
    }
    # Both files go to a temporary name first and are renamed into place when complete, so an
    # interrupted run never leaves a truncated model.safetensors that looks finished.
    def atomic(name, mode, fill):
        final = os.path.join(a.out, name)
        tmp = final + f".partial-{os.getpid()}"
        try:
            with open(tmp, mode) as fh:
                fill(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    atomic("config.json", "w", lambda fh: json.dump(config, fh, indent=2))

    def weights(fh):
        fh.write(struct.pack("<Q", len(blob)))
        fh.write(blob)
        for k, (name, _, _, make) in enumerate(tensors):
            fh.write(make())
            if sys.stderr.isatty():
                print(f"\r{k + 1}/{len(tensors)} tensors", end="", file=sys.stderr)

    atomic("model.safetensors", "wb", weights)
    print(f"\nwrote {a.out}: {offset / 1e9:.2f} GB of tensors", file=sys.stderr)


if __name__ == "__main__":
    main()
