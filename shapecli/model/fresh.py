"""nn.Module instances made without their `__init__`: placeholders and plain Sequentials take a fresh
nn.Module's state directly (nn.Module.__init__ and its checked __setattr__ cost ~10 µs a module)."""
from __future__ import annotations

import math

from shapecli._torch import nn, torch

_STATE: tuple = ()  # nn.Module.__init__'s attributes as set, and (name, type) of each of its containers (_state)


def _state() -> tuple:
    global _STATE
    if not _STATE:  # equal tuples from any thread
        attrs = vars(nn.Module())
        _STATE = (dict(attrs), tuple((k, type(v)) for k, v in attrs.items() if isinstance(v, (dict, set, list))))
    return _STATE


def module_state() -> dict:
    """The attributes nn.Module.__init__ sets, fresh: the same names in its order, a new empty
    dict/OrderedDict/set for each container, the same plain values (`training`), taken once from a real
    nn.Module() of the installed torch (tests/test_model.py compares them). A copy of its attributes with
    the containers replaced, not a 17-entry comprehension: 50,000 modules in a 10,000-pair spec."""
    proto, kinds = _STATE or _state()
    state = proto.copy()
    for k, kind in kinds:  # every container of the prototype replaced: none is shared
        state[k] = kind()
    return state


_MUTABLE = (list, dict, set)


class Template:
    """What a constructed layer without children is made of, to make equal layers from (copy_of): its class,
    its plain attributes (nn.Module's own plain values among them), and its parameters' and buffers' names,
    shapes, dtypes, strides and requires_grad. It holds none of the layer's tensors (see _sources)."""

    __slots__ = ("cls", "plain", "mutable", "params", "buffers", "transient", "usable", "recipe", "sources")

    def __init__(self, layer: nn.Module):
        fresh = {k for k, _ in (_STATE or _state())[1]}  # nn.Module's containers: new ones per copy
        self.cls = type(layer)
        self.plain = {k: v for k, v in vars(layer).items() if k not in fresh}
        self.mutable = tuple(k for k, v in self.plain.items() if type(v) in _MUTABLE)
        self.params = tuple((k, None if p is None else (p.shape, p.dtype, p.stride(), p.requires_grad))
                            for k, p in layer._parameters.items())
        self.buffers = tuple((k, None if b is None else (b.shape, b.dtype, b.stride())) for k, b in layer._buffers.items())
        self.transient = frozenset(layer._non_persistent_buffers_set)
        # a copy has no children, and its values come from reset_parameters(): a layer with children, or with
        # tensors and no reset_parameters() (a record registered as `copies` by mistake), is constructed
        self.usable = not layer._modules and (not (self.params or self.buffers)
                                              or callable(getattr(self.cls, "reset_parameters", None)))
        self.recipe = _UNREAD  # what reset_parameters() writes (recipe_of), read on the first copy
        self.sources: dict = {}  # device -> (parameters' sources, buffers' sources): _sources


def copy_of(template: Template, device) -> nn.Module:
    """A new layer like the one `template` was taken from: the same class and plain attributes (a list,
    dict or set copied), a fresh nn.Module state (no hooks), and parameters and buffers of its own, of the
    same names, shapes, dtypes, strides and requires_grad, on `device`, with no values: the caller's
    `reset_parameters()` writes them all. Only for the layer types whose record says `copies`
    (layers/record.py): their __init__ allocates, then writes every parameter and buffer in
    reset_parameters(), drawing every random value there (tests/test_layers.py checks each type's copy
    against its constructor)."""
    cls = template.cls
    layer = cls.__new__(cls)
    state = layer.__dict__
    state.update(template.plain)
    for k, kind in (_STATE or _state())[1]:
        state[k] = kind()
    for k in template.mutable:  # Unflatten's unflattened_size list: a list of its own
        state[k] = type(state[k])(state[k])
    if not (template.params or template.buffers):  # ReLU
        return layer
    sources = template.sources.get(device) or _sources(template, device)
    params = state["_parameters"]
    for (k, p), src in zip(template.params, sources[0]):
        # nn.Parameter(data, requires_grad) is this call for a plain tensor, without its Python frame
        params[k] = None if p is None else _parameter(nn.Parameter, _EMPTY_LIKE(src) if src is not None else
                                                      torch.empty(p[0], dtype=p[1], device=device), p[3])
    if template.buffers:
        buffers = state["_buffers"]
        for (k, b), src in zip(template.buffers, sources[1]):
            buffers[k] = None if b is None else _EMPTY_LIKE(src) if src is not None else torch.empty(b[0], dtype=b[1], device=device)
        state["_non_persistent_buffers_set"].update(template.transient)
    return layer


_EMPTY_LIKE = torch.empty_like
_parameter = torch.Tensor._make_subclass


def _sources(template: Template, device) -> tuple:
    """Per parameter and buffer of `template`, a tensor that torch.empty_like turns into a new one of its
    shape, dtype and strides on `device`: one element expanded to the shape (no memory of its size); None
    where empty_like would give other strides (no elements, or not contiguous), which torch.empty then
    makes. empty_like takes ~2 µs, torch.empty(shape, dtype=, device=) ~4 µs (20,000 tensors of a
    10,000-pair spec)."""
    def source(t):
        if t is None or not math.prod(t[0]):
            return None
        src = torch.empty((), dtype=t[1], device=device).expand(t[0])
        return src if _EMPTY_LIKE(src).stride() == t[2] else None
    template.sources[device] = out = ([source(p) for _, p in template.params], [source(b) for _, b in template.buffers])
    return out


# ---------------------------------------------------------------------------- what reset_parameters() writes

_UNREAD = object()
_RANDOM = {"aten.uniform_.default": "uniform_", "aten.normal_.default": "normal_"}  # aten op -> Tensor method; draws
_PLAIN = {"aten.fill_.Scalar": "fill_", "aten.zero_.default": "zero_"}  # draws nothing


def recipe_of(template: Template):
    """What `reset_parameters()` writes into a copy of `template`, as a tuple of (parameter?, name, Tensor
    method, arguments, draws?) in its order, recorded once on a meta copy (no values, no RNG): each op is
    uniform_/normal_/fill_/zero_ on one of the layer's own tensors with plain arguments (nn.init's kaiming,
    xavier, ones, zeros, ... come to these). None where it does anything else (makes a tensor, writes a view,
    reads values, passes its own generator): such a copy is reset by reset_parameters() itself.

    Replayed on the build's own initial-value generator (replay), a recipe writes what reset_parameters()
    would with the global RNG at that generator's state, bit for bit, without the two RNG swaps and
    nn.init's Python around the draws (tests/test_layers.py checks each type of a `copies` record)."""
    if template.recipe is not _UNREAD:
        return template.recipe
    if not (template.params or template.buffers):  # nothing to write (ReLU)
        template.recipe = ()
        return ()
    from torch.utils._python_dispatch import TorchDispatchMode

    layer = copy_of(template, torch.device("meta"))
    own = {id(t): (True, k) for k, t in layer._parameters.items() if t is not None}
    own.update((id(t), (False, k)) for k, t in layer._buffers.items() if t is not None)
    steps: list = []

    class _Record(TorchDispatchMode):  # thread-local: torch keeps the dispatch mode stack per thread
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = str(func)  # "aten.uniform_.default"
            method = _RANDOM.get(name) or _PLAIN.get(name)
            target = own.get(id(args[0])) if args and isinstance(args[0], torch.Tensor) else None
            plain = all(isinstance(a, (int, float)) for a in args[1:]) and all(v is None for v in (kwargs or {}).values())
            if method is not None and target is not None and plain:
                steps.append((*target, method, tuple(args[1:]), name in _RANDOM))
            else:
                steps.append(None)  # anything else: no recipe
            return func(*args, **(kwargs or {}))

    try:
        with _Record():
            layer.reset_parameters()
    except Exception:  # reset_parameters() that cannot run on meta (reads values): reset by itself
        steps.append(None)
    template.recipe = None if None in steps else tuple(steps)
    return template.recipe


def replay(layer: nn.Module, recipe: tuple, generator) -> None:
    """Write `recipe` (recipe_of) into `layer`, a copy of its template, drawing from `generator`."""
    params, buffers = layer._parameters, layer._buffers
    grad = torch.is_grad_enabled()
    if grad:  # in-place writes to parameters: as nn.init, without autograd
        torch.set_grad_enabled(False)
    try:
        for is_param, name, method, args, draws in recipe:
            t = params[name] if is_param else buffers[name]
            if draws:
                getattr(t, method)(*args, generator=generator)
            else:
                getattr(t, method)(*args)
    finally:
        if grad:
            torch.set_grad_enabled(True)
