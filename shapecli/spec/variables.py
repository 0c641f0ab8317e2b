"""Variables: scopes, and `$name` / `${expr}` resolved in values (no torch)."""
from __future__ import annotations

from dataclasses import dataclass

from shapecli.errors import Loc, did_you_mean, literal
from shapecli.spec import expr
from shapecli.spec.nodes import MAX_INT, MAX_VAR_DEPTH
from shapecli.spec.yamlload import YList, YMap


class _Bad:
    """A value that already produced an error: suppresses follow-up errors."""


BAD = _Bad()


@dataclass
class _Scope:
    values: dict  # name -> resolved value
    raw: dict  # name -> (raw value, Loc), resolved on first use
    parent: "_Scope | None" = None
    resolving: tuple = ()



class Variables:
    """The parser's variable lookups (a part of `_Parser`)."""

    # -- variables
    def lookup(self, scope: _Scope, name: str, loc: Loc, label: str | None = None):
        s = scope
        while s is not None:
            if name in s.values:
                return s.values[name]
            if name in s.raw:
                if name in s.resolving:
                    cycle = " -> ".join(s.resolving[s.resolving.index(name):] + (name,))
                    return self.err(f"variable cycle: {cycle}", loc)
                value, vloc = s.raw[name]
                if len(s.resolving) >= MAX_VAR_DEPTH:  # a chain a0: $a1, a1: $a2, ...: no RecursionError
                    if not getattr(self, "_too_deep", False):  # once, not once per link
                        self._too_deep = True
                        self.err(f"variables refer to each other more than {MAX_VAR_DEPTH} deep "
                                 f"({' -> '.join(s.resolving[:3])} -> ...)", vloc)
                    s.values[name] = BAD
                    return BAD
                s.resolving += (name,)
                try:
                    v = self.subst(value, vloc, s)
                finally:
                    s.resolving = s.resolving[:-1]
                s.values[name] = v
                return v
            s = s.parent
        names = set()
        s = scope
        while s is not None:
            names |= set(s.values) | set(s.raw)
            s = s.parent
        return self.err(f"undefined variable '{literal(name)}'{did_you_mean(name, names)}", loc, label)

    def subst(self, value, loc: Loc, scope: _Scope, label: str | None = None):
        """Resolve `$name` / `${expr}` in a value (recursively in lists and mappings)."""
        if isinstance(value, str) and value.startswith("$"):
            try:
                text = expr.reference(value)
                bad = []

                def look(n):
                    v = self.lookup(scope, n, loc, label)
                    if v is BAD:
                        bad.append(n)
                        raise expr.ExprError("")
                    return v

                return expr.evaluate(text, look)
            except expr.ExprError as e:
                if str(e):
                    return self.err(f"{e} (in '{literal(value, 60)}')", loc, label)
                return BAD
        if isinstance(value, YList):
            out = [self.subst(v, value.at(i), scope, label) for i, v in enumerate(value)]
            return BAD if any(v is BAD for v in out) else out
        if isinstance(value, YMap):
            out = {k: self.subst(v, value.at(k), scope, label) for k, v in value.items()}
            return BAD if any(v is BAD for v in out.values()) else out
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            return self.err(f"{value} is too large (at most {MAX_INT:,})", loc, label)
        if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
            return self.err(f"{value} is not a finite number", loc, label)
        return value
