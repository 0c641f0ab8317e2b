"""Sample input tensors for a run, and descriptions of the tensors a run produces."""
from __future__ import annotations

import math

from shapecli import dtypes
from shapecli._torch import torch
from shapecli.report import (
    TensorInfo,
)


def _dtype(name: str) -> torch.dtype:
    """The torch dtype of an input dtype name (one of dtypes.INPUT; KeyError for any other)."""
    if name not in dtypes.INPUT:
        raise KeyError(name)
    return getattr(torch, name)


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
        return TensorInfo(list(x.shape), dtypes.torch_name(x.dtype))
    if isinstance(x, (tuple, list)):
        return [describe(y) for y in x]
    return None
