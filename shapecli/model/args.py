"""Argument binding: a spec item's arguments checked against its constructor, every problem at once."""
from __future__ import annotations

import math
from dataclasses import dataclass

from shapecli import layers as registry
from shapecli._torch import torch
from shapecli.dtypes import ALIASES, INPUT as DTYPES, input_name
from shapecli.errors import Collector, SpecError, literal, what
from shapecli.model.flow import forward_problems
from shapecli.spec.nodes import MAX_INT, Node, Spec
from shapecli.spec.problems import condense
from shapecli.spec.variables import BAD

# Arguments that are sizes: a zero or negative value is a spec error, not a torch crash.
_POSITIVE = {"out_features", "in_features", "in1_features", "in2_features", "out_channels", "in_channels",
             "num_features", "hidden_size", "num_layers", "num_heads", "nhead", "embedding_dim", "num_embeddings",
             "embed_dim", "d_model", "dim_feedforward", "num_groups", "num_channels", "kernel_size", "stride",
             "dilation", "upscale_factor", "downscale_factor", "groups", "num_positions", "num_parameters",
             "num_encoder_layers", "num_decoder_layers", "size", "normalized_shape"}
_NONNEGATIVE = {"padding", "output_padding", "proj_size", "p", "dropout"}


# ---------------------------------------------------------------------------- argument binding

@dataclass
class Bound:
    cls: type
    kwargs: dict  # what the constructor gets, inferred arguments left out
    given_inferred: dict  # inferred arguments the user gave anyway: checked against the data
    kin: object = None  # equal items (bind_all: the same type and arguments) share this Bound and its kin; None: unlike any other


def bind_all(spec: Spec) -> dict:
    """Check every layer's arguments against its constructor; report all problems at once."""
    c = Collector()
    out = {}
    same: dict = {}  # equal items (a repeat's copies) bind alike: (type, arguments) -> Bound
    for node in spec.nodes():
        if node.is_container or node.is_tensor:
            continue
        key = (node.type, repr(node.args), repr(node.kwargs)) if node.ins is None else None
        b = same.get(key) if key is not None else None
        if b is not None:  # one Bound for all of them: nothing changes a Bound once made
            out[node.path] = b
            continue
        b = bind(node, c)
        if b is not None:
            out[node.path] = b
            if key is not None:
                b.kin = key
                same[key] = b
    if c.problems:
        raise SpecError(condense(c.problems, spec.text, spec.file, spec.sets))
    return out


def argument_problems(spec: Spec) -> list:
    """The argument problems of a spec that did not parse cleanly: each item that parsed, bound to its
    constructor (items with a value already reported, and unknown types, are left out)."""
    c = Collector()
    for node in spec.nodes():
        if node.is_container or node.type not in registry.REGISTRY:
            continue
        if any(v is BAD for v in (*node.args, *node.kwargs.values())):
            continue  # already reported
        try:
            bind(node, c)
        except Exception:  # noqa: BLE001 - extra messages must never hide the ones we have
            pass
    return c.problems


def bind(node: Node, c: Collector) -> Bound | None:
    sig = registry.signature(node.type)
    cls = registry.cls(node.type)
    label = node.label()
    kwargs: dict = {}
    n0 = len(c.problems)
    positional = sig.positional()
    args = node.args
    if registry.get(node.type).list_arg and len(args) > 1 and all(type(a) is int for a in args):
        args = [list(args)]  # `Permute: [0, 2, 1]` is one list
    pytorch_style = _pytorch_order(node, sig, args)
    if pytorch_style:
        c.add(pytorch_style, node.arg_locs.get(0, node.loc), label)
        return None
    if len(args) > len(positional):
        names = ", ".join(p.name for p in positional) or "no arguments"
        c.add(f"{node.type} takes at most {len(positional)} positional argument(s) ({names}); got {len(node.args)}",
              node.arg_locs.get(len(positional), node.loc), label)
    for i, (p, v) in enumerate(zip(positional, args)):
        kwargs[p.name] = (v, node.arg_locs.get(i, node.loc))
    for k, v in node.kwargs.items():
        p = sig.get(k)
        if p is None:
            kloc = node.arg_locs.get("key:" + k, node.arg_locs[k])
            if k == "device":
                c.add("`device` is chosen by shapecli (--device), not the spec", kloc, label)
            else:
                c.add(f"{node.type} has no argument '{literal(k)}'{_dym(k, sig)}", kloc, label)
            continue
        if k in kwargs:
            c.add(f"{k} is given twice (positionally and by name)", node.arg_locs[k], label)
            continue
        kwargs[k] = (v, node.arg_locs[k])
    checked, given_inferred = {}, {}
    for name, (v, loc) in kwargs.items():
        p = sig.get(name)
        msg = check_value(v, p)
        if msg:
            c.add(f"{name}: {msg}", loc, label)
            continue
        v = convert(v, p)
        if p.inferred:
            given_inferred[name] = v
        else:
            checked[name] = v
    for p in sig.params:
        if p.required and p.name not in kwargs:
            c.add(f"{node.type} needs {p.name}{_needs_hint(node.type, positional)}", node.loc, label)
    forward_problems(node, cls, c)
    if len(c.problems) > n0:
        return None
    return Bound(cls, checked, given_inferred)


def _pytorch_order(node: Node, sig, args) -> str | None:
    """`Linear: [20, 256]` written as in PyTorch, with the inferred size first: say what to write instead."""
    inferred = [p for p in sig.params if p.inferred]
    positional = sig.positional()
    if not inferred or len(args) < 2 or not all(type(a) is int for a in args[:2]) or len(args) > len(sig.params):
        return None
    if all(check_value(v, p) is None for v, p in zip(args, positional)) and len(args) <= len(positional):
        return None  # it binds as written
    as_pytorch = [p for p in sig.params][: len(args)]  # PyTorch's own order, inferred arguments included
    if not as_pytorch[0].inferred or any(check_value(v, p) for v, p in zip(args, as_pytorch)):
        return None
    def text(v):
        return str(v).lower() if isinstance(v, bool) else literal(v, 20)

    given = ", ".join(text(a) for a in args)
    rest = args[1:]
    fix = f"{node.type}: {text(rest[0])}" if len(rest) == 1 else f"{node.type}: [{', '.join(map(text, rest))}]"
    names = " and ".join(p.name for p in inferred)
    return (f"`{node.type}: [{given}]` is PyTorch's argument order; in shapecli {names} "
            f"{'is' if len(inferred) == 1 else 'are'} inferred from the input, so write `{fix}`")


def _dym(k: str, sig) -> str:
    from shapecli.errors import did_you_mean

    return did_you_mean(k, [p.name for p in sig.params]) or f" (it takes {', '.join(p.name for p in sig.params) or 'none'})"


def _needs_hint(t: str, positional) -> str:
    req = [p.name for p in positional if p.required]
    return f": e.g. `- {t}: {{{', '.join(f'{r}: ...' for r in req)}}}`" if req else ""


def check_value(v, p: registry.Param) -> str | None:
    """A message if `v` does not fit parameter `p`, else None. Exact types: a bool is not an int."""
    t = p.types
    if not t:
        return None if _plain(v) else f"expected plain data, got {type(v).__name__}"
    if v is None:
        if p.required and not p.inferred:  # AdaptiveAvgPool2d's output_size may hold nulls, but is not null
            return f"needs a value ({p.kind.replace(' | null', '')}), got {what(v)}"
        return None if "none" in t else f"expected {p.kind}, got {what(v)}"
    if isinstance(v, bool):
        return None if "bool" in t else f"expected {p.kind}, got {what(v)}"
    if isinstance(v, int):
        if "int" not in t:
            return f"expected {p.kind}, got {what(v)}"
        if abs(v) > MAX_INT:
            return f"{v} is too large (at most {MAX_INT:,})"
        return _range(p.name, v)
    if isinstance(v, float):
        if "float" not in t:
            return f"expected {p.kind}, got {what(v)}" + (" (a whole number is written without a point)" if v.is_integer() else "")
        if not math.isfinite(v):
            return f"expected a finite number, got {v}"
        return None if p.name not in _NONNEGATIVE or v >= 0 else f"must not be negative, got {v}"
    if isinstance(v, str):
        if "dtype" in t:
            return None if input_name(v) is not None else \
                f"unknown dtype '{literal(v)}' (one of {', '.join(DTYPES)}, or {', '.join(sorted(ALIASES))})"
        if "str" not in t:
            hint = ""
            if v.lower() in ("yes", "no", "on", "off", "y", "n"):
                hint = " (YAML 1.2: write true or false)" if "bool" in t else ""
            elif any(ch in v for ch in "+-*/()") and not v.startswith("$"):
                hint = " (for arithmetic write ${...}, e.g. ${4 * 64})"
            return f"expected {p.kind}, got {what(v)}{hint}"
        if p.choices and v not in p.choices:
            from shapecli.errors import did_you_mean

            return f"'{literal(v, 40)}' is not one of {', '.join(map(str, p.choices))}{did_you_mean(v, map(str, p.choices))}"
        return None
    if isinstance(v, list):
        if "ints" not in t and "floats" not in t:
            return f"expected {p.kind}, got {what(v)}"
        if not v:
            return "expected a non-empty list"
        for x in v:
            if x is None and p.name == "output_size":
                continue
            if isinstance(x, bool) or not isinstance(x, (int, float)) or (isinstance(x, float) and "floats" not in t):
                return f"expected {p.kind}, got a list holding {x!r}"
            if isinstance(x, int) and (abs(x) > MAX_INT or _range(p.name, x)):
                return _range(p.name, x) or f"{x} is too large"
        return None
    return f"expected {p.kind}, got {what(v)}"


def _range(name: str, v: int) -> str | None:
    if name in _POSITIVE and v < 1:
        return f"must be at least 1, got {v}"
    if name in _NONNEGATIVE and v < 0:
        return f"must not be negative, got {v}"
    return None


def _plain(v) -> bool:
    return v is None or isinstance(v, (bool, int, float, str)) or (isinstance(v, list) and all(_plain(x) for x in v))


def convert(v, p: registry.Param):
    if "dtype" in p.types and isinstance(v, str):
        return getattr(torch, input_name(v))  # a name or alias of DTYPES (`fp16`), checked above
    if isinstance(v, list):
        return tuple(v) if p.name != "normalized_shape" else list(v)
    return v
