"""The symbolic trace: one run of the model under fake tensors with a `ShapeEnv`, every named
dimension a SymInt (`_trace`). Forward hooks record each layer's output sizes as sympy
expressions; every guard PyTorch records is kept with the layer that was running, whether it
came from a shape check, and whether it only chose strides, memory formats or broadcasting
(`_Tracer`)."""
from __future__ import annotations

import contextlib
import sys
from typing import Any, Optional

from shapecli.analyses.symbolic.context import _Ctx
from shapecli.analyses.symbolic.layers import _shape_only_layers

# Frames whose guards only choose strides, memory formats or broadcasting: never constraints.
_ARTIFACT_FUNCS = frozenset(
    {
        "is_contiguous",
        "is_channels_last_contiguous_2d",
        "is_channels_last_contiguous_3d",
        "is_contiguous_for_memory_format",
        "is_contiguous_for_memory_format_or_false",
        "is_non_overlapping_and_dense",
        "is_non_overlapping_and_dense_or_false",
        "_is_non_overlapping_and_dense_or_false",
        "suggest_memory_format",
        "are_strides_like_channels_last",
        "are_strides_like_channels_last_or_false",
        "compute_elementwise_output_logical_to_physical_perm",
        "compute_elementwise_output_strides",
        "make_contiguous_strides_for",
        "make_channels_last_strides_for",
        "extract_tensor_metadata",
        "_compute_contiguous_strides",
        "fast_binary_impl",  # fake tensors' broadcasting fast path
        "_broadcast_shapes",
        "broadcast_shapes",
    }
)


class _GuardRec:
    __slots__ = ("expr", "layer", "check", "artifact", "seq")

    def __init__(self, expr, layer, check, artifact, seq):
        self.expr, self.layer, self.check, self.artifact, self.seq = expr, layer, check, artifact, seq


class _Tracer:
    """Hooks, guard recording and the patches that classify guards while the model runs."""

    def __init__(self, ctx: _Ctx):
        self.ctx = ctx
        self.stack: list[str] = []
        self.outputs: dict[str, Any] = {}  # path -> nested structure of shape tuples
        self.order: dict[str, int] = {}  # path -> event sequence number of its output
        self.guards: list[_GuardRec] = []
        self.seq = 0
        self.in_check = 0
        self.handles = []

    # ---- hooks -----------------------------------------------------------------------------
    def install_hooks(self, record):
        def pre(mod, args):
            self.stack.append(self.ctx.paths_of[id(mod)][0])

        def post(mod, args, out):
            if self.stack:
                self.stack.pop()
            for path in self.ctx.paths_of[id(mod)]:
                if path not in self.outputs:
                    self.seq += 1
                    self.outputs[path] = record(out)
                    self.order[path] = self.seq

        seen = set()
        for mod in self.ctx.layers.values():
            if id(mod) in seen:
                continue
            seen.add(id(mod))
            self.handles.append(mod.register_forward_pre_hook(pre))
            self.handles.append(mod.register_forward_hook(post))

    def remove_hooks(self):
        for h in self.handles:
            h.remove()
        self.handles.clear()

    def current_layer(self) -> Optional[str]:
        return self.stack[-1] if self.stack else None

    # ---- guard classification ---------------------------------------------------------------
    @contextlib.contextmanager
    def patched(self, env):
        """Mark guards raised inside shape checks (torch._check / C++ TORCH_SYM_CHECK)."""
        import torch.fx.experimental.symbolic_shapes as ss
        from torch.fx.experimental.sym_node import SymNode

        tracer = self

        def wrap(fn):
            def inner(*a, **k):
                tracer.in_check += 1
                try:
                    return fn(*a, **k)
                finally:
                    tracer.in_check -= 1

            inner.__wrapped__ = fn
            return inner

        class Recording(list):
            def append(self, g):
                tracer.seq += 1
                artifact = False
                if not tracer.in_check:
                    f = sys._getframe(1)
                    while f is not None:
                        if f.f_code.co_name in _ARTIFACT_FUNCS:
                            artifact = True
                            break
                        f = f.f_back
                tracer.guards.append(_GuardRec(g.expr, tracer.current_layer(), bool(tracer.in_check), artifact, tracer.seq))
                super().append(g)

        old_et, old_node_et = ss.expect_true, SymNode.expect_true
        old_guards = env.guards
        ss.expect_true = wrap(old_et)
        SymNode.expect_true = wrap(old_node_et)
        env.guards = Recording(old_guards)
        try:
            yield
        finally:
            ss.expect_true = old_et
            SymNode.expect_true = old_node_et
            recorded = list(env.guards)
            env.guards = old_guards
            old_guards[:] = recorded


def _shape_of(x, conv):
    """Nested structure of shape tuples (conv maps each size) for a layer output."""
    import torch

    if isinstance(x, torch.Tensor):
        return tuple(conv(d) for d in x.shape)
    if isinstance(x, (tuple, list)):
        return [_shape_of(v, conv) for v in x]
    if isinstance(x, dict):
        return [_shape_of(v, conv) for v in x.values()]
    return None


def _sym_expr(d):
    import sympy
    import torch

    if isinstance(d, torch.SymInt):
        return d.node.expr
    return sympy.Integer(int(d))


def _fake_state(model, fm, device):
    """The model's parameters and buffers as fake tensors on `device` (tied ones stay tied)."""
    import torch

    memo: dict[int, Any] = {}
    state = {}
    with torch.no_grad():
        for name, t in list(model.named_parameters(remove_duplicate=False)) + list(model.named_buffers(remove_duplicate=False)):
            if id(t) not in memo:
                src = t.detach()
                if src.device != device:
                    src = src.to(device)  # to meta: no data moves
                memo[id(t)] = fm.from_tensor(src, static_shapes=True)
            state[name] = memo[id(t)]
    return state


def _clean_views_mode():
    """A dispatch mode that gives contiguous views their requested shape as the formula.

    PyTorch's reference `view` builds the result by splitting and merging dims, so the output
    sizes come out as e.g. ``W*((3*H)//16)`` under branch guards that only hold at the sample;
    for a contiguous input the result is simply the requested shape with contiguous strides.
    """
    import torch
    from torch.fx.experimental.symbolic_shapes import statically_known_true
    from torch.utils._python_dispatch import TorchDispatchMode

    aten = torch.ops.aten
    targets = {aten.view.default, aten._unsafe_view.default}

    def contiguous_strides(shape):
        strides, acc = [], 1
        for s in reversed(shape):
            strides.append(acc)
            acc = acc * s
        return list(reversed(strides))

    def statically_contiguous(x):
        expected = contiguous_strides(list(x.shape))
        for size, st, ex in zip(x.shape, x.stride(), expected):
            if isinstance(size, int) and size == 1:
                continue
            if not statically_known_true(st == ex):
                return False
        return True

    class CleanViews(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func in targets and not kwargs and len(args) == 2:
                x, shape = args
                try:
                    shape = list(shape)
                except TypeError:
                    shape = None
                if shape is not None and isinstance(x, torch.Tensor) and statically_contiguous(x):
                    numel = x.numel()
                    holes = [i for i, s in enumerate(shape) if isinstance(s, int) and s == -1]
                    if len(holes) <= 1:
                        known = 1
                        for i, s in enumerate(shape):
                            if i not in holes:
                                known = known * s
                        if holes:
                            torch._check(
                                numel % known == 0,
                                lambda: f"shape '{shape}' is invalid for input of size {numel}",
                            )
                            shape[holes[0]] = numel // known
                            known = known * shape[holes[0]]
                        torch._check(known == numel, lambda: f"shape '{shape}' is invalid for input of size {numel}")
                        return aten.as_strided.default(x, shape, contiguous_strides(shape), x.storage_offset())
            return func(*args, **kwargs)

    return CleanViews()


def _trace(ctx: _Ctx, device):
    """One symbolic run: returns (env, tracer, input exprs, output structure)."""
    import torch
    from torch._dispatch.python import enable_python_dispatcher
    from torch._dynamo.source import ConstantSource
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import DimDynamic, ShapeEnv

    env = ShapeEnv(duck_shape=False)  # equal samples must not merge two names into one symbol
    symint = {}
    for v in ctx.all_vars:
        src = ConstantSource(f"shapecli_{v.name}")
        s = env.create_symbol(v.sample, src, dynamic_dim=DimDynamic.DYNAMIC)
        v.env_sym = s
        lo, hi = v.lo_w, v.hi if v.hi is not None else None
        if lo > 2 or hi is not None:
            _constrain(env, s, lo, hi)
        symint[v.name] = env.create_symintnode(s, hint=v.sample, source=src)
    fm = FakeTensorMode(shape_env=env, allow_non_fake_inputs=True)
    state = _fake_state(ctx.model, fm, device)
    tracer = _Tracer(ctx)
    tracer.install_hooks(lambda out: _shape_of(out, _sym_expr))
    args = []
    try:
        with tracer.patched(env), torch.no_grad(), _shape_only_layers(ctx.model), fm, enable_python_dispatcher(), _clean_views_mode():
            for i, (dims, dtype) in enumerate(ctx.inputs):
                shape = []
                for j, d in enumerate(dims):
                    if d.name is not None:
                        shape.append(symint[d.name])
                    elif (i, j) in ctx.batch_internal_positions:
                        shape.append(symint[ctx.batch.name])
                    else:
                        shape.append(d.size)
                args.append(torch.empty(shape, dtype=dtype, device=device))
            try:
                out = torch.func.functional_call(ctx.model, state, tuple(args), strict=False)
            except Exception as e:
                if tracer.stack:
                    e._shapecli_layer = ctx.layer_label(tracer.stack[-1])
                e._shapecli_names = {str(v.env_sym): v.name for v in ctx.all_vars}
                raise
    finally:
        tracer.remove_hooks()
    in_exprs = [tuple(_sym_expr(d) for d in a.shape) for a in args]
    return env, tracer, in_exprs, _shape_of(out, _sym_expr)


def _constrain(env, s, lo, hi):
    from torch.utils._sympy.value_ranges import ValueRanges

    try:
        from torch.utils._sympy.numbers import int_oo
    except ImportError:  # older torch
        import sympy

        int_oo = sympy.oo
    upper = hi if hi is not None else int_oo
    if hasattr(env, "constrain_symbol_range"):
        env.constrain_symbol_range(s, compiler_min=lo, compiler_max=upper)
    else:
        env.var_to_range[s] = ValueRanges(lo, upper)
