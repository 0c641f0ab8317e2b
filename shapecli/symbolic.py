"""Symbolic shapes: which input sizes a network accepts, and what comes out, as formulas.

`--input B,3,H,W` names the free dimensions. `symbolic_pass` runs the (already materialized)
model once under PyTorch's fake-tensor mode with a `ShapeEnv`: every named dimension becomes a
SymInt, forward hooks read each layer's output sizes as sympy formulas, and every guard PyTorch
records on the way (``H >= 7``, ``2*(H//2) == H``, ``3*H*W == 9216``) becomes a constraint in
the user's names, attributed to the layer that was running when it appeared.

PyTorch also records guards that only choose strides, memory formats or broadcasting paths;
those are not constraints. Guards raised by `torch._check` (shape checks proper) are kept as
they are; every other guard is tested with up to three concrete runs (static fake tensors, no
compute) at sizes that break it: if the network still runs and every layer matches its formula,
the guard is dropped; if every run fails, it is a constraint. One more concrete run at other
valid sizes checks all formulas before they are reported. Well-known layers (activations,
normalization, RNNs, ceil-mode pooling) are followed by shape-only forwards during the
symbolic run, because PyTorch's own kernels are slow (or unroll time) with symbolic sizes. When the symbolic
machinery cannot follow the network (data-dependent shapes, a layer that needs the concrete
value of a size, a formula that disagrees with a concrete run), the pass falls back to
concrete probes at several sizes, fits simple formulas to them, and says why in `note`.

Torch is imported lazily: `parse_dims` and the dataclasses cost nothing to import.
"""
from __future__ import annotations

import contextlib
import math
import random
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any, Optional

from shapecli.dims import Dim, parse_dims, unify_dims
from shapecli.errors import UsageError, literal

__all__ = ["Dim", "SymbolicResult", "parse_dims", "unify_dims", "symbolic_pass", "attach"]

# ---------------------------------------------------------------------------------------------
# Public data types
# ---------------------------------------------------------------------------------------------

@dataclass
class SymbolicResult:
    outputs: dict  # layer path -> formulas shaped like the output: ["B", "64", "H/4", "W/4"]
    output: Any  # the network's output formula (nested lists for tuple outputs)
    constraints: list  # [{"message": str, "layer": str | None, "dims": [names]}]
    batch_ok: bool
    batch_issue: Optional[str]
    method: str  # "symbolic" | "probes"
    note: Optional[str]
    inputs: list = field(default_factory=list)  # the inputs as formulas: [["B", "3", "H", "W"]]
    seconds: Optional[float] = None  # wall time of the pass

    def to_dict(self) -> dict:
        """The `Report.symbolic` block (JSON-safe)."""
        d = asdict(self)
        d.pop("outputs")  # per layer, these go to LayerInfo.symbolic
        return d


def attach(report, result: SymbolicResult) -> None:
    """Copy a SymbolicResult into a Report: `report.symbolic` and each `LayerInfo.symbolic`.

    A layer's formula becomes an Output shaped like its concrete output (TensorInfo with string
    shapes, dtype from the concrete run), so renderers can show both side by side.
    """
    from shapecli.report import TensorInfo

    report.symbolic = result.to_dict()

    def as_output(formula, concrete):
        if isinstance(concrete, TensorInfo):
            if isinstance(formula, list) and all(isinstance(x, str) for x in formula):
                return TensorInfo(shape=list(formula), dtype=concrete.dtype)
            return None
        if isinstance(concrete, list) and isinstance(formula, list) and len(formula) == len(concrete):
            return [as_output(f, c) for f, c in zip(formula, concrete)]
        return None

    for layer in report.layers:
        f = result.outputs.get(layer.path)
        if f is None:
            continue
        concrete = layer.output_shapes[0] if layer.output_shapes else None
        if concrete is None:
            if isinstance(f, list) and all(isinstance(x, str) for x in f):
                layer.symbolic = TensorInfo(shape=list(f), dtype="?")
            continue
        layer.symbolic = as_output(f, concrete)


# ---------------------------------------------------------------------------------------------
# The pass
# ---------------------------------------------------------------------------------------------


class _Unfollowable(Exception):
    """The symbolic machinery cannot follow the network; the message says where and why."""


class _Var:
    """One free dimension: a user name (or the internal batch), its sample and range."""

    def __init__(self, name: str, sample: int, lo: Optional[int], hi: Optional[int], internal: bool = False):
        import sympy

        self.name, self.sample, self.lo, self.hi, self.internal = name, sample, lo, hi, internal
        self.sym = sympy.Symbol(name, integer=True, positive=True)
        self.env_sym = None  # the ShapeEnv symbol
        self.lo_w = max(2, lo or 2)  # the symbolic analysis covers sizes >= 2
        self.open_hi = hi is None
        hi_w = hi if hi is not None else max(self.lo_w + 2047, 2 * sample + 64)
        if hi_w - self.lo_w > 65535:  # keep the scanned window small
            if sample - self.lo_w > 32768:
                self.lo_w = sample - 32768
            hi_w = self.lo_w + 65535
            self.open_hi = True
        self.hi_w = hi_w

    def window(self) -> range:
        return range(self.lo_w, self.hi_w + 1)


class _Ctx:
    """Everything about one call: model, inputs as variables, layers, batch."""

    def __init__(self, model, inputs, layers, batch_dim):
        import torch

        self.model = model
        self.layers = dict(layers or {})
        self.batch_dim = batch_dim
        self.inputs = []  # [(list[Dim], dtype)]
        for item in inputs:
            if not (isinstance(item, (tuple, list)) and len(item) == 2):
                raise UsageError("symbolic pass: each input must be (dims, dtype)")
        unified = unify_dims([dims for dims, _ in inputs])
        self.inputs = [(dims, dtype) for dims, (_, dtype) in zip(unified, inputs)]
        self.vars: dict[str, _Var] = {}
        for dims, _ in self.inputs:
            for d in dims:
                if d.name is not None and d.name not in self.vars:
                    # a sample of 1 (a spec's `input: [1, 3, 224, 224]`) is traced as 2: PyTorch
                    # specializes sizes 0 and 1, which would pin the name to a number
                    hint = max(d.size, 2, d.lo or 0)
                    if d.hi is not None and hint > d.hi:
                        raise UsageError(f"the range of {d.name} ({d}) leaves no size of 2 or more to trace")
                    self.vars[d.name] = _Var(d.name, hint, d.lo, d.hi)
        # the batch: the user's name for it, or an internal variable standing in for a fixed size
        self.batch: Optional[_Var] = None
        self.batch_internal_positions = []  # (input index, dim index) using the internal batch
        named = [ds[batch_dim].name for ds, _ in self.inputs if len(ds) > batch_dim and ds[batch_dim].name]
        if named:
            self.batch = self.vars[named[0]]
        else:
            sizes = {ds[batch_dim].size for ds, _ in self.inputs if len(ds) > batch_dim}
            batched = all(len(ds) >= 2 for ds, _ in self.inputs if len(ds) > batch_dim)
            if len(sizes) == 1 and batched:  # a rank-1 input may not have a batch at all
                size = sizes.pop()
                name = "B" if "B" not in self.vars else next(n for n in ("N", "batch", "batch_") if n not in self.vars)
                self.batch = _Var(name, max(size, 2), None, None, internal=True)
                self.batch.fixed_size = size
                self.batch_internal_positions = [
                    (i, batch_dim) for i, (ds, _) in enumerate(self.inputs) if len(ds) > batch_dim
                ]
        self.all_vars = list(self.vars.values()) + ([self.batch] if self.batch is not None and self.batch.internal else [])
        # where the model lives: probes of meta models stay on meta
        self.device = torch.device("cpu")
        for t in list(model.parameters()) + list(model.buffers()):
            self.device = t.device
            break
        self.paths_of: dict[int, list[str]] = {}
        for path, mod in self.layers.items():
            self.paths_of.setdefault(id(mod), []).append(path)
        self.type_of = {path: type(mod).__name__ for path, mod in self.layers.items()}
        self.probes_run = 0
        self.probe_seconds = 0.0  # time spent in concrete runs (for diagnostics)
        self._static = None  # (fake mode, fake state) for static probes

    # ---- naming ----------------------------------------------------------------------------
    def sizes_at(self, assignment: dict) -> list[list[int]]:
        """Concrete input shapes at an assignment {var name: value} (missing: samples)."""
        out = []
        for i, (dims, _) in enumerate(self.inputs):
            shape = []
            for j, d in enumerate(dims):
                if d.name is not None:
                    shape.append(int(assignment.get(d.name, self.vars[d.name].sample)))
                elif (i, j) in self.batch_internal_positions:
                    shape.append(int(assignment.get(self.batch.name, d.size)))
                else:
                    shape.append(d.size)
            out.append(shape)
        return out

    def layer_label(self, path: Optional[str], detail: bool = False) -> str:
        """'layer fc (Linear)' or, with detail, 'layer fc (Linear: in_features 25088)'."""
        if path is None:
            return "the network"
        t = self.type_of.get(path, "")
        shown = f"layer {path}" if path != "" else "the network"
        if detail and path in self.layers:
            d = _layer_detail(self.layers[path])
            if d:
                return f"{shown} ({t}: {d})"
        return f"{shown} ({t})" if t else shown

    def where(self, paths: list) -> str:
        """'layer up3: Concat' or 'layers up1, up2: Concat' (for parentheses)."""
        paths = [p for p in dict.fromkeys(paths) if p is not None]
        if not paths:
            return ""
        if paths == [""]:
            t = self.type_of.get("", "")
            return f"the network: {t}" if t else "the network"
        shown = [p if p != "" else "the network" for p in paths]
        groups: dict[str, list] = {}
        for s_, p in zip(shown, paths):
            groups.setdefault(self.type_of.get(p, ""), []).append(s_)
        word = "layer" if len(paths) == 1 else "layers"
        return word + " " + "; ".join(", ".join(v) + (f": {t}" if t else "") for t, v in groups.items())


_DETAIL_ATTRS = (
    "in_features",
    "in1_features",
    "in2_features",
    "in_channels",
    "num_features",
    "normalized_shape",
    "input_size",
    "embed_dim",
    "d_model",
    "num_positions",
)


def _layer_detail(mod) -> str:
    for a in _DETAIL_ATTRS:
        v = getattr(mod, a, None)
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, int):
            return f"{a} {v}"
        if isinstance(v, (tuple, list)) and all(isinstance(x, int) for x in v):
            return f"{a} {list(v)}"
    return ""


def symbolic_pass(model, inputs, layers, batch_dim: int = 0, *, verify: int = 1, max_probes: int = 24) -> SymbolicResult:
    """Run `model` once with symbolic sizes and report formulas, constraints and batch checks.

    model: a materialized nn.Module (real CPU parameters, or meta ones for huge models).
    inputs: the model's positional inputs as [(dims, dtype)]: dims from `parse_dims`.
    layers: layer path -> submodule whose output is reported (forward hooks).
    batch_dim: which dimension of each input is the batch.
    verify: how many concrete runs at other valid sizes check the formulas (0 to skip).
    max_probes: the most concrete runs spent on classifying guards and on the probe fallback.

    Raises UsageError for inconsistent inputs (a name given two samples). Any failure of the
    symbolic machinery itself falls back to probes; `method` and `note` say so.
    """
    t0 = time.perf_counter()
    ctx = _Ctx(model, inputs, layers, batch_dim)
    ctx.max_probes = max_probes
    with _quiet_torch():
        try:
            res = _symbolic(ctx, verify)
        except UsageError:
            raise
        except _Unfollowable as e:
            res = _probe_pass(ctx, f"symbolic shapes could not follow the network: {e}; described from concrete probes instead")
        except Exception as e:  # the symbolic machinery failed: say so, and probe
            msg = _short_error(e)
            res = _probe_pass(ctx, f"symbolic shapes could not follow the network ({msg}); described from concrete probes instead")
    res.seconds = round(time.perf_counter() - t0, 3)
    return res


_TORCH_LOGGERS = (
    "torch._subclasses.fake_tensor",  # logs every failing meta kernel (our probes fail on purpose)
    "torch.fx.experimental.symbolic_shapes",
    "torch.fx.experimental.recording",
    "torch._dynamo",
)


@contextlib.contextmanager
def _quiet_torch():
    """Silence PyTorch's own logging and warnings while probing (failures are expected)."""
    import logging
    import warnings

    saved = []
    for name in _TORCH_LOGGERS:
        log = logging.getLogger(name)
        saved.append((log, log.level))
        log.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for log, level in saved:
            log.setLevel(level)


def _short_error(e: BaseException, limit: int = 300) -> str:
    text = str(e).strip().splitlines()
    first = text[0] if text else ""
    for line in text:  # torch prefixes long errors with a generic line; keep the informative one
        if line.strip() and not line.startswith(("  ", "\t")):
            first = line.strip()
            break
    where = getattr(e, "_shapecli_layer", None)
    for sym, name in getattr(e, "_shapecli_names", {}).items():
        first = re.sub(rf"\b{re.escape(sym)}\b", name, first)
    s = f"{type(e).__name__}: {first}"
    if where:
        s = f"{where}: {s}"
    return literal(s, limit)


# ---------------------------------------------------------------------------------------------
# Tracing under fake tensors with a ShapeEnv
# ---------------------------------------------------------------------------------------------

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


def _rnn_forward(self, input, hx=None):
    """Shape-only forward for nn.RNN/LSTM/GRU (their decomposition unrolls time: slow and
    specializing). Follows the documented shapes, with the same size checks."""
    import torch

    if not isinstance(input, torch.Tensor):
        raise _Unfollowable(f"{type(self).__name__} with a {type(input).__name__} input (only tensors are followed)")
    torch._check(input.dim() in (2, 3), lambda: f"{type(self).__name__}: expected a 2-D or 3-D input, got {input.dim()}-D")
    batched = input.dim() == 3
    torch._check(
        input.shape[-1] == self.input_size,
        lambda: f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got {input.shape[-1]}",
    )
    D = 2 if self.bidirectional else 1
    out_size = self.proj_size if getattr(self, "proj_size", 0) else self.hidden_size
    if batched:
        T, B = (input.shape[1], input.shape[0]) if self.batch_first else (input.shape[0], input.shape[1])
        out_shape = (B, T, D * out_size) if self.batch_first else (T, B, D * out_size)
        h_shape, c_shape = (D * self.num_layers, B, out_size), (D * self.num_layers, B, self.hidden_size)
    else:
        T = input.shape[0]
        out_shape = (T, D * out_size)
        h_shape, c_shape = (D * self.num_layers, out_size), (D * self.num_layers, self.hidden_size)
    is_lstm = isinstance(self, torch.nn.LSTM)
    if hx is not None:
        hs = hx if isinstance(hx, (tuple, list)) else (hx,)
        want = (h_shape, c_shape) if is_lstm else (h_shape,)
        for got, exp in zip(hs, want):
            torch._check(got.dim() == len(exp), lambda: f"{type(self).__name__}: hidden state has the wrong number of dims")
            for a, b in zip(got.shape, exp):
                torch._check(a == b, lambda: f"{type(self).__name__}: expected hidden size {tuple(exp)}, got {tuple(got.shape)}")
    out = input.new_empty(out_shape)
    h = input.new_empty(h_shape)
    if is_lstm:
        return out, (h, input.new_empty(c_shape))
    return out, h


def _same_shape_forward(self, x, *args, **kwargs):
    """Shape-only forward for layers whose output has their input's shape (activations,
    dropout): fake elementwise ops with symbolic sizes are slow (strides are worked out
    symbolically), and these layers cannot change a shape."""
    return x.new_empty(x.shape)


def _batchnorm_forward(self, x):
    import torch

    want = {"BatchNorm1d": (2, 3), "BatchNorm2d": (4,), "BatchNorm3d": (5,)}.get(type(self).__name__)
    if want is not None:
        torch._check(x.dim() in want, lambda: f"expected {'D or '.join(map(str, want))}D input (got {x.dim()}D input)")
    torch._check(x.dim() >= 2, lambda: f"expected at least 2D input (got {x.dim()}D input)")
    torch._check(
        x.shape[1] == self.num_features,
        lambda: f"running_mean should contain {x.shape[1]} elements not {self.num_features}",
    )
    return x.new_empty(x.shape)


def _layernorm_forward(self, x):
    import torch

    ns = tuple(self.normalized_shape)
    torch._check(x.dim() >= len(ns), lambda: f"LayerNorm: input has fewer dims than normalized_shape {list(ns)}")
    for a, b in zip(x.shape[x.dim() - len(ns):], ns):
        torch._check(
            a == b,
            lambda: f"Given normalized_shape={list(ns)}, expected input with shape [*, {', '.join(map(str, ns))}], but got input of size{list(x.shape)}",
        )
    return x.new_empty(x.shape)


def _groupnorm_forward(self, x):
    import torch

    torch._check(x.dim() >= 2, lambda: "GroupNorm: expected at least 2D input")
    torch._check(
        x.shape[1] == self.num_channels,
        lambda: f"Expected number of channels in input to be divisible by num_groups, but got input of shape {list(x.shape)} and num_groups={self.num_groups}",
    )
    return x.new_empty(x.shape)


def _ceil_pool_forward(self, x):
    """Shape-only forward for max/avg pooling with ceil_mode=True. PyTorch computes
    o = ceil((H + 2p - d(k-1) - 1)/s) + 1 and then drops the last window when it starts past
    the input (a branch); that is o = min(o, ceil((H + p)/s)) without branching."""
    import torch

    nd = int(type(self).__name__[-2])
    def tup(v, default=None):
        if v is None:
            v = default
        return tuple(v) if isinstance(v, (tuple, list)) else (v,) * nd

    k = tup(self.kernel_size)
    s = tup(self.stride, self.kernel_size) if self.stride is not None else k
    p = tup(self.padding)
    d = tup(getattr(self, "dilation", 1))
    torch._check(x.dim() in (nd + 1, nd + 2), lambda: f"{type(self).__name__}: expected {nd + 1}D or {nd + 2}D input, got {x.dim()}D")
    sizes = list(x.shape[x.dim() - nd:])
    outs = []
    for H, k_, s_, p_, d_ in zip(sizes, k, s, p, d):
        o = (H + 2 * p_ - d_ * (k_ - 1) - 1 + (s_ - 1)) // s_ + 1
        o = torch.sym_min(o, (H + p_ + s_ - 1) // s_)
        torch._check(o >= 1, lambda: f"Given input size {list(x.shape)}, the calculated output size is too small")
        outs.append(o)
    shape = list(x.shape[: x.dim() - nd]) + outs
    out = x.new_empty(shape)
    if getattr(self, "return_indices", False):
        return out, x.new_empty(shape, dtype=torch.int64)
    return out


def _shape_models():
    """Exact layer type -> shape-only forward used during the symbolic trace."""
    import torch.nn as nn

    table = {}
    for name in (
        "ReLU", "ReLU6", "LeakyReLU", "ELU", "CELU", "SELU", "GELU", "SiLU", "Mish", "Sigmoid",
        "Tanh", "Hardtanh", "Hardswish", "Hardsigmoid", "Softplus", "Softsign", "Tanhshrink",
        "LogSigmoid", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
        "FeatureAlphaDropout",
    ):
        cls = getattr(nn, name, None)
        if cls is not None:
            table[cls] = _same_shape_forward
    for name in ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d"):
        table[getattr(nn, name)] = _batchnorm_forward
    for name in ("MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d"):
        table[getattr(nn, name)] = _ceil_pool_forward  # only when ceil_mode (see _shape_only_layers)
    table[nn.LayerNorm] = _layernorm_forward
    table[nn.GroupNorm] = _groupnorm_forward
    for name in ("RNN", "LSTM", "GRU"):
        table[getattr(nn, name)] = _rnn_forward
    return table


@contextlib.contextmanager
def _shape_only_layers(model):
    """Swap in shape-only forwards for well-known layers (exact types only, never subclasses
    with their own forward); the concrete runs that check the formulas use the real ones."""
    table = _shape_models()
    patched = []
    for mod in model.modules():
        fn = table.get(type(mod))
        if fn is _ceil_pool_forward and not getattr(mod, "ceil_mode", False):
            continue  # floor mode: PyTorch's own shape function has no branch
        if fn is not None and "forward" not in mod.__dict__:
            mod.forward = fn.__get__(mod, type(mod))
            patched.append(mod)
    try:
        yield
    finally:
        for mod in patched:
            mod.__dict__.pop("forward", None)


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


# ---------------------------------------------------------------------------------------------
# Conditions in the user's names
# ---------------------------------------------------------------------------------------------


class _Cond:
    """A constraint: a sympy boolean over user symbols, with where it came from."""

    def __init__(self, expr, layer, seq, kind):
        self.expr, self.layer, self.seq, self.kind = expr, layer, seq, kind
        self.vars: list[_Var] = []  # the variables it really depends on
        self.fn = None


class _Space:
    """The free variables, their windows, and the known constraints; evaluates conditions."""

    def __init__(self, ctx: _Ctx, rng: random.Random):
        self.ctx = ctx
        self.vars = ctx.all_vars
        self.syms = [v.sym for v in self.vars]
        self.rng = rng
        self.conds: list[_Cond] = []
        self._allowed_cache: dict[str, list] = {}

    def fn(self, expr):
        return _compile(expr, self.syms)

    def sample_point(self) -> dict:
        return {v.name: v.sample for v in self.vars}

    def call(self, fn, point: dict):
        return fn(*[point[v.name] for v in self.vars])

    def holds(self, cond: _Cond, point: dict) -> bool:
        try:
            return bool(self.call(cond.fn, point))
        except (ZeroDivisionError, ValueError, OverflowError, TypeError):
            return False

    def add(self, cond: _Cond) -> bool:
        """Add a condition (relevance and duplicates checked); False when it says nothing."""
        try:
            cond.fn = self.fn(cond.expr)
        except _NoEval:
            cond.fn = None
        if cond.fn is None:
            cond.vars = [v for v in self.vars if v.sym in cond.expr.free_symbols]
            self.conds.append(cond)
            return True
        cond.vars = self._relevant(cond)
        if not cond.vars:
            return False
        sig = self._signature(cond)
        if type(cond.expr).__name__ == "Or":  # keep the one alternative that says it all
            for alt in cond.expr.args:
                try:
                    alt_cond = _Cond(alt, cond.layer, cond.seq, cond.kind)
                    alt_cond.fn = self.fn(alt)
                except _NoEval:
                    continue
                if self._signature(alt_cond) == sig:
                    cond.expr, cond.fn = alt, alt_cond.fn
                    break
        for other in self.conds:
            if other.fn is not None and other.vars == cond.vars and getattr(other, "sig", None) == sig:
                return False  # the same condition in another form (same truth everywhere tested)
        cond.sig = sig
        self.conds.append(cond)
        self._allowed_cache.clear()
        return True

    def _signature(self, cond: _Cond) -> tuple:
        if not hasattr(self, "_test_points"):
            r = random.Random(1)
            pts = []
            for _ in range(256):
                p = {}
                for v in self.vars:
                    p[v.name] = v.sample + r.randint(-64, 64) if r.random() < 0.5 else r.randint(v.lo_w, min(v.hi_w, v.lo_w + 512))
                    p[v.name] = min(max(p[v.name], v.lo_w), v.hi_w)
                pts.append(p)
            self._test_points = pts
        return tuple(self.holds(cond, p) for p in self._test_points)

    def _relevant(self, cond: _Cond) -> list:
        out = []
        syms = cond.expr.free_symbols
        for v in self.vars:
            if v.sym not in syms:
                continue
            base_points = [self.sample_point()] + [self.random_point() for _ in range(24)]
            relevant = False
            w = v.window()
            for p in base_points:
                t0 = self.holds(cond, p)
                for _ in range(8):
                    q = dict(p)
                    q[v.name] = self.rng.choice(w)
                    if self.holds(cond, q) != t0:
                        relevant = True
                        break
                if relevant:
                    break
            if not relevant:  # exhaustive near the sample for single-variable conditions
                p = self.sample_point()
                t0 = self.holds(cond, p)
                for x in range(v.lo_w, min(v.hi_w, v.lo_w + 4096) + 1):
                    q = dict(p)
                    q[v.name] = x
                    if self.holds(cond, q) != t0:
                        relevant = True
                        break
            if relevant:
                out.append(v)
        return out

    def random_point(self) -> dict:
        p = {}
        for v in self.vars:
            if self.rng.random() < 0.5:
                p[v.name] = self.rng.randint(v.lo_w, min(v.hi_w, v.lo_w + 256))
            else:
                p[v.name] = self.rng.randint(v.lo_w, v.hi_w)
        return p

    def single(self, v: _Var) -> list:
        return [c for c in self.conds if c.fn is not None and len(c.vars) == 1 and c.vars[0] is v]

    def multi(self) -> list:
        return [c for c in self.conds if c.fn is None or len(c.vars) > 1]

    def allowed(self, v: _Var) -> list:
        """Values of v (in its window) that satisfy every single-variable condition on it."""
        if v.name not in self._allowed_cache:
            conds = self.single(v)
            p = self.sample_point()
            vals = []
            for x in v.window():
                p[v.name] = x
                if all(self.holds(c, p) for c in conds):
                    vals.append(x)
            self._allowed_cache[v.name] = vals
        return self._allowed_cache[v.name]

    def valid(self, point: dict) -> bool:
        for v in self.vars:
            if not (v.lo_w <= point[v.name] <= v.hi_w):
                return False
        return all(self.holds(c, point) for c in self.conds if c.fn is not None)

    def valid_points(self, n: int = 48) -> list:
        """The sample plus up to n-1 other points that satisfy every known condition.

        Without multi-variable conditions each variable is drawn from its allowed values; with
        them, a walk moves one variable at a time among the values that keep every condition
        (random draws would almost never hit a set like 3*H*W == 9216).
        """
        pts = [self.sample_point()]
        seen = {tuple(sorted(pts[0].items()))}
        allowed = {v.name: self.allowed(v) for v in self.vars}
        if any(not a for a in allowed.values()) or not self.vars:
            return pts
        near = {}
        for v in self.vars:
            a = allowed[v.name]
            near[v.name] = [x for x in a if x <= 4 * v.sample + 64] or a
        multi = [c for c in self.multi() if c.fn is not None]
        if not multi:
            for _ in range(n * 20):
                if len(pts) >= n:
                    break
                p = {v.name: self.rng.choice(near[v.name] if self.rng.random() < 0.7 else allowed[v.name]) for v in self.vars}
                key = tuple(sorted(p.items()))
                if key not in seen:
                    seen.add(key)
                    pts.append(p)
            return pts
        cur = dict(pts[0])
        for _ in range(n * 6):
            if len(pts) >= n:
                break
            v = self.rng.choice(self.vars)
            pool = near[v.name]
            if len(pool) > 600:
                pool = sorted(self.rng.sample(pool, 600) + [cur[v.name]])
            ok = []
            q = dict(cur)
            for x in pool:
                q[v.name] = x
                if all(self.holds(c, q) for c in multi):
                    ok.append(x)
            if not ok:
                continue
            cur[v.name] = self.rng.choice(ok)
            key = tuple(sorted(cur.items()))
            if key not in seen:
                seen.add(key)
                pts.append(dict(cur))
        return pts


class _NoEval(Exception):
    pass


_COMPILED: dict = {}


def _compile(expr, syms):
    """A fast exact evaluator (ints and Fractions) for a sympy expression over `syms`."""
    key = (expr, tuple(syms))
    fn = _COMPILED.get(key)
    if fn is None:
        names = {s: f"_v{i}" for i, s in enumerate(syms)}
        src = _py(expr, names)
        fn = eval(f"lambda {', '.join(names.values())}: {src}", dict(_EVAL_ENV))  # noqa: S307 (our own source)
        if len(_COMPILED) > 4096:
            _COMPILED.clear()
        _COMPILED[key] = fn
    return fn


def _fd(a, b):
    if type(a) is int and type(b) is int:
        return a // b
    return math.floor(Fraction(a) / Fraction(b))


def _cd(a, b):
    if type(a) is int and type(b) is int:
        return -((-a) // b)
    return math.ceil(Fraction(a) / Fraction(b))


def _mod(a, b):
    if type(a) is int and type(b) is int:
        return a % b
    a, b = Fraction(a), Fraction(b)
    r = a - b * math.floor(a / b)
    return int(r) if r.denominator == 1 else r


def _int(x):
    x = Fraction(x)
    return int(x) if x.denominator == 1 else x


def _truediv(a, b):
    if type(a) is int and type(b) is int and a % b == 0:
        return a // b
    return _int(Fraction(a) / Fraction(b))


_EVAL_ENV = {
    "_F": Fraction,
    "_fd": _fd,
    "_cd": _cd,
    "_mod": _mod,
    "_floor": lambda a: math.floor(Fraction(a)),
    "_ceil": lambda a: math.ceil(Fraction(a)),
    "_div": _truediv,
    "_trunc": lambda a: math.trunc(Fraction(a)),
    "_max": max,
    "_min": min,
}


def _py(e, names) -> str:
    import sympy

    if e is sympy.true or e is True:
        return "True"
    if e is sympy.false or e is False:
        return "False"
    if e.is_Symbol:
        if e not in names:
            raise _NoEval(f"unknown symbol {e}")
        return names[e]
    if e.is_Integer:
        return f"({int(e)})"
    if e.is_Rational:
        return f"_F({int(e.p)}, {int(e.q)})"
    if e.is_Number:
        raise _NoEval(f"number {e}")
    a = [_py(x, names) for x in e.args]
    cls = type(e).__name__
    if e.is_Add:
        return "(" + " + ".join(a) + ")"
    if e.is_Mul:
        return "(" + " * ".join(a) + ")"
    if e.is_Pow:
        exp = e.args[1]
        if exp.is_Integer and int(exp) >= 0:
            return f"({a[0]} ** {int(exp)})"
        if exp.is_Integer:
            return f"_div(1, {a[0]} ** {-int(exp)})"
        raise _NoEval("power")
    if cls in ("FloorDiv",):
        return f"_fd({a[0]}, {a[1]})"
    if cls in ("CeilDiv",):
        return f"_cd({a[0]}, {a[1]})"
    if cls in ("floor", "FloorToInt"):
        return f"_floor({a[0]})"
    if cls in ("ceiling", "CeilToInt"):
        return f"_ceil({a[0]})"
    if cls in ("Mod", "PythonMod"):
        return f"_mod({a[0]}, {a[1]})"
    if cls == "ModularIndexing":
        return f"_mod(_fd({a[0]}, {a[1]}), {a[2]})"
    if cls in ("CleanDiv", "IntTrueDiv", "FloatTrueDiv"):
        return f"_div({a[0]}, {a[1]})"
    if cls in ("TruncToInt",):
        return f"_trunc({a[0]})"
    if cls in ("Identity", "ToFloat"):
        return a[0]
    if cls == "Max":
        return f"_max({', '.join(a)})"
    if cls == "Min":
        return f"_min({', '.join(a)})"
    ops = {
        "Equality": "==",
        "Unequality": "!=",
        "StrictLessThan": "<",
        "LessThan": "<=",
        "StrictGreaterThan": ">",
        "GreaterThan": ">=",
    }
    if cls in ops:
        return f"({a[0]} {ops[cls]} {a[1]})"
    if cls == "And":
        return "(" + " and ".join(a) + ")"
    if cls == "Or":
        return "(" + " or ".join(a) + ")"
    if cls == "Not":
        return f"(not {a[0]})"
    if cls == "Piecewise":
        out = "None"
        for (val, cond) in reversed(e.args):
            out = f"({_py(val, names)} if {_py(cond, names)} else {out})"
        return out
    raise _NoEval(cls)


# ---------------------------------------------------------------------------------------------
# Human formulas
# ---------------------------------------------------------------------------------------------


def _printer():
    import sympy
    from sympy.printing.str import StrPrinter

    class Human(StrPrinter):
        def _frac(self, a):
            a = sympy.together(a)
            n, d = sympy.fraction(a)
            if d == 1:
                return self._print(n)
            ns = self._print(n)
            if n.is_Add or (n.is_Mul and n.could_extract_minus_sign()):
                ns = f"({ns})"
            ds = self._print(d)
            if not (d.is_Integer or d.is_Symbol):
                ds = f"({ds})"
            return f"{ns}/{ds}"

        def _print_floor(self, e):
            return f"floor({self._frac(e.args[0])})"

        def _print_ceiling(self, e):
            return f"ceil({self._frac(e.args[0])})"

        def _print_Mod(self, e):
            return f"({self._print(e.args[0])} % {self._print(e.args[1])})"

        def _print_Max(self, e):
            return "max(" + ", ".join(self._print(a) for a in e.args) + ")"

        def _print_Min(self, e):
            return "min(" + ", ".join(self._print(a) for a in e.args) + ")"

        def _print_Add(self, e, order=None):
            const, rest = e.as_coeff_Add()
            fractional = any(
                not t.as_coeff_Mul()[0].is_Integer for t in sympy.Add.make_args(rest)
            ) or not const.is_Integer
            if fractional and rest != 0:
                if const.is_Integer:
                    body = self._frac(rest)
                    if const == 0:
                        return body
                    return f"{body} {'+' if const > 0 else '-'} {abs(int(const))}"
                return self._frac(e)
            return super()._print_Add(e, order=order)

    return Human()


_PRINTER = None


def _fmt(e) -> str:
    global _PRINTER
    if _PRINTER is None:
        _PRINTER = _printer()
    return _PRINTER.doprint(e)


def _flatten_floor(q):
    """(floor(x) + k)/n -> (x + k)/n when k is integer-valued and n a positive integer
    (floor((floor(x) + k)/n) == floor((x + k)/n)), so nested floors read as one."""
    import sympy

    num, den = sympy.fraction(sympy.together(q))
    if not (den.is_Integer and den > 0):
        return q
    floors = [t for t in sympy.Add.make_args(num) if isinstance(t, sympy.floor)]
    rest = [t for t in sympy.Add.make_args(num) if not isinstance(t, sympy.floor)]
    if len(floors) != 1:
        return q
    if not all(_integer_poly(t) for t in rest):
        return q
    return (floors[0].args[0] + sympy.Add(*rest)) / den


def _integer_poly(t) -> bool:
    """True when t is a product of an integer and symbols (integer-valued for integer symbols)."""
    coeff, rest = t.as_coeff_Mul()
    if not coeff.is_Integer:
        return False
    return all(f.is_Symbol or (f.is_Pow and f.args[0].is_Symbol and f.args[1].is_Integer and f.args[1] > 0) for f in __import__("sympy").Mul.make_args(rest) if f != 1)


class _Formatter:
    """Turns ShapeEnv expressions into the user's formulas, exact where division is exact."""

    def __init__(self, space: _Space, env_map: dict, valid_points: list, exact: bool = True):
        self.space = space
        self.exact = exact
        self.env_map = env_map  # env symbol -> user symbol
        self.points = valid_points
        self.memo: dict = {}
        self.printed: dict = {}

    def to_user(self, expr):
        return expr.xreplace(self.env_map)

    def _const_over_points(self, e):
        """The value of e if it is the same at every valid point, else None."""
        if not self.exact:
            return None
        if len(self.points) < 2 and not self._all_fixed():
            return None
        try:
            fn = self.space.fn(e)
        except _NoEval:
            return None
        vals = set()
        for p in self.points:
            try:
                vals.add(Fraction(self.space.call(fn, p)))
            except (ZeroDivisionError, ValueError, OverflowError, TypeError):
                return None
            if len(vals) > 1:
                return None
        return vals.pop() if vals else None

    def _all_fixed(self):
        return all(len(self.space.allowed(v)) == 1 for v in self.space.vars)

    def simplify(self, e):
        """Replace floor divisions whose remainder is constant over the valid sizes by exact ones."""
        import sympy

        if e in self.memo:
            return self.memo[e]
        if e.is_Atom:
            out = e
        else:
            args = [self.simplify(a) for a in e.args]
            cls = type(e).__name__
            if cls in ("FloorDiv", "CeilDiv", "CleanDiv", "IntTrueDiv", "FloatTrueDiv"):
                a, b = args
                q = a / b
                if cls in ("CleanDiv", "IntTrueDiv", "FloatTrueDiv"):
                    out = q
                else:
                    out = self._exact(q, ceil=cls == "CeilDiv")
            elif cls in ("floor", "FloorToInt", "ceiling", "CeilToInt"):
                out = self._exact(args[0], ceil=cls in ("ceiling", "CeilToInt"))
            elif cls in ("Mod", "PythonMod"):
                c = self._const_over_points(e.func(*args))
                out = sympy.Integer(int(c)) if c is not None and c.denominator == 1 else sympy.Mod(*args)
            elif cls == "ModularIndexing":
                x, d, m = args
                inner = self._exact(x / d)
                c = self._const_over_points(sympy.Mod(inner, m))
                out = sympy.Integer(int(c)) if c is not None and c.denominator == 1 else sympy.Mod(inner, m)
            elif cls in ("Min", "Max") and self.exact:
                out = self._pick(e.func(*args), args, cls)
            elif cls in ("Identity", "ToFloat", "TruncToInt"):
                out = args[0]
            else:
                try:
                    out = e.func(*args)
                except Exception:
                    out = e
        self.memo[e] = out
        return out

    def _pick(self, whole, args, cls):
        """min(a, b) -> a when a is the smaller at every valid size (whole windows swept)."""
        if not (hasattr(whole, "args") and type(whole).__name__ == cls):
            return whole  # sympy already decided
        pts = list(self.points)
        sample = self.space.sample_point()
        for v in self.space.vars:
            if v.sym in whole.free_symbols:
                for x in self.space.allowed(v)[:4096]:
                    q = dict(sample)
                    q[v.name] = x
                    pts.append(q)
        try:
            fns = [self.space.fn(a) for a in args]
        except _NoEval:
            return whole
        winners = set()
        for p in pts:
            try:
                vals = [Fraction(self.space.call(f, p)) for f in fns]
            except (ZeroDivisionError, ValueError, OverflowError, TypeError):
                return whole
            best = min(vals) if cls == "Min" else max(vals)
            winners.add(next(i for i, v in enumerate(vals) if v == best))
            if len(winners) > 1:
                # ties are fine: accept an arg that is always a winner
                ok = [i for i in range(len(args)) if all(
                    (min if cls == "Min" else max)(Fraction(self.space.call(f, q)) for f in fns) == Fraction(self.space.call(fns[i], q))
                    for q in pts
                )]
                return args[ok[0]] if ok else whole
        return args[winners.pop()] if winners else whole

    def _exact(self, q, ceil=False):
        import sympy

        q = _flatten_floor(q)
        # floor(q) == q - frac(q): when frac(q) is the same at every valid point, it is exact
        frac = self._const_over_points(q - (sympy.ceiling(q) if ceil else sympy.floor(q)))
        if frac is not None:
            return sympy.expand(q - sympy.Rational(frac.numerator, frac.denominator))
        return sympy.ceiling(q) if ceil else sympy.floor(q)

    def dim(self, expr) -> str:
        text = self.printed.get(expr)
        if text is None:
            text = self.printed[expr] = _fmt(self.simplify(self.to_user(expr)))
        return text

    def structure(self, shapes):
        if shapes is None:
            return None
        if isinstance(shapes, tuple):
            return [self.dim(d) for d in shapes]
        return [self.structure(s) for s in shapes]


# ---------------------------------------------------------------------------------------------
# Describing constraints
# ---------------------------------------------------------------------------------------------


def _describe_set(v: _Var, allowed: list) -> Optional[str]:
    """Plain words for the values of v (within its window) that satisfy its constraints."""
    name = v.name
    win = v.window()
    n = len(win)
    if not allowed:
        return f"no value of {name} in {win.start}..{win.stop - 1} fits"
    if len(allowed) == n:
        return None
    if len(allowed) == 1:
        return f"{name} is fixed at {allowed[0]}"
    a, b = allowed[0], allowed[-1]
    at_top = b == win.stop - 1
    if b - a + 1 == len(allowed):
        if a == win.start and not at_top:
            return f"{name} must be ≤ {b}"
        if at_top and v.open_hi:
            return f"{name} must be ≥ {a}"
        if at_top:
            return f"{name} must be ≥ {a}" if a > win.start else None
        return f"{name} must be between {a} and {b}"
    s = set(allowed)
    member = [x in s for x in range(a, b + 1)]
    for p in range(2, min(1025, (b - a) // 2 + 2)):
        if not all(member[i] == member[i + p] for i in range(len(member) - p)):
            continue
        res = {x % p for x in allowed if x < a + p}
        if len(res) == p:
            continue
        # tail: it must run to the end of the window (or the user's bound) to be a period
        top = max((x for x in win if x % p in res), default=b)
        if b < top - p and v.open_hi:
            continue
        if res == {0}:
            text = f"{name} must be a multiple of {p}"
        elif len(res) == 1:
            r = next(iter(res))
            text = f"{name} must be {r} more than a multiple of {p}"
        else:
            rs = sorted(res)
            if rs[-1] - rs[0] + 1 == len(rs):
                text = f"{name} mod {p} must be between {rs[0]} and {rs[-1]}"
            else:
                text = f"{name} mod {p} must be one of {', '.join(map(str, rs))}"
        first = min(x for x in win if x % p in res)
        extra = []
        if a > first:
            extra.append(f"≥ {a}")
        if b < top:
            extra.append(f"≤ {b}")
        return text + (f", {' and '.join(extra)}" if extra else "")
    shown = ", ".join(map(str, allowed[:8]))
    return f"{name} must be one of {shown}{', ...' if len(allowed) > 8 else ''} ({len(allowed)} values in {win.start}..{win.stop - 1})"


def _relation_text(expr) -> str:
    """A multi-variable condition in words: '3*H*W must equal 9216'."""
    import sympy

    cls = type(expr).__name__
    if cls in ("Equality", "Unequality") and len(expr.args) == 2:
        lhs, rhs = expr.args
        if rhs == 0 and type(lhs).__name__ in ("Mod", "PythonMod") or lhs == 0 and type(rhs).__name__ in ("Mod", "PythonMod"):
            m = lhs if rhs == 0 else rhs
            what = "must" if cls == "Equality" else "must not"
            return f"{_fmt(m.args[0])} {what} be a multiple of {_fmt(m.args[1])}"
        if lhs.is_Number and not rhs.is_Number:
            lhs, rhs = rhs, lhs
        return f"{_fmt(lhs)} {'must equal' if cls == 'Equality' else 'must not equal'} {_fmt(rhs)}"
    ops = {"StrictLessThan": "<", "LessThan": "≤", "StrictGreaterThan": ">", "GreaterThan": "≥"}
    if cls in ops:
        return f"{_fmt(expr.args[0])} must be {ops[cls]} {_fmt(expr.args[1])}"
    if isinstance(expr, sympy.Basic):
        return f"{_fmt(expr)} must hold"
    return str(expr)


def _simplify_cond(expr, space: _Space, cond_vars):
    """Substitute irrelevant variables by their samples and tidy the relation for printing."""
    import sympy

    subs = {v.sym: sympy.Integer(v.sample) for v in space.vars if v.sym in expr.free_symbols and v not in cond_vars}
    e = expr.xreplace(subs) if subs else expr
    fm = _Formatter(space, {}, [], exact=False)  # the condition itself must not be simplified away

    def tidy(x):
        return fm.simplify(x) if isinstance(x, sympy.Basic) and not x.is_Atom else x

    try:
        if type(e).__name__ in ("Equality", "Unequality", "StrictLessThan", "LessThan", "StrictGreaterThan", "GreaterThan"):
            lhs, rhs = tidy(e.args[0]), tidy(e.args[1])
            if rhs == 0 and lhs.is_Mul:  # B*Mod(x, 16) == 0 -> Mod(x, 16) == 0
                coeff, rest = lhs.as_coeff_Mul()
                if coeff > 0:
                    lhs = rest
            if type(e).__name__ == "Equality" and rhs == 0 and type(lhs).__name__ != "Mod":
                lhs, rhs = _split_sides(lhs)
            return type(e)(lhs, rhs, evaluate=False)
    except Exception:
        pass
    return e


def _split_sides(x):
    """a - b == 0 -> (a, b) with the constant on the right."""
    import sympy

    const, rest = x.as_coeff_Add()
    if const != 0:
        return rest, -const
    pos = [t for t in sympy.Add.make_args(x) if not t.could_extract_minus_sign()]
    neg = [-t for t in sympy.Add.make_args(x) if t.could_extract_minus_sign()]
    if pos and neg:
        return sympy.Add(*pos), sympy.Add(*neg)
    return x, sympy.Integer(0)


def _constraints(ctx: _Ctx, space: _Space) -> list:
    """Constraint dicts in the user's terms: one per variable (all its single-variable conditions
    combined), then one per multi-variable condition."""
    out = []
    for v in space.vars:
        conds = sorted(space.single(v), key=lambda c: c.seq)
        if not conds:
            continue
        allowed = space.allowed(v)
        text = _describe_set(v, allowed)
        if text is None:
            continue
        paths, seq = _first_failures(space, v, conds, allowed)
        label = "the batch size" if v.internal else v.name
        if v.internal:
            text = text.replace(f"{v.name} ", "the batch size ", 1)
        if len(allowed) == 1 and len(paths) == 1:
            msg = f"{text} by {ctx.layer_label(paths[0], detail=True)}"
        else:
            where = ctx.where(paths)
            msg = f"{text} ({where})" if where else text
        if (v.lo is not None or v.hi is not None) and allowed:
            ends = [x for x in (v.lo_w, v.hi_w if not v.open_hi else None) if x is not None]
            if any(x not in set(allowed) for x in ends):
                msg += f"; your range {v.lo or ''}..{v.hi or ''} for {label} includes sizes that do not fit"
        out.append({"message": msg, "layer": paths[0] if paths else None, "dims": [] if v.internal else [v.name], "_seq": seq, "_vars": [v]})
    for c in space.multi():
        names = [v.name for v in c.vars if not v.internal]
        expr = _simplify_cond(c.expr, space, c.vars)
        rel = _relation_text(expr)
        is_eq = (
            type(expr).__name__ == "Equality"
            and len(expr.args) == 2
            and (expr.args[0].is_Number or expr.args[1].is_Number)
            and not any(type(a).__name__ in ("Mod", "PythonMod") for a in expr.args)
        )
        labels = [("the batch size" if v.internal else v.name) for v in c.vars]
        if is_eq and c.layer is not None:
            who = " and ".join(labels) if len(labels) <= 2 else ", ".join(labels[:-1]) + " and " + labels[-1]
            at = ", ".join(f"{v.name}={v.sample}" for v in c.vars)
            msg = f"{who} are fixed by {ctx.layer_label(c.layer, detail=True)}: {rel} (the sample has {at})"
        else:
            where = ctx.where([c.layer])
            msg = f"{rel} ({where})" if where else rel
        if c.kind == "unverified":
            msg += " [not checked with a concrete run]"
        out.append({"message": msg, "layer": c.layer, "dims": names, "_seq": c.seq, "_vars": list(c.vars)})
    out.sort(key=lambda d: d["_seq"])
    return out


def _first_failures(space: _Space, v: _Var, conds: list, allowed: list) -> tuple:
    """The layers where sizes that do not fit fail first (in the order the network runs).

    When the allowed values have holes (multiples of 16), only the holes count: tiny sizes
    failing at an early pooling layer are not what the rule is about.
    """
    s = set(allowed)
    win = v.window()
    if allowed:
        holes = [x for x in range(allowed[0], allowed[-1] + 1) if x not in s]
    else:
        holes = []
    failing = holes or [x for x in win if x not in s]
    p = space.sample_point()
    first: dict = {}

    def blame(xs):
        for x in xs[:4096]:
            p[v.name] = x
            for c in conds:
                if not space.holds(c, p):
                    first.setdefault(c.seq, c)
                    break

    blame(failing)
    if holes:
        # small sizes that the periodic rule alone would allow (16 in "a multiple of 16, ≥ 48")
        # fail elsewhere: name those layers too
        rule = list(first.values())
        small = []
        for x in range(win.start, allowed[0]):
            p[v.name] = x
            if all(space.holds(c, p) for c in rule):
                small.append(x)
        blame(small)
    chosen = [first[k] for k in sorted(first)] or conds[-1:]
    return list(dict.fromkeys(c.layer for c in chosen)), chosen[0].seq


# ---------------------------------------------------------------------------------------------
# The symbolic pass proper
# ---------------------------------------------------------------------------------------------


def _symbolic(ctx: _Ctx, verify: int) -> SymbolicResult:
    import torch

    devices = [torch.device("meta")]
    if ctx.device.type != "meta":
        devices.append(ctx.device)
    last = None
    for dev in devices:
        try:
            _env, tracer, _inputs, out_struct = _trace(ctx, dev)
            ctx.trace_device = dev
            break
        except Exception as e:  # a layer that makes tensors on its own device: retry there
            last = e
            if "device" not in str(e).lower() or dev == devices[-1]:
                raise
    else:  # pragma: no cover
        raise last
    env_map = {v.env_sym: v.sym for v in ctx.all_vars}
    rng = random.Random(0)
    space = _Space(ctx, rng)

    # guards -> conditions; the batch variable stays in (its conditions are batch issues)
    pending = []
    for g in sorted(tracer.guards, key=lambda g: g.seq):
        if g.artifact:
            continue
        whole = g.expr.xreplace(env_map)
        parts = whole.args if type(whole).__name__ == "And" else (whole,)
        for expr in parts:
            if expr in (True, False) or not (expr.free_symbols & set(space.syms)):
                continue
            if not expr.free_symbols <= set(space.syms):
                continue  # internal symbols we cannot name
            cond = _Cond(expr, g.layer, g.seq, "check" if g.check else "other")
            if g.check:
                space.add(cond)
            else:
                pending.append(cond)

    def evaluate_structure(struct, point):
        def ev(s):
            if s is None:
                return None
            if isinstance(s, tuple):
                return tuple(int(space.call(space.fn(d.xreplace(env_map)), point)) for d in s)
            return [ev(x) for x in s]

        return ev(struct)

    def mismatch(point, probe):
        """The first layer whose formula disagrees with a concrete run, or None."""
        for path in sorted(tracer.outputs, key=lambda p: tracer.order[p]):
            if path not in probe.outputs:
                continue
            try:
                want = evaluate_structure(tracer.outputs[path], point)
            except (_NoEval, ZeroDivisionError, TypeError, ValueError):
                return path, None, probe.outputs[path]
            got = probe.outputs[path]
            if _norm(want) != _norm(got):
                return path, want, got
        if probe.output is not None:
            want = evaluate_structure(out_struct, point)
            if _norm(want) != _norm(probe.output):
                return None, want, probe.output
        return None

    # sizes that depend on the data (nonzero, boolean masks) have symbols we did not make
    known = set(env_map)
    for path in sorted(tracer.outputs, key=lambda p: tracer.order[p]) + [None]:
        struct = tracer.outputs[path] if path is not None else out_struct
        for e in _exprs_in(struct):
            if e.free_symbols - known:
                where = ctx.layer_label(path) if path is not None else "the network"
                raise _Unfollowable(f"the output size of {where} depends on the data, not only on the input sizes")

    # guards outside shape checks: keep those whose violation breaks the network
    # Up to three runs at sizes that break it (nearest, farthest, between): a guard is a real
    # constraint only when every one of them fails; one that runs either matches every formula
    # (the guard only picked an internal path) or shows the trace lost the dimension.
    classify_budget = max(0, ctx.max_probes)
    probed: dict = {}

    def probe_at(point):
        nonlocal classify_budget
        key = tuple(sorted(point.items()))
        if key not in probed:
            if classify_budget <= 0:
                return None
            classify_budget -= 1
            probed[key] = _run_probe(ctx, point, "fake")
        return probed[key]

    for cond in pending:
        try:
            cond.fn = space.fn(cond.expr)
        except _NoEval:
            continue
        cond.vars = space._relevant(cond)
        if not cond.vars:
            continue
        points = _violating_points(space, cond)
        if not points:
            # Implied by the known constraints (or unbreakable in the ranges). Still worth
            # knowing whether it fails first, for naming layers: try once, ignoring the others.
            points = _violating_points(space, cond, keep_known=False, n=1)
            probe = probe_at(points[0]) if points else None
            if probe is not None and probe.error is not None and probe.error_layer == cond.layer:
                space.add(cond)
            continue
        verdict = "real"
        # a guard that pins a size to its sample may be the trace using the number (int(),
        # .item()) rather than a check: only a failure at every point convinces. Any other guard
        # is convincingly real when breaking it fails in its own layer.
        pins = type(cond.expr).__name__ == "Equality" and len(cond.vars) == 1 and any(a.is_Number for a in cond.expr.args)
        for point in points:
            probe = probe_at(point)
            if probe is None:
                verdict = "unverified" if verdict == "real" else verdict
                break
            if probe.error is not None:
                if not pins and probe.error_layer == cond.layer:
                    break
                continue
            bad = mismatch(point, probe)
            if bad is None:
                verdict = "harmless"
                break
            path = bad[0] if bad[0] is not None else cond.layer
            names = " and ".join(v.name for v in cond.vars)
            if type(cond.expr).__name__ == "Equality" and len(cond.vars) == 1 and any(a.is_Number for a in cond.expr.args):
                how = f"needs the concrete value of {names}"
            else:
                how = f"takes a different path when {names} {'change' if len(cond.vars) > 1 else 'changes'}"
            raise _Unfollowable(
                f"{ctx.layer_label(cond.layer)} {how} (at {_point_text(point)}, "
                f"{ctx.layer_label(path) if path is not None else 'the output'} is {_shape_text(bad[2])}, "
                f"not {_shape_text(bad[1])})"
            )
        if verdict == "real":
            space.add(cond)  # breaking it breaks the network: a real constraint
        elif verdict == "unverified":
            cond.kind = "unverified"
            space.add(cond)

    valid = space.valid_points(48)
    import sympy

    # formulas show the user's names; an internal batch shows as the size the user fixed
    fmt_map = {v.env_sym: (sympy.Integer(v.fixed_size) if v.internal else v.sym) for v in ctx.all_vars}
    formatter = _Formatter(space, fmt_map, valid)

    # check the formulas at other valid sizes
    for point in _verify_points(space, valid, verify):
        probe = _run_probe(ctx, point, "fake")
        if probe.error is not None:
            raise _Unfollowable(
                f"a concrete run at {_point_text(point)}, which meets every constraint found, fails at "
                f"{probe.error_layer_label}: {probe.error}"
            )
        bad = mismatch(point, probe)
        if bad is not None:
            where = ctx.layer_label(bad[0]) if bad[0] is not None else "the output"
            raise _Unfollowable(
                f"the formula for {where} gives {_shape_text(bad[1])} at {_point_text(point)} but a "
                f"concrete run gives {_shape_text(bad[2])}"
            )

    outputs = {path: formatter.structure(s) for path, s in tracer.outputs.items()}
    output = formatter.structure(out_struct)
    inputs = _input_formulas(ctx)
    constraints = _constraints(ctx, space)

    # batch independence
    batch_ok, issue = True, None
    if ctx.batch is not None:
        issue = _batch_issue(ctx, space, tracer, env_map, constraints, formatter, out_struct)
        batch_ok = issue is None
    for c in constraints:
        c.pop("_seq", None)
        c.pop("_vars", None)
    notes = []
    unverified = [c for c in space.conds if c.kind == "unverified"]
    if unverified:
        notes.append(f"{len(unverified)} constraint(s) could not be checked with a concrete run (probe budget)")
    return SymbolicResult(
        outputs=outputs,
        output=output,
        constraints=constraints,
        batch_ok=batch_ok,
        batch_issue=issue,
        method="symbolic",
        note="; ".join(notes) or None,
        inputs=inputs,
    )


def _exprs_in(struct):
    if struct is None:
        return
    if isinstance(struct, tuple):
        yield from struct
        return
    for s in struct:
        yield from _exprs_in(s)


def _input_formulas(ctx: _Ctx) -> list:
    out = []
    for dims, _ in ctx.inputs:
        out.append([d.name if d.name is not None else str(d.size) for d in dims])
    return out


def _norm(x):
    if x is None:
        return None
    if isinstance(x, tuple):
        return tuple(int(d) for d in x)
    return [_norm(v) for v in x]


def _point_text(point: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items())


def _shape_text(s) -> str:
    if s is None:
        return "?"
    if isinstance(s, tuple):
        return "[" + ", ".join(str(d) for d in s) + "]"
    return "(" + ", ".join(_shape_text(x) for x in s) + ")"


def _violating_points(space: _Space, cond: _Cond, keep_known: bool = True, n: int = 3) -> list:
    """Up to n sizes that break `cond` but keep every known constraint: the nearest to the
    sample, the farthest, and one between (moving one variable)."""
    base = space.sample_point()
    found = []
    for v in cond.vars:
        allowed = set(space.allowed(v)) if keep_known else set(v.window())
        cands = []
        for d in range(1, 65):
            cands += [v.sample + d, v.sample - d]
        cands += list(range(v.lo_w, v.lo_w + 17)) + [v.sample // 2, 2 * v.sample, 2 * v.sample + 16, 4 * v.sample]
        seen = set()
        for x in cands:
            if x in seen or not (v.lo_w <= x <= v.hi_w) or x not in allowed:
                continue
            seen.add(x)
            p = dict(base)
            p[v.name] = x
            if space.holds(cond, p):
                continue
            if not keep_known or all(space.holds(c, p) for c in space.multi() if c.fn is not None):
                found.append(p)
        if found:
            break
    if len(found) <= n:
        return found
    far = max(found, key=lambda p: sum(abs(p[k] - base[k]) for k in p))
    picks = [found[0], far] + [found[len(found) // 2]]
    out = []
    for p in picks:
        if p not in out:
            out.append(p)
    return out[:n]


def _verify_points(space: _Space, valid: list, n: int) -> list:
    if n <= 0:
        return []
    sample = space.sample_point()
    # moderately sized points where every variable moves (cheaper runs, more information)
    scored = []
    for p in valid[1:]:
        moved = sum(p[k] != sample[k] for k in p)
        size = sum(abs(p[k] - sample[k]) / max(sample[k], 1) for k in p)
        big = any(p[k] > 2 * sample[k] + 32 for k in p)
        scored.append((-moved, big, size, p))
    scored.sort(key=lambda t: (t[0], t[1], t[2]))
    return [t[3] for t in scored[:n]]


def _batch_issue(ctx: _Ctx, space: _Space, tracer: _Tracer, env_map, constraints, formatter, out_struct=None) -> Optional[str]:
    """The first place where the batch dimension does not flow through untouched."""
    b = ctx.batch
    label = b.name if not b.internal else f"(size {b.fixed_size}, written {b.name} here)"
    events = []
    for c in constraints:
        if b in c.get("_vars", []):
            events.append((c["_seq"], f"{ctx.layer_label(c['layer']) if c['layer'] is not None else 'the network'} constrains the batch dimension {label}: {c['message']}"))
    named = _Formatter(space, {v.env_sym: v.sym for v in ctx.all_vars}, formatter.points)

    def scan(struct):
        """Yields (kind, shape) problems of one output structure."""
        if struct is None:
            return
        if isinstance(struct, tuple):
            exprs = [d.xreplace(env_map) for d in struct]
            exact = sum(1 for e in exprs if e == b.sym)
            mixed = [e for e in exprs if e != b.sym and b.sym in e.free_symbols]
            if mixed:
                yield "folds", exprs
            elif exact == 0:
                yield "drops", exprs
            elif exact > 1:
                yield "twice", exprs
            return
        for s in struct:
            yield from scan(s)

    items = [(tracer.order[p], ctx.layer_label(p), tracer.outputs[p]) for p in tracer.outputs]
    items.append((float("inf"), "the network's output", out_struct))
    for order, who, struct in sorted(items, key=lambda t: t[0]):
        for kind, exprs in scan(struct):
            shape = "[" + ", ".join(_fmt(named.simplify(e)) for e in exprs) + "]"
            what = {
                "folds": f"folds the batch dimension {label} into other dimensions: {shape}",
                "drops": f"drops the batch dimension {label}: {shape}",
                "twice": f"uses the batch dimension {label} twice (mixes samples): {shape}",
            }[kind]
            events.append((order + 0.5, f"{who} {what}"))
            break
    if not events:
        return None
    events.sort(key=lambda t: t[0])
    return events[0][1]


# ---------------------------------------------------------------------------------------------
# Concrete probes
# ---------------------------------------------------------------------------------------------


class _Probe:
    def __init__(self):
        self.outputs: dict = {}
        self.output = None
        self.error: Optional[str] = None
        self.error_layer: Optional[str] = None
        self.error_layer_label = "the network"


def _run_probe(ctx: _Ctx, point: dict, mode: str) -> _Probe:
    """One concrete run at `point`: 'fake' (static fake tensors, no compute) or 'real'."""
    import torch

    t0 = time.perf_counter()
    ctx.probes_run += 1
    res = _Probe()
    stack: list = []
    handles = []

    def pre(mod, args):
        stack.append(ctx.paths_of[id(mod)][0])

    def post(mod, args, out):
        if stack:
            stack.pop()
        for path in ctx.paths_of[id(mod)]:
            if path not in res.outputs:
                res.outputs[path] = _shape_of(out, int)

    seen = set()
    for mod in ctx.layers.values():
        if id(mod) not in seen:
            seen.add(id(mod))
            handles.append(mod.register_forward_pre_hook(pre))
            handles.append(mod.register_forward_hook(post))
    shapes = ctx.sizes_at(point)
    try:
        with torch.no_grad():
            if mode == "fake":
                from torch._subclasses.fake_tensor import FakeTensorMode

                if ctx._static is None:
                    dev = getattr(ctx, "trace_device", torch.device("meta"))
                    fm = FakeTensorMode(allow_non_fake_inputs=True)
                    ctx._static = (fm, _fake_state(ctx.model, fm, dev), dev)
                fm, state, dev = ctx._static
                with fm:
                    args = [torch.empty(s, dtype=dt, device=dev) for s, (_, dt) in zip(shapes, ctx.inputs)]
                    out = torch.func.functional_call(ctx.model, state, tuple(args), strict=False)
            else:
                args = []
                for s, (_, dt) in zip(shapes, ctx.inputs):
                    if dt.is_floating_point or dt.is_complex:
                        args.append(torch.randn(s, dtype=dt, device=ctx.device))
                    else:
                        args.append(torch.zeros(s, dtype=dt, device=ctx.device))
                # fresh buffers: a training-mode run must not move the model's running stats
                bufs = {n: t.clone() for n, t in ctx.model.named_buffers(remove_duplicate=False)}
                out = torch.func.functional_call(ctx.model, bufs, tuple(args), strict=False)
            res.output = _shape_of(out, int)
    except Exception as e:
        res.error = _short_error(e, 200)
        res.error_layer = stack[-1] if stack else None
        res.error_layer_label = ctx.layer_label(res.error_layer) if stack else "the network"
    finally:
        for h in handles:
            h.remove()
    ctx.probe_seconds += time.perf_counter() - t0
    return res


def _probe_pass(ctx: _Ctx, note: str) -> SymbolicResult:
    """Describe the network from concrete runs at several sizes (no symbolic machinery)."""
    import sympy

    variables = ctx.all_vars
    sample = {v.name: v.sample for v in variables}
    mode = "fake"
    base = _run_probe(ctx, sample, mode)
    if base.error is not None:
        mode = "real"
        base = _run_probe(ctx, sample, mode)
    if base.error is not None:
        return SymbolicResult(
            outputs={},
            output=None,
            constraints=[],
            batch_ok=True,
            batch_issue=None,
            method="probes",
            note=f"{note}; the sample itself fails at {base.error_layer_label}: {base.error}",
            inputs=_input_formulas(ctx),
        )
    budget = max(ctx.max_probes, len(variables) * 3)
    per_var = max(2, min(8, (budget - 1) // max(len(variables), 1)))
    runs: dict[str, list] = {}  # var -> [(value, probe)]
    constraints = []
    for v in variables:
        offsets = [1, 2, 3, 4, 8, 16]
        cand = [v.sample + d for d in offsets]
        if v.internal or v is ctx.batch:
            cand = [v.sample + 1]
        cand = cand[: max(1, per_var - 1)] + [2 * v.sample]
        cand = [x if x <= v.hi_w else v.sample - (x - v.sample) for x in cand]
        cand = [x for x in dict.fromkeys(cand) if v.lo_w <= x <= v.hi_w and x != v.sample]
        runs[v.name] = [(v.sample, base)]
        for x in cand:
            p = dict(sample)
            p[v.name] = x
            runs[v.name].append((x, _run_probe(ctx, p, mode)))
        fails = [(x, r) for x, r in runs[v.name] if r.error is not None]
        if fails:
            constraints.append(_probe_constraint(ctx, v, runs[v.name]))
    # one joint run with every variable moved, to tell sums from products
    joint_point = {}
    for v in variables:
        oks = [x for x, r in runs[v.name] if r.error is None and x != v.sample]
        joint_point[v.name] = oks[-1] if oks else v.sample
    joint = _run_probe(ctx, joint_point, mode) if len(variables) > 1 and joint_point != sample else None

    def fit(path_key, getter) -> Any:
        """Formula structure for one output from the runs; '?' where no simple fit exists."""
        base_shape = getter(base)
        if base_shape is None:
            return None
        if isinstance(base_shape, list):
            return [fit((path_key, i), lambda r, i=i, g=getter: (g(r)[i] if g(r) is not None else None)) for i in range(len(base_shape))]
        dims = []
        for k, y0 in enumerate(base_shape):
            per = {}
            unknown = False
            for v in variables:
                pts = []
                for x, r in runs[v.name]:
                    s = getter(r)  # a layer before the failing one still has its output
                    if isinstance(s, tuple) and len(s) == len(base_shape):
                        pts.append((x, s[k]))
                if len({y for _, y in pts}) > 1:
                    per[v.name] = _fit_1d(v, pts)
                elif len(pts) < 2 and len(runs[v.name]) > 1:
                    unknown = True  # every other size failed before this layer
            if not per:
                dims.append("?" if unknown else str(y0))
                continue
            if any(f is None for f in per.values()):
                dims.append("?")
                continue
            if len(per) == 1:
                dims.append(_fmt(next(iter(per.values()))))
                continue
            fs = list(per.values())
            prod = sympy.expand(sympy.Mul(*fs) / sympy.Integer(y0) ** (len(fs) - 1))
            summ = sympy.expand(sympy.Add(*fs) - (len(fs) - 1) * sympy.Integer(y0))
            chosen = None
            if joint is not None:
                js = getter(joint)
                if isinstance(js, tuple) and len(js) == len(base_shape):
                    for cand in (prod, summ):
                        if _eval_at(cand, variables, joint_point) == js[k]:
                            chosen = cand
                            break
            dims.append(_fmt(chosen) if chosen is not None else "?")
        return dims

    outputs = {}
    for path in base.outputs:
        outputs[path] = fit(path, lambda r, p=path: r.outputs.get(p))
    output = fit(None, lambda r: r.output)
    inputs = _input_formulas(ctx)
    # batch: which dims move with the batch
    issue = None
    if ctx.batch is not None:
        b = ctx.batch
        moved = [(x, r) for x, r in runs[b.name] if x != b.sample and r.error is None]
        if not moved:
            failed = [(x, r) for x, r in runs[b.name] if r.error is not None]
            if failed:
                x, r = failed[0]
                issue = f"the network fails with batch size {x} at {r.error_layer_label}: {r.error}"
        else:
            x, r = moved[0]
            for path in base.outputs:
                bad = _batch_probe_issue(base.outputs[path], r.outputs.get(path), b.sample, x)
                if bad:
                    issue = f"{ctx.layer_label(path)} {bad}"
                    break
    n_ok = sum(1 for rs in runs.values() for _, r in rs if r.error is None)
    sizes = "; ".join(f"{k}: {', '.join(str(x) for x, _ in rs)}" for k, rs in runs.items() if not any(v.internal and v.name == k for v in variables))
    extra = f" (fitted from {n_ok} runs at {sizes})" if sizes else ""
    unfit = any("?" in str(f) for f in list(outputs.values()) + [output])
    if unfit:
        extra += "; '?' marks sizes no simple formula fits"
    return SymbolicResult(
        outputs=outputs,
        output=output,
        constraints=[c for c in constraints if c],
        batch_ok=issue is None,
        batch_issue=issue,
        method="probes",
        note=note + extra,
        inputs=inputs,
    )


def _eval_at(expr, variables, point) -> Optional[int]:
    try:
        fn = _compile(expr, [v.sym for v in variables])
        val = Fraction(fn(*[point[v.name] for v in variables]))
        return int(val) if val.denominator == 1 else None
    except Exception:
        return None


def _fit_1d(v: _Var, pts: list):
    """A simple formula in v through all (x, y) points: linear, or floor((x + a)/d)*m + c."""
    import sympy

    x = v.sym
    pts = sorted(set(pts))
    if len(pts) < 2:
        return None
    (x1, y1), (x2, y2) = pts[0], pts[-1]
    slope = Fraction(y2 - y1, x2 - x1)
    q = Fraction(y1) - slope * x1
    if all(Fraction(y) == slope * xx + q for xx, y in pts):
        return sympy.Rational(slope.numerator, slope.denominator) * x + sympy.Rational(q.numerator, q.denominator)
    for m in (1, 2, 3, 4):
        for d in range(2, 129):
            if abs(Fraction(m, d) - slope) > Fraction(1, 2) * Fraction(m, d) + Fraction(1, max(x2 - x1, 1)):
                continue
            for a in range(d):
                c = y1 - m * ((x1 + a) // d)
                if all(y == m * ((xx + a) // d) + c for xx, y in pts):
                    return m * sympy.floor((x + a) / sympy.Integer(d)) + c
    return None


def _batch_probe_issue(s0, s1, b0, b1) -> Optional[str]:
    if s0 is None or s1 is None:
        return None
    if isinstance(s0, tuple) and isinstance(s1, tuple):
        if len(s0) != len(s1):
            return "changes rank with the batch size"
        changed = [(a, c) for a, c in zip(s0, s1) if a != c]
        if not changed:
            return f"drops the batch dimension (output {_shape_text(s0)} at batch {b0} and {b1})"
        if all(a == b0 and c == b1 for a, c in changed):
            return None if len(changed) == 1 else f"uses the batch dimension twice: {_shape_text(s0)}"
        return f"folds the batch dimension into other dimensions ({_shape_text(s0)} at batch {b0}, {_shape_text(s1)} at {b1})"
    if isinstance(s0, list) and isinstance(s1, list):
        for a, c in zip(s0, s1):
            bad = _batch_probe_issue(a, c, b0, b1)
            if bad:
                return bad
    return None


def _probe_constraint(ctx: _Ctx, v: _Var, runs: list) -> Optional[dict]:
    ok = sorted(x for x, r in runs if r.error is None)
    bad = sorted((x, r) for x, r in runs if r.error is not None)
    if not bad:
        return None
    where = bad[0][1].error_layer
    label = "the batch size" if v.internal else v.name
    guess = None
    if ok == [v.sample]:
        guess = f"{label} is probably fixed at {v.sample}"
    else:
        for p in (2, 4, 8, 16, 32, 64, 128, 256):
            r0 = v.sample % p
            if all(((x % p) == r0) == (r.error is None) for x, r in runs):
                guess = f"{label} probably must be a multiple of {p}" if r0 == 0 else f"{label} probably must be {r0} more than a multiple of {p}"
                break
    tested = ", ".join(f"{x}{'' if r.error is None else ' fails'}" for x, r in sorted(runs, key=lambda t: t[0]))
    at = ctx.where([where]) or "the network"
    msg = f"{guess or f'some values of {label} fail'} ({at}; probed {v.name} = {tested}: {bad[0][1].error})"
    return {"message": msg, "layer": where, "dims": [] if v.internal else [v.name]}
