"""Python source text for exported models, already in the form `ruff format` keeps.

A call that fits its line is written on one line; one that does not is exploded, one argument a
line with a trailing comma (the "magic trailing comma" makes ruff keep that form). A trailing
comment goes on the statement's line only when the whole line fits; otherwise on the line above.
No torch here.
"""
from __future__ import annotations

import json
import keyword
import math
from dataclasses import dataclass, field

WIDTH = 88
IND = "    "


@dataclass
class Call:
    """`func(arg, kw=arg)`; `open`/`close` make it a list literal (`[`, `]`) when func is empty."""

    func: str
    args: list = field(default_factory=list)  # [(keyword or None, str | Call)]
    open: str = "("
    close: str = ")"


def flat(e) -> str:
    if isinstance(e, str):
        return e
    inner = ", ".join((f"{k}={flat(v)}" if k else flat(v)) for k, v in e.args)
    return f"{e.func}{e.open}{inner}{e.close}"


def lines(e, indent: str, prefix: str = "", suffix: str = "", comment: str | None = None) -> list:
    """The lines of `prefix + e + suffix` at `indent`, with an optional comment."""
    one = f"{indent}{prefix}{flat(e)}{suffix}"
    if comment:
        with_comment = f"{one}  # {comment}"
        if len(with_comment) <= WIDTH:
            return [with_comment]
        return [f"{indent}# {comment}"] + lines(e, indent, prefix, suffix)
    if len(one) <= WIDTH or isinstance(e, str) or not e.args:
        return [one]
    out = [f"{indent}{prefix}{e.func}{e.open}"]
    for k, v in e.args:
        out += lines(v, indent + IND, f"{k}=" if k else "", ",")
    out.append(f"{indent}{e.close}{suffix}")
    return out


def literal(v, as_list: bool = False) -> str:
    """A spec value as Python source: lists become tuples (as the constructors get them)."""
    if v is None or isinstance(v, bool):
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isinf(v) or math.isnan(v):
            return f'float("{v}")'
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        items = [literal(x) for x in v]
        if as_list:
            return "[" + ", ".join(items) + "]"
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    raise ValueError(f"cannot write {type(v).__name__} as Python source")


def identifier(text: str) -> bool:
    return text.isidentifier() and not keyword.iskeyword(text)


def class_name(text: str) -> str:
    """'basic_down' -> 'BasicDown', 'gpt2_small' -> 'Gpt2Small', '3d-net' -> 'Net3d'."""
    parts = [p for p in "".join(c if c.isalnum() else "_" for c in text).split("_") if p]
    name = "".join(p[:1].upper() + p[1:] for p in parts) or "Model"
    if name[0].isdigit():
        name = "Net" + name
    return name if identifier(name) else "Model"


def var_name(text: str) -> str:
    """A local variable name for an item's output: 'enc3' stays, 'layer1.0' becomes 'layer1_0'."""
    v = "".join(c if c.isalnum() else "_" for c in text).strip("_") or "y"
    if v[0].isdigit():
        v = "out_" + v
    return v if identifier(v) else v + "_"


def type_name(values: list) -> str:
    """The annotation for a constructor parameter that takes these values."""
    kinds = {type(v) for v in values}
    if len(kinds) == 1 and kinds <= {int, float, bool, str}:
        return next(iter(kinds)).__name__
    if kinds <= {int, float}:
        return "float"
    return "tuple" if kinds <= {list} else "object"


def child(parent: str, kind: str, key: str) -> str:
    if kind == "sequential" and key.isdigit():
        return f"{parent}[{key}]"
    if identifier(key):
        return f"{parent}.{key}"
    return f'{parent}["{key}"]'


def absolute(path: str) -> str:
    if all(identifier(k) for k in path.split(".")):
        return f"self.{path}"
    return f'self.get_submodule("{path}")'
