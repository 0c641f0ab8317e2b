"""nn.Module instances made without their `__init__`: placeholders and plain Sequentials take a fresh
nn.Module's state directly (nn.Module.__init__ and its checked __setattr__ cost ~10 µs a module)."""
from __future__ import annotations

from shapecli._torch import nn, torch

_STATE: tuple = ()  # nn.Module.__init__'s attributes: (name, the type of a fresh container or None, value)


def module_state() -> dict:
    """The attributes nn.Module.__init__ sets, fresh: the same names, a new empty dict/OrderedDict/set for
    each container, the same plain values (`training`), taken once from a real nn.Module() of the installed
    torch (tests/test_model.py compares them)."""
    global _STATE
    if not _STATE:  # the same tuple from any thread
        _STATE = tuple((k, type(v) if isinstance(v, (dict, set, list)) else None, v) for k, v in vars(nn.Module()).items())
    return {k: (fresh() if fresh is not None else v) for k, fresh, v in _STATE}


_MUTABLE = (list, dict, set)


class Template:
    """What a constructed layer without children is made of, to make equal layers from (copy_of): its class,
    its plain attributes (nn.Module's own plain values among them), and its parameters' and buffers' names,
    shapes, dtypes and requires_grad. It holds no tensor."""

    __slots__ = ("cls", "plain", "mutable", "params", "buffers", "transient", "usable")

    def __init__(self, layer: nn.Module):
        module_state()  # _STATE, once
        fresh = {k for k, f, _ in _STATE if f is not None}  # nn.Module's containers: new ones per copy
        self.cls = type(layer)
        self.plain = {k: v for k, v in vars(layer).items() if k not in fresh}
        self.mutable = tuple(k for k, v in self.plain.items() if type(v) in _MUTABLE)
        self.params = tuple((k, None if p is None else (p.shape, p.dtype, p.requires_grad))
                            for k, p in layer._parameters.items())
        self.buffers = tuple((k, None if b is None else (b.shape, b.dtype)) for k, b in layer._buffers.items())
        self.transient = frozenset(layer._non_persistent_buffers_set)
        # a copy has no children, and its values come from reset_parameters(): a layer with children, or with
        # tensors and no reset_parameters() (a record registered as `copies` by mistake), is constructed
        self.usable = not layer._modules and (not (self.params or self.buffers)
                                              or callable(getattr(self.cls, "reset_parameters", None)))


def copy_of(template: Template, device) -> nn.Module:
    """A new layer like the one `template` was taken from: the same class and plain attributes (a list,
    dict or set copied), a fresh nn.Module state (no hooks), and parameters and buffers of its own, of the
    same names, shapes, dtypes and requires_grad, on `device`, with no values: the caller's
    `reset_parameters()` writes them all. Only for the layer types whose record says `copies`
    (layers/record.py): their __init__ allocates, then writes every parameter and buffer in
    reset_parameters(), drawing every random value there (tests/test_layers.py checks each type's copy
    against its constructor)."""
    cls = template.cls
    layer = cls.__new__(cls)
    state = layer.__dict__
    state.update(template.plain)
    for k, fresh, _ in _STATE:
        if fresh is not None:
            state[k] = fresh()
    for k in template.mutable:  # Unflatten's unflattened_size list: a list of its own
        state[k] = type(state[k])(state[k])
    params = state["_parameters"]
    for k, p in template.params:
        params[k] = None if p is None else nn.Parameter(torch.empty(p[0], dtype=p[1], device=device), p[2])
    if template.buffers:
        buffers = state["_buffers"]
        for k, b in template.buffers:
            buffers[k] = None if b is None else torch.empty(b[0], dtype=b[1], device=device)
        state["_non_persistent_buffers_set"].update(template.transient)
    return layer
