"""Human formulas: ShapeEnv expressions printed in the user's names (`_Formatter`, `_fmt`).
Floor divisions whose remainder is the same at every valid size become exact (`H/4`), min and
max become the argument that always wins, and nested floors read as one."""
from __future__ import annotations

from fractions import Fraction

from shapecli.analyses.symbolic.evaluate import _NoEval
from shapecli.analyses.symbolic.space import _Space


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
