"""The lazy model's parameters before data arrives, as PyTorch's lazy modules show them.

Each `Deferred` layer declares the parameters and buffers its real layer will have, under the
same names, as `torch.nn.UninitializedParameter` / `UninitializedBuffer` (a layer with a
submodule, MultiheadAttention's `out_proj`, gets a placeholder submodule of that name). So
`named_parameters()` of a lazy model lists every parameter, a count raises ("Can't access the
shape of an uninitialized parameter..."), and `state_dict()` shows them as PyTorch's lazy modules
do. `load_state_dict` of a materialized state dict materializes them with its shapes (strict
works: the keys are the real layer's), as LazyModuleMixin's `_lazy_load_hook` does; the first
input then builds the real layer, checks that its shapes are the loaded ones and copies the
loaded values into it.

The names come from a probe: the layer constructed on meta (no memory, no init) with a stand-in
for each size the data would give; probes of equal layers are shared within a build.
"""
from __future__ import annotations

import itertools

from shapecli import layers as registry
from shapecli._torch import nn, torch
from shapecli.errors import ShapeError
from shapecli.model.owned import LazySave, _lazy
from shapecli.model.skipinit import skip_init

_STAND_INS = (8, 64, 720720)  # sizes that divide by the usual groups and head counts


class Slot(LazySave, nn.Module):
    """A placeholder submodule: holds the uninitialized parameters of a real layer's submodule."""

    def forward(self, *xs):
        raise ShapeError("an uninitialized placeholder cannot run: the model materializes from its first input")


def declare(layer: nn.Module, probes: dict, root: nn.Module) -> None:
    """Register `layer`'s uninitialized parameters and buffers (a Deferred's), and the load hook."""
    found = _probe(layer, probes)
    if found is None:
        return
    params, buffers = found
    tied = _tied_weight(layer, root)
    for name, dtype, grad in params:
        owner, local = _owner(layer, name)
        if tied is not None and name == "weight":
            owner.register_parameter(local, tied)
        else:
            owner.register_parameter(local, nn.UninitializedParameter(requires_grad=grad and not layer.freeze,
                                                                      dtype=dtype))
    for name, dtype, persistent in buffers:
        owner, local = _owner(layer, name)
        owner.register_buffer(local, nn.UninitializedBuffer(dtype=dtype), persistent=persistent)
    layer.register_load_state_dict_pre_hook(_materialize_loaded)


def _tied_weight(layer, root):
    if not layer.node.tie:
        return None
    try:
        target = root.get_submodule(layer.node.tie)
    except AttributeError:
        return None
    return getattr(target, "_parameters", {}).get("weight")


def _owner(layer: nn.Module, name: str):
    *mods, local = name.split(".")
    owner = layer
    for m in mods:
        if m not in owner._modules:
            owner.add_module(m, Slot())
        owner = owner._modules[m]
    return owner, local


def _probe(layer, probes: dict):
    """([(name, dtype, requires_grad)], [(name, dtype, persistent)]) of the real layer, or None."""
    bound, lt = layer.bound, registry.get(layer.node.type)
    try:
        key = (bound.cls, tuple(sorted((k, repr(v)) for k, v in bound.kwargs.items())),
               tuple(sorted(bound.given_inferred.items())))
        hash(key)
    except TypeError:
        key = None
    if key is not None and key in probes:
        return probes[key]
    sizes = [v for v in bound.kwargs.values() if type(v) is int and v > 1]
    found = None
    for stand_in in itertools.chain(_STAND_INS, sizes):
        kwargs = dict(bound.kwargs)
        for inf in lt.inferred:
            given = bound.given_inferred.get(inf.arg)
            kwargs[inf.arg] = given if given is not None else stand_in
        try:
            with torch.device("meta"), skip_init():
                real = bound.cls(**kwargs)
        except Exception:  # noqa: BLE001 - another stand-in may fit; the first input reports for real
            continue
        persistent = {n for n, _ in real.named_buffers()} - {
            f"{p}.{b}" if p else b for p, m in real.named_modules() for b in m._non_persistent_buffers_set}
        found = ([(n, t.dtype, t.requires_grad) for n, t in real.named_parameters()],
                 [(n, t.dtype, n in persistent) for n, t in real.named_buffers()])
        break
    if key is not None:
        probes[key] = found
    return found


def _materialize_loaded(layer, state_dict, prefix, local_metadata, strict, missing, unexpected, errors) -> None:
    """load_state_dict pre-hook of a Deferred (as LazyModuleMixin._lazy_load_hook): each
    uninitialized tensor with a loaded value takes the loaded shape; torch then copies the values."""
    for name, t in itertools.chain(layer.named_parameters(remove_duplicate=False), layer.named_buffers()):
        value = state_dict.get(prefix + name)
        if value is not None and _lazy(t) and not _lazy(value):
            with torch.no_grad():
                t.materialize(value.shape, dtype=t.dtype)


def loaded(layer: nn.Module) -> dict:
    """{name: tensor} of the placeholders a state dict materialized (copied into the real layer)."""
    return {n: t for n, t in itertools.chain(layer.named_parameters(remove_duplicate=False), layer.named_buffers())
            if not _lazy(t)}


def copy_loaded(values: dict, real: nn.Module) -> None:
    """Copy loaded values into the real layer built from data, after checking their shapes."""
    own = dict(itertools.chain(real.named_parameters(remove_duplicate=False), real.named_buffers()))
    for name, value in values.items():
        t = own.get(name)
        if t is None:
            continue
        if t.shape != value.shape:
            raise ShapeError(f"the loaded {name} is {list(value.shape)}, but this input makes it {list(t.shape)}")
        with torch.no_grad():
            t.copy_(value)
