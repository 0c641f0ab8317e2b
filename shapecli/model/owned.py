"""Owned tensors at run time: a container's `Parameter:`/`Buffer:` items (spec/tensors.py).

The container (a glue.Chain, or the Network) registers each tensor on itself under the item's
name, as an nn.Module registers `self.class_token = nn.Parameter(...)`: its own tensors come
before its children's in `named_parameters()` and `state_dict()`. Until data arrives a tensor is
an `UninitializedParameter` / `UninitializedBuffer` (as PyTorch's lazy modules show theirs); when
the data reaches the item, the `_` dims are read from it, the tensor is materialized on the data's
device and filled by its scheme, drawing from the RNG then (the module order, as the layers do).
The tensor is then written on the tape for the merges whose `from:` reads it. Once every tensor of a
container is built, the container keeps no reference to the build.
"""
from __future__ import annotations

from dataclasses import dataclass

from shapecli._torch import nn, torch
from shapecli.errors import Problem, ShapeError
from shapecli.model.context import init_stream


@dataclass(frozen=True)
class Owned:
    """One tensor a container owns: where it sits among the container's items, and its declaration."""

    name: str  # the attribute name (the item's `name:`)
    path: str  # the item's path: how `from:` and the report name it
    at: int  # the index of the child module it comes before (len(children): after the last)
    decl: object  # spec.tensors.TensorDecl
    freeze: bool = False
    loc: object = None  # where the item was written: errors name it (errors.Loc)


class LazySave:
    """`state_dict()` keeps uninitialized tensors as they are (LazyModuleMixin._save_to_state_dict)."""

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        for name, t in self._parameters.items():
            if t is not None:
                destination[prefix + name] = t if keep_vars or _lazy(t) else t.detach()
        for name, t in self._buffers.items():
            if t is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = t if keep_vars or _lazy(t) else t.detach()


def register(module: nn.Module, owned: list) -> None:
    """Declare `owned` on `module` as uninitialized tensors (their order is the declarations')."""
    for o in owned:
        d = o.decl
        dtype = getattr(torch, d.dtype)
        if d.kind == "Parameter":
            module.register_parameter(o.name, nn.UninitializedParameter(requires_grad=not o.freeze, dtype=dtype))
        else:
            module.register_buffer(o.name, nn.UninitializedBuffer(dtype=dtype), persistent=d.persistent)


def _lazy(t) -> bool:
    return isinstance(t, nn.parameter.UninitializedTensorMixin)


def reach(module: nn.Module, o: Owned, x, tape: dict, build) -> None:
    """The data `x` reaches item `o`: build its tensor if it is still uninitialized; put it on the tape."""
    t = getattr(module, o.name)
    if _lazy(t):
        t = materialize(module, t, o, x, build)
    elif build is not None and o.decl.inferred and isinstance(x, torch.Tensor):  # loaded before any data
        want = o.decl.resolve(list(x.shape))
        if list(t.shape) != want:
            raise ShapeError(Problem(f"the loaded {o.name} is {list(t.shape)}, but this input makes it {want}", o.loc,
                                     f"{o.path} ({o.decl.kind})"))
    tape[o.path] = t


def load_hook(module, state_dict, prefix, local_metadata, strict, missing, unexpected, errors) -> None:
    """load_state_dict pre-hook (as LazyModuleMixin's): an uninitialized tensor with a loaded value
    takes the loaded shape; torch then copies the values."""
    for name, t in (*module._parameters.items(), *module._buffers.items()):
        value = state_dict.get(prefix + name)
        if value is not None and _lazy(t) and not _lazy(value):
            with torch.no_grad():
                t.materialize(value.shape, dtype=t.dtype)


def materialize(module: nn.Module, t, o: Owned, x, build):
    """The real tensor, registered in the placeholder's place (same name, same position)."""
    d = o.decl
    if not isinstance(x, torch.Tensor):
        raise ShapeError(Problem("its input is a tuple; add `- Item: 0` before it to pick a tensor", o.loc,
                                 f"{o.path} ({d.kind})"))
    try:
        shape = d.resolve(list(x.shape))
    except ValueError as e:
        raise ShapeError(Problem(str(e), o.loc, f"{o.path} ({d.kind})")) from None
    device = x.device
    if build is not None:
        build.charge(o.path, shape, t.dtype, device)
    with torch.no_grad():
        data = torch.empty(shape, device=device, dtype=t.dtype)
        if device.type != "meta":
            if build is None:
                raise ShapeError(Problem("built outside a shapecli build", o.loc, f"{o.path} ({d.kind})"))
            with init_stream(build):  # the initial values' own RNG stream, as the layers draw theirs
                build.fill(data, d)
    if d.kind == "Parameter":
        module.register_parameter(o.name, nn.Parameter(data, requires_grad=t.requires_grad))
    else:
        module.register_buffer(o.name, data, persistent=d.persistent)
    if build is not None:
        build.built_tensor(o, shape)
    return getattr(module, o.name)


def pending(module: nn.Module) -> bool:
    return any(_lazy(t) for t in (*module._parameters.values(), *module._buffers.values()) if t is not None)
