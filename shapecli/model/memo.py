"""The meta shape memo: on meta, a layer kind given inputs of the same shapes runs once (a 96-block GPT-3
runs each kind of layer once, not 96 times)."""
from __future__ import annotations

from shapecli._torch import torch


def _memo_forward(layer, xs):  # layer: a model.lazy.Deferred, already built
    """On meta only shapes exist, so a layer built with the same arguments, given inputs of the
    same shapes, strides and dtypes, gives outputs of the same shapes, strides and dtypes: each
    distinct case runs once (a 96-block GPT-3 runs each kind of layer once, not 96 times)."""
    inputs = _meta_desc(xs)
    key = None if inputs is None else (layer.bound.cls, _frozen(layer.args), inputs)
    try:
        hit = layer.ctx.memo.get(key) if key is not None else None
    except TypeError:  # an unhashable argument: run it
        key = hit = None
    if hit is not None:
        return _meta_like(hit)
    out = layer.real(*xs)
    if key is not None:
        desc = _meta_desc(out)
        if desc is not None:
            layer.ctx.memo[key] = desc
    return out


def _meta_desc(x):
    """Hashable metadata of a meta tensor or a (nested) tuple/list of them; None if not that."""
    if isinstance(x, torch.Tensor):
        return ("T", tuple(x.shape), x.stride(), x.dtype) if x.is_meta and not x.requires_grad else None
    if type(x) in (tuple, list):
        items = tuple(_meta_desc(y) for y in x)
        return None if any(i is None for i in items) else (type(x), items)
    if x is None:
        return ("N",)
    return None


def _meta_like(desc):
    if desc[0] == "T":
        _, shape, stride, dtype = desc
        return torch.empty_strided(shape, stride, dtype=dtype, device="meta")
    if desc[0] == "N":
        return None
    kind, items = desc
    return kind(_meta_like(d) for d in items)


def _frozen(v):
    if isinstance(v, dict):
        return tuple(sorted((k, _frozen(x)) for k, x in v.items()))
    if isinstance(v, list):
        return tuple(_frozen(x) for x in v)
    return v
