"""One call's context: the free dimensions as variables (`_Var`); the inputs, layers and batch
(`_Ctx`); and how messages name layers, inputs, shapes and errors. `_Unfollowable` is raised
wherever the symbolic machinery cannot follow the network (`symbolic_pass` then falls back to
concrete probes)."""
from __future__ import annotations

import re
from typing import Optional

from shapecli.errors import UsageError, literal
from shapecli.shapes import shape_text
from shapecli.spec.dims import unify_dims


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


def _input_formulas(ctx: _Ctx) -> list:
    out = []
    for dims, _ in ctx.inputs:
        out.append([d.name if d.name is not None else str(d.size) for d in dims])
    return out


def _shape_text(s) -> str:
    """A shape (a tuple of sizes) or a list of them; '?' for one not known."""
    return shape_text(s, absent="?")
