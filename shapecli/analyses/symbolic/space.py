"""Conditions in the user's names: `_Cond` is one constraint over the user's symbols, `_Space`
the free variables, their windows and the known conditions. The space decides which variables
a condition really depends on, drops conditions that repeat another, lists the values each
variable may take, and draws sizes that satisfy every condition."""
from __future__ import annotations

import random

from shapecli.analyses.symbolic.context import _Ctx, _Var
from shapecli.analyses.symbolic.evaluate import _compile, _NoEval


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
