"""The symbolic pass proper (`_symbolic`): trace the model, turn its guards into conditions in
the user's names, keep those whose violation breaks the network (concrete runs at sizes that
break them), check every formula at other valid sizes, and report the formulas, the
constraints and where the batch dimension does not flow through untouched."""
from __future__ import annotations

import random
from typing import Optional

from shapecli import layers as registry

from shapecli.analyses.symbolic.constraints import _constraints
from shapecli.analyses.symbolic.context import _Ctx, _input_formulas, _shape_text, _Unfollowable
from shapecli.analyses.symbolic.evaluate import _NoEval
from shapecli.analyses.symbolic.formulas import _fmt, _Formatter
from shapecli.analyses.symbolic.probes import _run_probe
from shapecli.analyses.symbolic.result import SymbolicResult
from shapecli.analyses.symbolic.space import _Cond, _Space
from shapecli.analyses.symbolic.trace import _trace, _Tracer


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


def _norm(x):
    if x is None:
        return None
    if isinstance(x, tuple):
        return tuple(int(d) for d in x)
    return [_norm(v) for v in x]


def _point_text(point: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items())


def _violating_points(space: _Space, cond: _Cond, keep_known: bool = True, n: int = 3) -> list:
    """Up to n sizes that break `cond` but keep every known constraint: the nearest to the
    sample, the farthest, and one between (moving one variable). Sizes next to the condition's own
    numbers are tried too: `T <= 1024` (a table of 1024 positions) is broken only far from a sample of 64."""
    base = space.sample_point()
    edges = sorted({int(a) + k for a in cond.expr.atoms() if getattr(a, "is_Integer", False) for k in (-1, 0, 1, 2)})
    found = []
    for v in cond.vars:
        allowed = set(space.allowed(v)) if keep_known else set(v.window())
        cands = []
        for d in range(1, 65):
            cands += [v.sample + d, v.sample - d]
        cands += list(range(v.lo_w, v.lo_w + 17)) + [v.sample // 2, 2 * v.sample, 2 * v.sample + 16, 4 * v.sample]
        cands += edges
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

    items = [(tracer.order[p], ctx.layer_label(p), tracer.outputs[p]) for p in tracer.outputs
             if not _batchless(ctx.type_of.get(p, ""))]  # a causal mask [T, T] has no batch by design
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


def _batchless(kind: str) -> bool:
    return kind in registry.REGISTRY and registry.get(kind).batchless
