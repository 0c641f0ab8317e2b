"""Sample input tensors for a run, and descriptions of the tensors a run produces."""
from __future__ import annotations

import math

from shapecli._torch import torch
from shapecli.report import (
    TensorInfo,
)


def _dtype(name: str) -> torch.dtype:
    return {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
            "bfloat16": torch.bfloat16, "int64": torch.int64, "int32": torch.int32, "int16": torch.int16,
            "int8": torch.int8, "uint8": torch.uint8, "bool": torch.bool, "complex64": torch.complex64}[name]


def _bytes(spec_inputs: list) -> int:
    return sum(math.prod(i.shape) * torch.empty((), dtype=_dtype(i.dtype)).element_size() for i in spec_inputs)


def make_inputs(sample: list, device: str, seed: int) -> list:
    """Tensors for one sample: standard normal floats (own generator: the global RNG is for init), zero ids."""
    g = torch.Generator().manual_seed(seed + 1)
    out = []
    for s in sample:
        dt = _dtype(s.dtype)
        if device == "meta":
            out.append(torch.empty(s.shape, dtype=dt, device="meta"))
        elif dt.is_floating_point:
            out.append(torch.randn(s.shape, generator=g, dtype=dt))
        else:
            out.append(torch.zeros(s.shape, dtype=dt))  # valid ids for any vocabulary
    return out


def describe(x):
    if isinstance(x, torch.Tensor):
        return TensorInfo(list(x.shape), str(x.dtype).replace("torch.", ""))
    if isinstance(x, (tuple, list)):
        return [describe(y) for y in x]
    return None
