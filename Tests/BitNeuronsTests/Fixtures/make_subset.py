#!/usr/bin/env python3
"""Cuts the test fixture: the first 1,000 training and 300 test images (with labels) of MNIST
(CC BY-SA 3.0, LeCun, Cortes, Burges) and Fashion-MNIST (MIT, Zalando Research), in the original
IDX format, gzipped.

    python3 Tests/BitNeuronsTests/Fixtures/make_subset.py [../shared/data]
"""
import gzip
import os
import struct
import sys

SRC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../../../shared/data")
HERE = os.path.dirname(os.path.abspath(__file__))
KEEP = {"train": 1000, "t10k": 300}

for name in ["mnist", "fashion-mnist"]:
    os.makedirs(os.path.join(HERE, name), exist_ok=True)
    for split, n in KEEP.items():
        for kind, header in [("images-idx3-ubyte", 16), ("labels-idx1-ubyte", 8)]:
            raw = gzip.open(os.path.join(SRC, name, f"{split}-{kind}.gz")).read()
            dims = list(struct.unpack(">" + "I" * (header // 4 - 1), raw[4:header]))
            per = 1
            for d in dims[1:]:
                per *= d
            dims[0] = n
            out = raw[:4] + struct.pack(">" + "I" * len(dims), *dims) + raw[header:header + n * per]
            with gzip.GzipFile(os.path.join(HERE, name, f"{split}-{kind}.gz"), "wb", mtime=0) as f:
                f.write(out)
print("wrote", HERE)
