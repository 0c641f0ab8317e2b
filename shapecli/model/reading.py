"""What a placeholder reads from its first input, before torch sees it: the checks that put a wrong input in
the spec's terms, the sizes inferred from the data, and the refit check of a later input (no state)."""
from __future__ import annotations

from dataclasses import dataclass

from shapecli import dtypes
from shapecli import layers as registry
from shapecli._torch import torch
from shapecli.errors import ShapeError
from shapecli.shapes import dims_text
from shapecli.spec.nodes import Node


def _device(xs) -> torch.device:
    for x in xs:
        if isinstance(x, torch.Tensor):
            return x.device
    return torch.device("cpu")


def _on_meta(xs) -> bool:
    """Whether the first tensor of `xs` is on meta (`_device(xs).type == "meta"`, ~6x faster)."""
    for x in xs:
        if isinstance(x, torch.Tensor):
            return x.is_meta
    return False


def shape_of(xs) -> str:
    def one(x):
        if isinstance(x, torch.Tensor):
            return dims_text(x.shape)
        if isinstance(x, (tuple, list)):
            return "(" + ", ".join(one(y) for y in x) + ")"
        return type(x).__name__

    return ", ".join(one(x) for x in xs) if len(xs) != 1 else one(xs[0])


_DIMS = {1: "L", 2: "H, W", 3: "D, H, W"}


def check_input(node: Node, xs) -> None:
    """Reject inputs a layer cannot take, in the spec's terms, before torch does."""
    lt = registry.get(node.type)
    need, most = lt.inputs, max(lt.inputs, lt.max_inputs)
    if len(xs) < need or len(xs) > most:  # before torch says "forward() missing ... 'x2'"
        hint = (": give the spec several inputs, e.g. `input: [[2, 10], [2, 20]]` or --input '2,10;2,20', "
                "or name the tensors it reads with `in: [a, b]`") if need > 1 else ""
        if node.type == "MultiheadAttention" and len(xs) == 1:  # self-attention: query, key and value are x
            heads = node.kwargs.get("num_heads", node.args[0] if node.args else "...")
            hint = (f"; for self-attention on one tensor write `- SelfAttention: {{num_heads: {heads}}}` "
                    "(embed_dim is inferred; it returns the output tensor only), or give query, key and value "
                    "with `in: [q, k, v]`")
        if len(xs) > most and need == 1 and lt.max_inputs < 2 and node.ins is None:
            hint = "; name the tensor it reads with `in: name`"
        want = f"{need} to {most}" if most > need else f"{need}"
        raise ShapeError(f"takes {want} input tensor{'s' if most > 1 else ''}; got {len(xs)} ({shape_of(xs)}){hint}")
    for j, x in enumerate(xs):
        if isinstance(x, (tuple, list)) and not lt.takes_tuple and not (j >= lt.inputs and node.type == "LSTM"):
            raise ShapeError(f"gets a tuple {shape_of([x])} from the layer before; add `- Item: 0` to pick one output")
    x = xs[0] if xs else None
    if not isinstance(x, torch.Tensor):
        return
    ranks = lt.ranks
    if ranks and x.dim() not in ranks:
        n = ranks[-1] - 2  # spatial dims of the batched form
        want = f"[N, C, {_DIMS[n]}]" + (f" (or [C, {_DIMS[n]}] unbatched)" if len(ranks) > 1 else "")
        raise ShapeError(f"expects a {ranks[-1]}-D input {want}; got {list(x.shape)}")
    if not x.is_floating_point() and lt.dtype == "float":
        raise ShapeError(f"gets {str(x.dtype).replace('torch.', '')} input {list(x.shape)}; token ids go into an Embedding first")


def infer(rule, xs, spatial: int) -> int:
    if isinstance(rule, tuple):
        i, d = rule
        if i >= len(xs):
            raise ShapeError(f"takes {i + 1} inputs; got {len(xs)}")
        x = xs[i]
    else:
        x, d = xs[0], rule
    if d == "C":
        d = -(spatial + 1)
    if not isinstance(x, torch.Tensor) or x.dim() < (abs(d) if d < 0 else d + 1):
        raise ShapeError(f"cannot read its size from an input of shape {shape_of([x])}")
    return int(x.shape[d])


def _matches(given, actual, xs, rule) -> bool:
    if isinstance(given, (list, tuple)):  # LayerNorm's normalized_shape: the trailing dims
        return list(xs[0].shape[-len(given):]) == list(given)
    return given == actual


def check_refit(node: Node, inferred: dict, xs) -> None:
    """For inputs after the first: the materialized sizes must fit the new data."""
    lt = registry.get(node.type)
    for inf in lt.inferred:
        if inf.arg in inferred and inf.arg not in lt.loose:
            actual = infer(inf.dim, xs, lt.spatial)
            if actual != inferred[inf.arg]:
                raise ShapeError(f"was materialized for {inferred[inf.arg]} {inf.words}; this input has {actual}")


@dataclass
class Reading:
    """What a placeholder reads from its first input. Equal layers (a repeat's copies) given inputs of one
    shape, dtype and device share one, which nothing changes."""

    kwargs: dict  # the constructor's arguments, the inferred sizes included
    args: dict  # the same as JSON data (tuples as lists, dtypes by name): the report's `args`
    sizes: dict  # every data-dependent size it is built for, given or inferred (loose ones left out)
    inferred: dict  # the sizes read from the data, not given
    key: object  # (class, arguments), hashable: equal layers share probes and templates; None where unhashable


def read(node: Node, bound, xs, memo: dict) -> Reading:
    """check_input, then the sizes the data gives `node` (bound: model/args.Bound): from `memo` where an equal
    layer read inputs of the same shapes, dtypes and devices (10,000 Linear+ReLU pairs: 2 readings)."""
    key = None
    if bound.kin is not None:
        sig = []
        for x in xs:
            if type(x) is not torch.Tensor:  # a tuple, a tensor subclass: read afresh
                break
            sig.append((x.shape, x.dtype, x.device))
        else:
            key = (bound.kin, tuple(sig))
            found = memo.get(key)
            if found is not None:
                return found
    check_input(node, xs)
    lt = registry.get(node.type)
    kwargs, sizes, inferred = dict(bound.kwargs), {}, {}
    for inf in lt.inferred:
        arg = inf.arg
        actual = infer(inf.dim, xs, lt.spatial)
        given = bound.given_inferred.get(arg)
        if given is not None:
            if arg not in lt.loose and not _matches(given, actual, xs, inf.dim):
                raise ShapeError(f"{arg}={given} was given, but its input {shape_of(xs)} has {actual} {inf.words}")
            kwargs[arg] = given
        else:
            kwargs[arg] = actual
            inferred[arg] = actual
        if arg not in lt.loose:
            sizes[arg] = actual
    r = Reading(kwargs, {k: plain_value(v) for k, v in kwargs.items()}, sizes, inferred, _layer_key(bound.cls, kwargs))
    if key is not None:
        memo[key] = r
    return r


def _layer_key(cls, kwargs: dict):
    """(class, arguments) as a dict key: by value, a list argument (kernel_size: [3, 3]) by its text, or None."""
    try:
        key = (cls, tuple(sorted(kwargs.items())))
        hash(key)
        return key
    except TypeError:
        try:
            return (cls, repr(sorted(kwargs.items())))
        except TypeError:  # arguments that do not sort
            return None


def plain_value(v):
    """A constructor argument as JSON data: tuples as lists, dtypes by name."""
    if isinstance(v, torch.dtype):
        return dtypes.torch_name(v)
    if isinstance(v, (tuple, list)):
        return [plain_value(x) for x in v]
    return v
