#!/usr/bin/env python3
"""Check an exported BitNet model against Hugging Face transformers.

Loads a Hugging Face directory written by `bitkernels export` (or `BitNetWeights.writeHuggingFace`)
in transformers' `BitNetForCausalLM` (CPU, float32), runs the same token sequences through
`bitkernels logits` on that directory and, if given, on GGUF files, and reports the largest
|logit difference| against transformers. Exits 1 when one exceeds --tolerance.

With a tokenizer.json in the directory it also checks that transformers' PreTrainedTokenizerFast
reads it and round-trips --text.

    pip install torch transformers safetensors
    bitkernels export --model Tests/BitNetTests/Fixtures/bitnet-tiny --out /tmp/tiny-hf
    bitkernels export --model /tmp/tiny-hf --out /tmp/tiny.gguf --format i2_s
    python3 bench/export_check.py --model /tmp/tiny-hf --gguf /tmp/tiny.gguf

Sequences: --prompt-ids (one comma-separated list per use) or, by default, three seeded random
sequences of 1, 8 and 16 tokens.

Activation quantization rounds x * 127 / max|x| to integers, so two correct float32
implementations can round one value on a .5 boundary differently (different summation order);
that token's row and, through attention, every later row then differ by up to ~weight_scale-sized
amounts (see Tests/BitNetTests/Fixtures/bitnet-tiny/README.md, "Tolerances"). Rows over the
tolerance are reported with the first one: a block of rows from one position onwards, with the
earlier rows at ~1e-5, is such a flip, not an export error (the export files themselves give
bit-identical logits among each other).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch


def ours(bitkernels, model, ids, threads):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "logits.f32")
        subprocess.run([bitkernels, "logits", "--model", model, "--prompt-ids", ",".join(map(str, ids)), "--out", out,
                        "--threads", str(threads)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return np.fromfile(out, dtype="<f4").reshape(len(ids), -1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="exported Hugging Face directory")
    p.add_argument("--gguf", action="append", default=[], help="a GGUF export of the same weights (repeatable)")
    p.add_argument("--bitkernels", default=".build/release/bitkernels"
                   if os.path.exists(".build/release/bitkernels") else ".build/debug/bitkernels")
    p.add_argument("--prompt-ids", action="append", default=[], help="comma-separated token ids (repeatable)")
    p.add_argument("--text", default="ROMEO: O, she doth teach the torches to burn bright!")
    p.add_argument("--tolerance", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()

    from transformers import BitNetForCausalLM

    torch.set_num_threads(args.threads)
    config = json.load(open(os.path.join(args.model, "config.json")))
    vocab = config["vocab_size"]
    sequences = [[int(t) for t in s.split(",")] for s in args.prompt_ids]
    if not sequences:
        rng = np.random.default_rng(2026)
        sequences = [rng.integers(0, vocab, n).tolist() for n in (1, 8, 16)]

    # transformers keeps bf16 tensors that are not BitLinear weights in bf16; cast everything
    # (exactly) to float32, as the bitnet-tiny fixture was made.
    model = BitNetForCausalLM.from_pretrained(args.model, dtype=torch.float32).to(torch.float32).eval()
    worst = 0.0
    for ids in sequences:
        with torch.no_grad():
            reference = model(torch.tensor([ids])).logits[0].float().numpy()
        for path in [args.model] + args.gguf:
            got = ours(args.bitkernels, path, ids, args.threads)
            rows = np.abs(got - reference).max(axis=1)
            d = float(rows.max())
            argmax = int((got.argmax(-1) == reference.argmax(-1)).sum())
            over = np.nonzero(rows > args.tolerance)[0]
            note = f"; rows over {args.tolerance:g}: {len(over)}, from row {over[0]}" if len(over) else ""
            print(f"{os.path.basename(path.rstrip('/'))}: {len(ids)} tokens: max |logit diff| vs transformers {d:.3g} "
                  f"(largest |logit| {np.abs(reference).max():.3g}, argmax equal in {argmax}/{len(ids)}{note})")
            worst = max(worst, d)

    if os.path.exists(os.path.join(args.model, "tokenizer.json")):
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(args.model)
        ids = tok.encode(args.text, add_special_tokens=False)
        back = tok.decode(ids)
        print(f"tokenizer: {len(tok)} ids; {args.text!r} -> {len(ids)} ids {ids[:12]}{'...' if len(ids) > 12 else ''}; "
              f"decodes back: {back == args.text}")
        if back != args.text:
            print(f"  decoded: {back!r}")
            worst = float("inf")

    print(f"largest difference {worst:.3g} (tolerance {args.tolerance:g}): {'ok' if worst <= args.tolerance else 'FAIL'}")
    sys.exit(0 if worst <= args.tolerance else 1)


if __name__ == "__main__":
    main()
