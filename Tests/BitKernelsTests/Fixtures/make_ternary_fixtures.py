#!/usr/bin/env python3
"""Writes the ternary-format fixtures the Swift tests decode (TernaryFormatTests).

    pip install gguf numpy          # gguf 0.19.0 (llama.cpp's own Python writer) was used
    python3 Tests/BitKernelsTests/Fixtures/make_ternary_fixtures.py [--bitnet-tiny DIR]

1. random.*: a 6 x 512 ternary matrix with one scale per row (exact in fp16), some 256-blocks
   all zero, quantized by gguf.quants to TQ2_0 and TQ1_0: the bytes llama.cpp would write.
2. bitnet_tiny_k_proj.*: layer 0's k_proj from ../shared/fixtures/bitnet-tiny, as the Hugging Face
   checkpoint stores it (uint8 [out/4, in] + bf16 scale) and as its model.gguf stores it (TQ2_0),
   so the two real-world layouts can be checked against each other.
"""
import argparse
import json
import os
import struct

import numpy as np
from gguf.constants import GGMLQuantizationType as QT
from gguf.gguf_reader import GGUFReader
from gguf.quants import quantize

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(bytes(data))
    print(f"{name}: {len(bytes(data))} bytes")


def random_fixture():
    rng = np.random.default_rng(20261123)
    rows, cols = 6, 512
    w = rng.integers(-1, 2, size=(rows, cols)).astype(np.int8)
    w[1, 256:] = 0  # an all-zero block: llama.cpp writes d = 0 for it
    w[4, :256] = 0
    scales = np.array([0.5, 0.25, 1.0, 0.125, 2.0, 0.75], dtype=np.float32)
    x = w.astype(np.float32) * scales[:, None]
    write("random.i8", w.tobytes())
    write("random_scales.f32", scales.astype("<f4").tobytes())
    write("random.tq2_0", quantize(x, QT.TQ2_0).tobytes())
    write("random.tq1_0", quantize(x, QT.TQ1_0).tobytes())


def safetensors_tensor(path, name):
    with open(path, "rb") as f:
        header_len = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(header_len))
        start, end = header[name]["data_offsets"]
        f.seek(8 + header_len + start)
        return header[name]["dtype"], header[name]["shape"], f.read(end - start)


def bitnet_fixture(directory):
    dtype, shape, packed = safetensors_tensor(os.path.join(directory, "model.safetensors"),
                                              "model.layers.0.self_attn.k_proj.weight")
    assert dtype == "U8", dtype
    _, _, scale = safetensors_tensor(os.path.join(directory, "model.safetensors"),
                                     "model.layers.0.self_attn.k_proj.weight_scale")
    reader = GGUFReader(os.path.join(directory, "model.gguf"))
    tensor = next(t for t in reader.tensors if t.name == "blk.0.attn_k.weight")
    assert tensor.tensor_type == QT.TQ2_0, tensor.tensor_type
    print(f"k_proj: HF {shape} {dtype}, GGUF {list(tensor.shape)} TQ2_0")
    write("bitnet_tiny_k_proj.hf", packed)
    write("bitnet_tiny_k_proj_scale.bf16", scale)
    write("bitnet_tiny_k_proj.tq2_0", np.asarray(tensor.data).tobytes())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bitnet-tiny", default=os.path.join(HERE, "../../../../shared/fixtures/bitnet-tiny"),
                        help="directory of the bitnet-tiny fixture (default: ../shared/fixtures/bitnet-tiny)")
    args = parser.parse_args()
    random_fixture()
    bitnet_fixture(args.bitnet_tiny)
