"""The lazy model: `Deferred` placeholders that build their real layer from the first input.

Every layer starts as a `Deferred` placeholder holding its class and checked arguments (args.py). When the
first input arrives, each placeholder reads the sizes it needs from the data (in_features from the last dim,
in_channels from the channel dim, ...), constructs the real torch.nn layer on the input's device, applies the
spec's init schemes, freezing and tying, and the Network then swaps the real layers in: parameter names carry
no wrapper prefix (`0.weight`). Parameters are created in the order the data reaches them, drawing from the
RNG then, so the caller seeds right before the first input. Until then each placeholder shows its layer's
parameters as uninitialized, as PyTorch's lazy modules do (model/placeholder.py).

Once every placeholder is swapped out, the model is plain PyTorch: the swap runs from a forward hook that
removes itself, as LazyModuleMixin's does, and no module keeps a reference to the BuildContext.
"""
from __future__ import annotations

from contextlib import nullcontext

from shapecli import layers as registry
from shapecli.layers.record import NO_PARAMS
from shapecli._torch import nn, torch
from shapecli.errors import ShapeError, literal
from shapecli.model.args import Bound
from shapecli.model.calls import HOOK_DICTS, direct, forward_of
from shapecli.model.context import BuildContext, OverBudget, generator_at, init_stream  # (imported from here by run/)
from shapecli.model.fresh import Template, copy_of, module_state, recipe_of, replay
from shapecli.model.memo import _memo_forward
from shapecli.model.placeholder import LazySave, copy_loaded, loaded
from shapecli.model.skipinit import skip_init
from shapecli.model.reading import _device, _on_meta, read
from shapecli.spec.nodes import Node

_NO_CONTEXT = nullcontext()  # reusable and re-entrant: it holds nothing

# ---------------------------------------------------------------------------- the lazy model

class Deferred(LazySave, nn.Module):
    """A layer waiting for data: constructs the real layer from the first input's shape."""

    def __init__(self, node: Node, bound: Bound, ctx: BuildContext, inherited_init: dict, freeze: bool):
        # nn.Module.__init__'s state without the call (~2x faster; 20,000 placeholders of a 10,000-pair spec)
        self.__dict__.update(module_state())
        # Plain attributes, none a Module, Parameter or Tensor: straight into __dict__, which is where
        # nn.Module.__setattr__ puts them after checking each against its parameters, buffers and
        # children (~25 µs per placeholder). `real` is never a registered child: no wrapper prefix, ever.
        self.__dict__.update(node=node, bound=bound, ctx=ctx, init_map=inherited_init,  # node.init: its own, first
                             freeze=freeze, inferred={}, real=None, rec=None, guarded=False)

    def extra_repr(self) -> str:
        return f"{self.node.type}, uninitialized"

    def __call__(self, *xs, **kw):  # nn.Module.__call__ less its two frames where it would call forward at once
        return self.forward(*xs, **kw) if direct(self) else nn.Module.__call__(self, *xs, **kw)

    def forward(self, *xs, **kw):
        rec = self.rec  # a run's recorder (run/hooks.py), told directly: no hooks on a placeholder
        if rec is None:
            return self._forward(xs, kw)
        path = self.node.path
        rec.enter(path, xs)
        out = self._forward(xs, kw)
        rec.leave(path, out)
        return out

    def _forward(self, xs, kw):
        if self.real is None:
            self._materialize(xs)
        if self.guarded:  # the run's output guard, told directly: the real layer has no pre-hook in this pass
            self.ctx.guard(self.real, xs)
        if kw:  # `in: {attn_mask: m}`: keyword tensors, past the memo
            return forward_of(self.real)(*xs, **kw)
        if _on_meta(xs) and not torch.is_grad_enabled():
            return _memo_forward(self, xs)
        return forward_of(self.real)(*xs)

    def _materialize(self, xs) -> None:
        node, ctx, lt = self.node, self.ctx, registry.get(self.node.type)
        r = read(node, self.bound, xs, ctx.readings)
        # as built, inferred sizes included (into __dict__: nn.Module.__setattr__ costs ~10 µs a name); a
        # Reading's dicts are shared by equal layers and never changed
        self.__dict__.update(sizes=r.sizes, args=r.args)
        self.inferred.update(r.inferred)
        kwargs, device = r.kwargs, _device(xs)
        kind = device.type  # (~0.3 µs a read)
        if kind != "meta":  # count what a real allocation would cost before making it
            ctx.used_bytes += self._probe_bytes(kwargs, r.key)
            if ctx.used_bytes > ctx.budget_bytes:
                raise OverBudget(node.path)
            real = self._replayed(r.key, lt, device) if kind == "cpu" else None  # no RNG switch, as ReLU
            with init_stream(ctx) if real is None and lt.init != NO_PARAMS else _NO_CONTEXT:
                if real is None:  # a device context would cost a Python call per torch op: only off the default
                    with _NO_CONTEXT if ctx.default_device(device) else torch.device(device):
                        real = self._new_layer(kwargs, r.key, lt, device)
                _train(real, self.training)  # `model.eval()` before the first input holds for the real layer too
                self._apply_init(real)
        else:
            with torch.device(device), skip_init():
                real = self._new_layer(kwargs, r.key, lt, device)
            _train(real, self.training)
            self._apply_init(real)
        values = loaded(self) if self.ctx.placeholders else None  # what a load_state_dict gave it before any data
        if values:
            copy_loaded(values, real)
        if self.node.tie:
            target = resolve(self.ctx.root, self.node.tie)
            if not hasattr(target, "weight") or not hasattr(real, "weight"):
                raise ShapeError(f"tie: '{self.node.tie}' and this layer must both have a weight")
            if target.weight.shape != real.weight.shape:
                raise ShapeError(f"tie: '{self.node.tie}'.weight is {list(target.weight.shape)} but this layer's weight is {list(real.weight.shape)}")
            real.weight = target.weight
        if self.freeze:
            for prm in real.parameters():
                prm.requires_grad_(False)
        guard = self.ctx.guard  # called by the placeholder; a hook on the real layer only for a later pass
        if guard is not None and (not hasattr(guard, "applies") or guard.applies(real)):
            self.__dict__["guarded"] = True
            self.ctx.guarded.append(real)
        object.__setattr__(self, "real", real)
        if self.ctx.on_built is not None:
            self.ctx.on_built(node.path, real)

    def _probe_bytes(self, kwargs, key) -> int:
        """The bytes of the layer's parameters and buffers, from a probe built on meta; equal layers (the same
        Reading.key, no `tie:`) share one probe per build (10,000 Linear+ReLU pairs: 2 probes)."""
        if self.node.tie:
            key = None
        n = self.ctx.probe_bytes.get(key) if key is not None else None  # (one hash of the key, not two)
        if n is not None:
            return n
        with torch.device("meta"), skip_init():  # no init on meta: values do not exist
            probe = self._construct(kwargs)
        tied = getattr(probe, "weight", None) if self.node.tie else None  # shared: counted where it lives
        n = sum(t.numel() * t.element_size() for t in [*probe.parameters(), *probe.buffers()] if t is not tied)
        if key is not None:
            self.ctx.probe_bytes[key] = n
        return n

    def _new_layer(self, kwargs, key, lt, device) -> nn.Module:
        """The real layer: constructed, or, after an equal layer of a type whose record says `copies`, a copy
        of it with its own initial values (model/fresh.py copy_of; 10,000 Linear(16, 16): ~40% faster)."""
        at = self._template_at(key, lt, device)
        if at is None:
            return self._construct(kwargs)
        template = self.ctx.templates.get(at)
        if template is None:
            real = self._construct(kwargs)
            self.ctx.templates[at] = Template(real)  # as constructed, before init schemes, hooks, ties
            return real
        if not template.usable:  # children, or no reset_parameters(): a record registered as `copies` by mistake
            return self._construct(kwargs)
        real = copy_of(template, device)
        if device.type != "meta" and (real._parameters or real._buffers):  # on meta: no values to draw
            real.reset_parameters()
        return real

    def _template_at(self, key, lt, device):
        """The ctx.templates key of this layer's equals; None where it is always constructed (no key, no `copies`, `tie:`)."""
        if key is None or not lt.copies or self.node.tie:
            return None
        return key, device, torch.get_default_dtype()  # what the constructor's defaults would give

    def _replayed(self, key, lt, device):
        """A copy of an equal layer on the CPU, its initial values drawn by its template's recipe from the stream's own
        generator (model/fresh.py replay); None where it is constructed, has no recipe, or has a spec init scheme."""
        at = self._template_at(key, lt, device)
        if at is None or self.node.init or self.init_map:
            return None
        template = self.ctx.templates.get(at)
        if template is None or not template.usable or (recipe := recipe_of(template)) is None:
            return None
        real = copy_of(template, device)
        if recipe:
            replay(real, recipe, self.ctx.init_generator())
        return real

    def _construct(self, kwargs) -> nn.Module:
        try:
            return self.bound.cls(**kwargs)
        except (ValueError, TypeError, RuntimeError, AssertionError) as e:
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ShapeError(f"cannot construct {self.node.type}({_kw(kwargs)}): {literal(msg, 160)}") from e

    def _apply_init(self, real: nn.Module) -> None:
        """The spec's init schemes, drawn now that the data has arrived (after the layer's own init)."""
        own = real._parameters  # a layer without children: its own dict, not named_parameters' walk
        if not self.node.init and not self.init_map:  # nothing but PyTorch's own init (most layers): no imports
            names = [n for n, p in own.items() if p is not None] if not real._modules else \
                [n for n, _ in real.named_parameters()]
            self._traced(dict.fromkeys(names), dict.fromkeys(names, "default"))
            return
        named = [(n, p) for n, p in own.items() if p is not None] if not real._modules else list(real.named_parameters())
        from shapecli.analyses.init.apply import apply_scheme
        from shapecli.spec.initschemes import scheme_for, unmatched_keys

        bad = unmatched_keys(self.node.init, [n for n, _ in named]) if self.node.init else None
        if bad:
            raise ShapeError(f"init: {', '.join(bad)} names no parameter of {self.node.type} "
                             f"(it has {', '.join(n for n, _ in named) or 'none'})")
        chosen, schemes = {}, {}
        for name, prm in named:
            # The item's own `init` applies as written; an inherited `weight` leaves 1-D weights
            # (norm scales) alone, so a global kaiming default does not break a LayerNorm.
            scheme = scheme_for(name, self.node.init, ndim=prm.dim(), own=True)
            if scheme is None:
                scheme = scheme_for(name, self.init_map, ndim=prm.dim(), own=False)
            if scheme is not None and scheme.name != "default":
                try:
                    apply_scheme(prm, scheme)
                except ValueError as e:
                    raise ShapeError(f"init {name}: {e}") from None
            chosen[name] = scheme
            schemes[name] = scheme.describe() if scheme is not None else "default"
        self._traced(chosen, schemes)

    def _traced(self, chosen: dict, schemes: dict) -> None:
        """Record the layer's schemes and its place in the materialization order (ctx.trace)."""
        self.ctx.schemes[self.node.path] = chosen
        self.ctx.trace.append({"order": len(self.ctx.trace), "layer": self.node.path, "type": self.node.type,
                               "inferred": dict(self.inferred), "sizes": dict(self.sizes), "schemes": schemes,
                               "args": self.args})


def _train(real: nn.Module, mode: bool) -> None:
    """real.train(mode), skipped for a layer without children already in that mode (~15 µs a layer)."""
    if real.training != mode or real._modules:
        real.train(mode)


def _kw(kwargs: dict) -> str:
    return ", ".join(f"{k}={getattr(v, '__name__', v)}" for k, v in kwargs.items() if not str(k).startswith("_"))


def resolve(root: nn.Module, path: str) -> nn.Module:
    m = root.get_submodule(path)
    return m.real if isinstance(m, Deferred) and m.real is not None else m


def finalize(root: nn.Module, ctx: BuildContext) -> None:
    """Swap each materialized placeholder for its real layer, hooks and all: where build() put it
    (ctx.slots: no walk over the model), or, if the model was rearranged since, wherever it is now."""
    slots = ctx.slots
    if any(parent._modules.get(name) is not child for parent, name, child in slots):  # moved by the user
        slots = [(parent, name, child) for parent in list(root.modules())
                 for name, child in list(parent._modules.items()) if isinstance(child, Deferred)]
    left = []
    for parent, name, child in slots:
        if child.real is None:
            left.append((parent, name, child))
            continue
        real = child.real
        for attr in HOOK_DICTS:
            if getattr(child, attr, None):
                getattr(real, attr).update(getattr(child, attr))
        parent._modules[name] = real
    ctx.slots = left
    ctx.pending = bool(left)


class _Finalize:
    """The root's forward hook: swap the real layers in after a pass, then remove itself (and its
    pre-hook, `start`, which marks where the initial values' RNG stream begins)."""

    def __init__(self, ctx: BuildContext):
        self.ctx, self.handles = ctx, []

    def start(self, module, inputs):
        if self.ctx.init_gen is None:
            self.ctx.init_gen = generator_at(torch.get_rng_state())

    def __call__(self, module, inputs, output):
        finalize(module, self.ctx)
        if not self.ctx.pending:
            for h in self.handles:
                h.remove()  # the model no longer refers to the context or to these hooks
