"""Describing constraints in words: one variable's allowed values as a rule (`H must be a
multiple of 16, ≥ 48`), a condition on several variables as a relation (`3*H*W must equal
9216`), each attributed to the layers where sizes that break it fail first."""
from __future__ import annotations

from typing import Optional

from shapecli.analyses.symbolic.context import _Ctx, _Var
from shapecli.analyses.symbolic.formulas import _fmt, _Formatter
from shapecli.analyses.symbolic.space import _Space


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
