"""Exact evaluation of sympy expressions at concrete sizes: `_compile` turns an expression over
the variables' symbols into a Python function on ints and Fractions (floor and ceiling
divisions, Mod, Min/Max, relations, Piecewise), fast enough to test a condition at thousands of
sizes. `_NoEval` marks what it cannot evaluate."""
from __future__ import annotations

import math
from fractions import Fraction


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
