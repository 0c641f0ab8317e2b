"""Checkpoint files for tests, made cheaply: no tensor data is ever written.

`sparse_safetensors(path, entries)` writes a valid `.safetensors` file whose header names the
tensors and whose data is a hole (a sparse file: a 1 GiB checkpoint takes a few KiB of disk);
`fixture_checkpoint(model, directory)` turns a torchvision key list from
`tests/fixtures/torchvision-state-dicts/<model>.json` into such a file. Nothing here imports
shapecli or torch.
"""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "torchvision-state-dicts"
# torch's dtype names -> safetensors' codes, and each code's item size
CODES = {"float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16", "int64": "I64",
         "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL"}
SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def key_list(model: str) -> list:
    """[(name, shape, dtype)] of a torchvision model's state_dict(), in its order."""
    return [tuple(e) for e in json.loads((FIXTURES / f"{model}.json").read_text())["state_dict"]]


def sparse_safetensors(path, entries) -> int:
    """A valid .safetensors file for [(name, shape, dtype)] whose data is a hole; returns its size in bytes."""
    header, offset = {}, 0
    for name, shape, dtype in entries:
        code = CODES[dtype]
        n = SIZES[code]
        for d in shape:
            n *= d
        header[name] = {"dtype": code, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
    os.truncate(path, 8 + len(raw) + offset)
    return 8 + len(raw) + offset


def fixture_checkpoint(model: str, directory) -> Path:
    """`<directory>/<model>.safetensors`: torchvision's key list for `model` as a header-only checkpoint."""
    path = Path(directory) / f"{model}.safetensors"
    sparse_safetensors(path, key_list(model))
    return path
