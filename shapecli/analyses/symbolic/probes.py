"""Concrete probes: one run of the model at given sizes (`_run_probe`: static fake tensors, no
compute, or real ones), which the symbolic pass uses to classify guards and check formulas;
and the fallback when the symbolic machinery cannot follow the network (`_probe_pass`): runs
at several sizes, simple formulas fitted to them, and the rules the failures suggest."""
from __future__ import annotations

import time
from fractions import Fraction
from typing import Any, Optional

from shapecli.analyses.symbolic.context import (
    _Ctx,
    _input_formulas,
    _shape_text,
    _short_error,
    _Var,
)
from shapecli.analyses.symbolic.evaluate import _compile
from shapecli.analyses.symbolic.formulas import _fmt
from shapecli.analyses.symbolic.result import SymbolicResult
from shapecli.analyses.symbolic.trace import _fake_state, _shape_of


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
