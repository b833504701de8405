#!/usr/bin/env python3
"""Writes the tokenizer files that turn the bitnet-tiny fixture (random weights, no vocabulary) into
a chat model for the serving tests: a byte-level BPE tokenizer.json with the fixture's 1,000 ids
(256 byte tokens, merges learnt from the text below, six LLaMA-3 special tokens at 994..999, a
TemplateProcessing post-processor that adds <|begin_of_text|>), a tokenizer_config.json carrying
the chat template of microsoft/bitnet-b1.58-2B-4T, and a generation_config.json with its EOS ids.
config.json and model.safetensors are symlinks to ../../../BitNetTests/Fixtures/bitnet-tiny.

    python3 Tests/BitServerTests/Fixtures/make_chat_fixture.py
"""
import json
import os
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "bitnet-tiny-chat")
VOCAB = 1000
SPECIAL = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
           "<|reserved_special_token_0|>", "<|eot_id|>"]
CORPUS = """Hello! How are you today? I am a small language model with random weights, so what I say
means nothing, but the server that runs me speaks the OpenAI protocol. The quick brown fox jumps over
the lazy dog. User: What is the capital of France? Assistant: The capital of France is Paris.
System: You are a helpful assistant. Tell me a story about a cat who learned to read the news.
Numbers 0123456789 and punctuation, like commas; colons: and quotes "here" are tokens too."""
# The 2B-4T template (tokenizer_config.json of microsoft/bitnet-b1.58-2B-4T).
TEMPLATE = ("{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
            "message['role'] | capitalize + ': '+ message['content'] | trim + '<|eot_id|>' %}"
            "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
            "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant: ' }}{% endif %}")


def byte_chars():
    """GPT-2's reversible byte -> printable character map."""
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def main():
    chars = byte_chars()
    vocab = {chars[b]: b for b in range(256)}
    words = Counter()
    for w in CORPUS.replace("\n", " ").split(" "):
        words[tuple(chars[b] for b in (" " + w).encode())] += 1
    merges = []
    limit = VOCAB - len(SPECIAL)
    while len(vocab) < limit:
        pairs = Counter()
        for w, n in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += n
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        merges.append(f"{a} {b}")
        vocab.setdefault(a + b, len(vocab))
        merged = Counter()
        for w, n in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == (a, b):
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            merged[tuple(out)] += n
        words = merged
    filler = 0
    while len(vocab) < limit:  # ids nobody produces, so that the special tokens sit at 994..999
        vocab[f"<unused_{filler}>"] = len(vocab)
        filler += 1
    added = []
    for i, s in enumerate(SPECIAL):
        vocab[s] = limit + i
        added.append({"id": limit + i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True})
    bos = vocab["<|begin_of_text|>"]
    tokenizer = {
        "version": "1.0", "added_tokens": added, "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
             "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                      {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [bos], "tokens": ["<|begin_of_text|>"]}}}]},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
                  "vocab": vocab, "merges": merges},
    }
    config = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "chat_template": TEMPLATE,
              "model_max_length": 512, "tokenizer_class": "PreTrainedTokenizerFast"}
    generation = {"bos_token_id": bos, "eos_token_id": [vocab["<|end_of_text|>"], vocab["<|eot_id|>"]], "do_sample": False}
    os.makedirs(OUT, exist_ok=True)
    for name, obj in [("tokenizer.json", tokenizer), ("tokenizer_config.json", config), ("generation_config.json", generation)]:
        with open(os.path.join(OUT, name), "w") as f:
            json.dump(obj, f, indent=1, ensure_ascii=False)
            f.write("\n")
    for name in ["config.json", "model.safetensors"]:
        link = os.path.join(OUT, name)
        if not os.path.lexists(link):
            os.symlink(os.path.join("..", "..", "..", "BitNetTests", "Fixtures", "bitnet-tiny", name), link)
    print(f"{OUT}: {len(merges)} merges, {filler} unused ids, special ids {limit}..{VOCAB - 1}")


if __name__ == "__main__":
    main()
