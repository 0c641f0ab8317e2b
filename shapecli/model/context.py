"""The state a lazy model's placeholders share while it materializes, the budget's exception, and the
initial values' own RNG stream."""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

from shapecli._torch import nn, torch


class OverBudget(Exception):
    """Real allocation would exceed the memory budget: the caller retries on the meta device."""


@dataclass
class BuildContext:
    """State shared by a model's placeholders during materialization."""

    budget_bytes: float = math.inf  # real (non-meta) parameter + buffer bytes allowed
    used_bytes: int = 0
    trace: list = field(default_factory=list)  # materialization order, for --trace-init
    tape: dict = field(default_factory=dict)  # outputs of items referenced by `from:` (glue.Chain writes them)
    root: nn.Module | None = None
    pending: bool = True  # placeholders not yet swapped out
    schemes: dict = field(default_factory=dict)  # layer path -> {local param name: InitScheme | None}
    guard: object = None  # refuses outputs over the budget: called by each placeholder before its real layer
    guarded: list = field(default_factory=list)  # the real layers the guard applies to, not yet hooked (guard_swapped)
    on_built: object = None  # called with (path, layer) once a layer is built, initialized and tied
    memo: dict = field(default_factory=dict)  # meta: (layer kind, input shapes) -> output shapes (model/memo.py)
    handles: list = field(default_factory=list)  # the guard's hook handles (guard_swapped): the run removes them when it ends
    init_gen: object = None  # the initial values' own stream (init_stream): a CPU torch.Generator, from the first input on
    probe_bytes: dict = field(default_factory=dict)  # (class, arguments) -> bytes of a meta probe (Deferred._probe_bytes)
    readings: dict = field(default_factory=dict)  # (Bound.kin, input shapes) -> reading.Reading, shared by equal layers
    templates: dict = field(default_factory=dict)  # ((class, arguments), device, default dtype) -> fresh.Template (Deferred._new_layer)
    placeholders: bool = True  # declare uninitialized parameters (placeholder.py); the engine's own runs skip it
    slots: list = field(default_factory=list)  # (parent, key, placeholder) not yet swapped out (lazy.finalize)
    _default: object = None  # torch's default device, once asked (default_device)

    def default_device(self, device) -> bool:
        """Whether `device` is torch's default device (torch.get_default_device(), asked once per build:
        ~4 µs a call; a `torch.device(...)` context would cost a Python call per torch op)."""
        if self._default is None:
            get = getattr(torch, "get_default_device", None)  # torch >= 2.3
            self._default = get() if get is not None else False
        return self._default == device

    def init_generator(self):
        """The initial values' own stream: a CPU generator at the global RNG's state when the first input
        entered the model (lazy._Finalize.start), or now, for a placeholder called on its own."""
        if self.init_gen is None:
            with RNG_LOCK:
                self.init_gen = generator_at(torch.get_rng_state())
        return self.init_gen

    def charge(self, path: str, shape: list, dtype, device) -> None:
        """Count a tensor about to be allocated against the budget (real devices only)."""
        if device.type != "meta":
            self.used_bytes += math.prod(shape) * dtype.itemsize
            if self.used_bytes > self.budget_bytes:
                raise OverBudget(path)

    def fill(self, t, decl) -> None:
        """An owned tensor's declared values: `arange` (0, 1, 2, ... along the last dim) or its init scheme."""
        from shapecli._torch import torch
        from shapecli.analyses.init.apply import apply_scheme
        from shapecli.errors import ShapeError

        if decl.fill == "arange":
            t.copy_(torch.arange(t.shape[-1], device=t.device).expand(t.shape))
            return
        try:
            apply_scheme(t, decl.init)
        except ValueError as e:
            raise ShapeError(f"init: {e}") from None

    def built_tensor(self, o, shape: list) -> None:
        """An owned tensor (model/owned.py) was built: trace it as a layer, for the report and export."""
        d = o.decl
        inferred = {"shape": shape} if d.inferred else {}
        self.schemes[o.path] = {o.name: d.init} if d.kind == "Parameter" else {}
        args = {"shape": shape, "dtype": d.dtype, "init": d.describe()}
        if d.kind == "Buffer":
            args["persistent"] = d.persistent
        self.trace.append({"order": len(self.trace), "layer": o.path, "type": d.kind, "inferred": inferred,
                           "sizes": {}, "schemes": {o.name: d.describe()}, "args": args})
        if self.on_built is not None and d.kind == "Parameter":
            self.on_built(o.path, _Holds(o.name, self.root.get_parameter(o.path)))


class _Holds:
    """One owned parameter, shown to BuildContext.on_built as a layer with that parameter."""

    def __init__(self, name: str, prm):
        self.name, self.prm = name, prm

    def named_parameters(self):
        return [(self.name, self.prm)]

    def buffers(self):
        return []


# The global RNG's one lock: the run engine's forks (run/rng.py) and every initial-value stream switch hold it,
# so two models materializing on two threads never restore each other's RNG state mid-switch.
RNG_LOCK = threading.RLock()


def generator_at(state):
    """A new CPU torch.Generator at `state` (a torch.get_rng_state()): it draws what the global RNG would."""
    gen = torch.Generator()
    gen.set_state(state)
    return gen


class init_stream:
    """The block draws initial values from their own stream of the global CPU RNG, which starts
    where the RNG stood when the first input entered the model (_Finalize.start) and which only
    initialization advances: the global RNG is switched to the stream's generator (ctx.init_gen) and
    back (a copy with a recipe draws from that generator directly: model/fresh.py replay). What the
    first forward draws between two layers (Dropout's masks, RReLU's slopes) then leaves every later
    layer's initial values as they were: equal, for one seed, to those of the same layers constructed
    in order (an exported module's). (A class, not a generator: contextlib's machinery cost more than
    the swap itself, once per layer.) It holds RNG_LOCK:
    without it, placeholders of two models built with `build()` and run on two threads at once restored
    each other's states, and layers of one model started with equal weights (tests/test_threads.py)."""

    __slots__ = ("ctx", "outer")

    def __init__(self, ctx: BuildContext):
        self.ctx = ctx

    def __enter__(self):
        RNG_LOCK.acquire()
        try:
            gen = self.ctx.init_generator()
            self.outer = torch.get_rng_state()
            torch.set_rng_state(gen.get_state())
        except BaseException:
            RNG_LOCK.release()
            raise

    def __exit__(self, *exc):
        try:
            self.ctx.init_gen.set_state(torch.get_rng_state())
            torch.set_rng_state(self.outer)
        finally:
            RNG_LOCK.release()
        return False
