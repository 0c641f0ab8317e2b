"""A structural copy of the user's model: the copy is run and hooked, the original never is.

`copy.deepcopy` with a memo that hands back the model's own parameter tensors (no weight memory
is copied; ties stay ties), while buffers (BatchNorm's running statistics move in a forward
pass) and lazy, uninitialized parameters (they materialize in the copy) are copied. On the meta
device every tensor becomes a meta tensor of the same shape, dtype and requires_grad.
"""
from __future__ import annotations

import copy
from itertools import chain

from shapecli._torch import nn, torch
from shapecli.errors import UsageError

_Uninit = nn.parameter.UninitializedTensorMixin


def structural_copy(model: nn.Module, meta: bool = False) -> nn.Module:
    """A copy of `model` sharing its parameter tensors (meta: shapes only, nothing shared)."""
    memo: dict = {}
    for p in _tensors(model.named_parameters(remove_duplicate=False)):
        if id(p) in memo:
            continue
        if isinstance(p, _Uninit):
            memo[id(p)] = nn.UninitializedParameter(p.requires_grad, device="meta" if meta else p.device,
                                                    dtype=p.dtype)
        elif meta and not p.is_meta:
            memo[id(p)] = nn.Parameter(torch.empty_like(p, device="meta"), requires_grad=p.requires_grad)
        else:
            memo[id(p)] = p  # the same tensor: a forward under no_grad reads it, never writes it
    for b in _tensors(model.named_buffers(remove_duplicate=False)):
        if id(b) in memo:
            continue
        if isinstance(b, _Uninit):
            memo[id(b)] = nn.UninitializedBuffer(b.requires_grad, device="meta" if meta else b.device, dtype=b.dtype)
        elif meta or b.is_meta:
            memo[id(b)] = torch.empty_like(b, device="meta")
        else:
            memo[id(b)] = b.clone()
    try:
        return copy.deepcopy(model, memo)
    except Exception as e:
        raise UsageError(f"cannot copy the model to inspect it without touching it: {type(e).__name__}: {e}") from e


def _tensors(named):
    return (t for _, t in named)


def device_of(model: nn.Module) -> str:
    """"meta" when any parameter or buffer is on meta, "cpu" when all are on the CPU, else the
    first other device's type."""
    kinds = {t.device.type for t in chain(model.parameters(), model.buffers())}
    if "meta" in kinds:
        return "meta"
    others = sorted(kinds - {"cpu"})
    return others[0] if others else "cpu"


def is_lazy(module: nn.Module) -> bool:
    return any(isinstance(p, _Uninit) for p in chain(module.parameters(recurse=False), module.buffers(recurse=False)))


def nbytes(model: nn.Module) -> int:
    """Parameter and buffer bytes, each tensor once (lazy ones: 0)."""
    seen, total = set(), 0
    for t in chain(model.parameters(), model.buffers()):
        if id(t) in seen or isinstance(t, _Uninit):
            continue
        seen.add(id(t))
        total += t.numel() * t.element_size()
    return total
