"""A layer's constructor parameters as a spec sees them: Param and Signature (torch on first use)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Param:
    name: str
    types: frozenset  # of "int", "float", "bool", "str", "ints", "floats", "none", "dtype"; empty = any plain value
    required: bool
    default: object = None
    inferred: bool = False
    choices: tuple = ()  # for Literal[...] strings

    @property
    def kind(self) -> str:
        """A human description: 'int | list[int]'."""
        words = {"ints": "list[int]", "floats": "list[float]", "none": "null", "dtype": "dtype name"}
        if not self.types:
            return "any"
        order = ["bool", "int", "float", "str", "ints", "floats", "dtype", "none"]
        return " | ".join(words.get(t, t) for t in order if t in self.types)


@dataclass
class Signature:
    params: list = field(default_factory=list)  # [Param] in constructor order

    def positional(self) -> list:
        """Parameters a spec may give positionally: constructor order, inferred ones removed."""
        return [p for p in self.params if not p.inferred]

    def get(self, name: str):
        return next((p for p in self.params if p.name == name), None)


_NEVER = {"self", "device", "factory_kwargs", "mode"}  # "mode": RNNBase's, set by the subclass


def read_signature(lt, c, base=None) -> Signature:
    """The parameters of class `c`'s constructor (or of `base`'s, where `c` takes *args) for record `lt`."""
    import inspect

    init = base.__init__ if base is not None else c.__init__
    out = Signature()
    try:
        params = inspect.signature(init, eval_str=True).parameters  # `from __future__ import annotations`
    except Exception:  # noqa: BLE001 - an annotation that does not evaluate: read it as written
        params = inspect.signature(init).parameters
    for p in params.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in lt.skip_args:
            continue
        if p.name in _NEVER and not (p.name == "mode" and init is c.__init__):
            continue
        default = None if p.default is inspect.Parameter.empty else p.default
        inferred = p.name in lt.inferred_args
        types, choices = _types(p.name, p.annotation, p.default)
        out.params.append(Param(p.name, types, p.default is inspect.Parameter.empty and not inferred, default, inferred, choices))
        for after, name, extra_types, extra_default, extra_choices in lt.extra_params:
            if after == p.name:
                out.params.append(Param(name, frozenset(extra_types), False, extra_default, False, extra_choices))
    return out


_BY_NAME = {  # where torch's annotations are missing or too loose
    "embed_dim": {"int"}, "num_heads": {"int"}, "kdim": {"int", "none"}, "vdim": {"int", "none"},
    "dropout": {"float"}, "bias": {"bool"}, "add_bias_kv": {"bool"}, "add_zero_attn": {"bool"},
    "batch_first": {"bool"}, "activation": {"str"}, "dtype": {"dtype"},
}


def _types(pname: str, ann, default) -> tuple:
    import inspect
    import typing

    if pname in _BY_NAME:
        choices = ("relu", "gelu") if pname == "activation" else ()
        return frozenset(_BY_NAME[pname] | ({"none"} if default is None and pname != "dtype" else set())), choices
    out: set = set()
    choices: list = []

    def walk(a) -> None:
        origin = typing.get_origin(a)
        if a is inspect.Parameter.empty:
            return
        if origin is typing.Union or type(a).__name__ == "UnionType":
            for x in typing.get_args(a):
                walk(x)
        elif origin is typing.Literal:
            out.add("str")
            choices.extend(typing.get_args(a))
        elif origin in (tuple, list) or a in (tuple, list) or getattr(a, "__name__", "") == "Size":
            args = [x for x in typing.get_args(a) if x is not Ellipsis]
            out.add("floats" if float in args else "ints")
        elif a is type(None):
            out.add("none")
        elif a in (bool, int, float, str):
            out.add(a.__name__)
            if a is float:
                out.add("int")

    walk(ann)
    if not out:  # no usable annotation: go by the default
        if isinstance(default, bool):
            out.add("bool")
        elif isinstance(default, (int, float)):
            out |= {"int", "float"} if isinstance(default, float) else {"int"}
        elif isinstance(default, str):
            out.add("str")
        elif isinstance(default, tuple):
            out.add("ints")
    if default is None and out:
        out.add("none")
    if callable(default) and not out:
        out.add("str")
    if "float" in out:
        out.add("int")  # an int is a fine float (`p: 0`)
    if "floats" in out:
        out.add("ints")
    return frozenset(out), tuple(choices)
