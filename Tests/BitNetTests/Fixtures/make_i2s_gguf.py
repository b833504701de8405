#!/usr/bin/env python3
"""Writes bitnet-tiny-i2s.gguf: the bitnet-tiny model as bitnet.cpp stores it, for the loader tests.

    python3 Tests/BitNetTests/Fixtures/make_i2s_gguf.py

From Fixtures/bitnet-tiny/model.gguf (read with gguf-py 0.19.0), every ternary tensor is written as
bitnet.cpp's I2_S (GGML type 36; packed here by an implementation of bitnet.cpp's x86
`quantize_i2_s` written from its source, independent of the Swift code): the whole tensor in
groups of 128 weights, byte m of a group holding weights m, m+32, m+64, m+96 in bit pairs 7-6,
5-4, 3-2, 1-0 as w + 1; then the float32 scale; n/4 + 32 bytes in all. Also:
- an untied `output.weight` (F16, the embedding's values), to cover untied heads;
- a GPT-2 style vocabulary (`tokenizer.ggml.*`): 1,000 byte-level tokens (the 256 bytes, then
  merges of the first tokens) with their merges, to cover GGUF tokenizers.
The container itself is written by this script (GGUF v3: header, metadata, tensor infos, data
aligned to 32), since gguf-py has no I2_S type.
"""
import os
import struct

import numpy as np
from gguf.gguf_reader import GGUFReader
from gguf.constants import GGMLQuantizationType as QT
from gguf.quants import dequantize

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "bitnet-tiny", "model.gguf")
OUT = os.path.join(HERE, "bitnet-tiny-i2s.gguf")
I2_S = 36


def i2s_bytes(w, scale):
    """bitnet.cpp quantize_i2_s (x86, QK_I2_S = 128) on values already in {-1, 0, 1}."""
    flat = w.reshape(-1).astype(np.int64) + 1
    assert flat.size % 128 == 0
    out = np.zeros(flat.size // 4 + 32, dtype=np.uint8)
    groups = flat.reshape(-1, 4, 32)  # [group, j // 32, j % 32]
    packed = (groups[:, 0] << 6) | (groups[:, 1] << 4) | (groups[:, 2] << 2) | groups[:, 3]
    out[: flat.size // 4] = packed.reshape(-1).astype(np.uint8)
    out[flat.size // 4: flat.size // 4 + 4] = np.frombuffer(struct.pack("<f", scale), dtype=np.uint8)
    return out.tobytes()


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, value):
    out = gguf_string(key) + struct.pack("<I", vtype)
    if vtype == 4:
        return out + struct.pack("<I", value)
    if vtype == 6:
        return out + struct.pack("<f", value)
    if vtype == 8:
        return out + gguf_string(value)
    if vtype == 9:  # array of strings or int32
        etype, items = value
        out += struct.pack("<IQ", etype, len(items))
        for it in items:
            out += gguf_string(it) if etype == 8 else struct.pack("<i", it)
        return out
    raise ValueError(vtype)


def byte_level(b):
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for x in range(256):
        if x not in bs:
            bs.append(x)
            cs.append(256 + n)
            n += 1
    table = {x: chr(c) for x, c in zip(bs, cs)}
    return "".join(table[x] for x in b)


def main():
    r = GGUFReader(SRC)
    field = lambda k: r.fields[k].parts[r.fields[k].data[0]][0]
    meta = [
        kv("general.architecture", 8, "bitnet"),
        kv("general.name", 8, "bitnet-tiny as I2_S (test fixture)"),
        kv("general.alignment", 4, 32),
    ]
    for k in ["context_length", "embedding_length", "block_count", "feed_forward_length",
              "attention.head_count", "attention.head_count_kv", "rope.dimension_count", "vocab_size"]:
        meta.append(kv("bitnet." + k, 4, int(field("bitnet." + k))))
    for k in ["rope.freq_base", "attention.layer_norm_rms_epsilon"]:
        meta.append(kv("bitnet." + k, 6, float(field("bitnet." + k))))
    # Vocabulary: 256 byte tokens, then 744 merges of earlier tokens (a stand-in vocabulary).
    tokens, merges = [bytes([b]) for b in range(256)], []
    i = 0
    while len(tokens) < 1000:
        a, b = tokens[32 + i % 95], tokens[32 + (i // 95) % 95]
        if a + b not in tokens:
            tokens.append(a + b)
            merges.append(f"{byte_level(a)} {byte_level(b)}")
        i += 1
    meta += [kv("tokenizer.ggml.model", 8, "gpt2"), kv("tokenizer.ggml.pre", 8, "llama-bpe"),
             kv("tokenizer.ggml.tokens", 9, (8, [byte_level(t) for t in tokens])),
             kv("tokenizer.ggml.token_type", 9, (5, [1] * len(tokens))),
             kv("tokenizer.ggml.merges", 9, (8, merges))]

    tensors = []  # (name, dims, type, bytes)
    for t in r.tensors:
        dims = [int(d) for d in t.shape]
        data = np.asarray(t.data)
        if t.tensor_type == QT.TQ2_0 or (t.tensor_type == QT.F16 and t.name.endswith("ffn_down.weight")):
            values = dequantize(data, t.tensor_type).reshape(dims[1], dims[0]) if t.tensor_type == QT.TQ2_0 \
                else data.astype(np.float32).reshape(dims[1], dims[0])
            scale = float(np.abs(values).max())
            tensors.append((t.name, dims, I2_S, i2s_bytes(np.round(values / scale), scale)))
        else:
            tensors.append((t.name, dims, int(t.tensor_type), data.tobytes()))
        if t.name == "token_embd.weight":
            emb = dequantize(data, t.tensor_type).astype(np.float16)
            tensors.append(("output.weight", dims, int(QT.F16), emb.tobytes()))

    header = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta)) + b"".join(meta)
    offset, infos = 0, b""
    for name, dims, ttype, data in tensors:
        infos += gguf_string(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", ttype, offset)
        offset += (len(data) + 31) // 32 * 32
    blob = header + infos
    blob += b"\0" * (-len(blob) % 32)
    with open(OUT, "wb") as f:
        f.write(blob)
        for _, _, _, data in tensors:
            f.write(data + b"\0" * (-len(data) % 32))
    print(f"wrote {OUT}: {len(tensors)} tensors, {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
