"""Owned tensors: `Parameter:` and `Buffer:` items, a learnable or fixed tensor that the enclosing
container registers under the item's `name:` (no torch here).

    - Parameter: {shape: [1, 1, _], init: zeros}      # ViT's class token, [1, 1, D]
      name: class_token
    - Buffer: {shape: [1, _], dtype: int64, init: arange, persistent: false}
      name: position_ids

A dimension written `_` is read from the data that reaches the item, lined up from the last
dimension as broadcasting lines them up. The item is no module: it takes no index among its
siblings (the items after it are numbered as if it were not there, as in an nn.Module that
declares `self.class_token = nn.Parameter(...)`), and the tensor is read by `from:` in a merge
(docs/spec.md, "Parameters and buffers").
"""
from __future__ import annotations

from dataclasses import dataclass

from shapecli import dtypes
from shapecli.errors import Loc, SpecError, did_you_mean, literal, what
from shapecli.spec.initschemes import InitScheme, parse_scheme
from shapecli.spec.nodes import MAX_INT, TENSORS, Node
from shapecli.spec.variables import BAD, _Scope
from shapecli.spec.yamlload import YList, YMap

INFER = "_"  # a dimension read from the data
FILLS = ("arange",)  # buffer-only fills beside the init schemes: 0, 1, 2, ... along the last dim
KEYS = {"Parameter": ("shape", "init", "dtype"), "Buffer": ("shape", "init", "dtype", "persistent")}
FLOAT = ("float32", "float64", "float16", "bfloat16")
# item keys that mean nothing for a tensor: (key, why)
NOT_FOR_TENSORS = {"repeat": "a Parameter or Buffer is one tensor; declare one per copy of a block instead",
                   "tie": "`tie:` shares a layer's weight; read the tensor with `from:` where it is used",
                   "init": "write the tensor's scheme inside it: `{shape: [...], init: zeros}`"}


@dataclass(frozen=True)
class TensorDecl:
    """An owned tensor as declared: its shape (None where `_` reads the data), dtype, init."""

    kind: str  # "Parameter" | "Buffer"
    shape: tuple  # ints, None for `_`
    dtype: str = "float32"
    init: InitScheme | None = None  # None with fill set
    fill: str | None = None  # "arange"
    persistent: bool = True  # a Buffer in state_dict() (PyTorch's register_buffer(persistent=...))

    @property
    def inferred(self) -> bool:
        return any(d is None for d in self.shape)

    def describe(self) -> str:
        """How the report names the tensor's values: 'zeros', 'normal(std=0.02)', 'arange'."""
        return self.fill or (self.init.describe() if self.init else "zeros")

    def resolve(self, data_shape) -> list:
        """The shape for data of `data_shape` reaching the item: `_` dims lined up from the last.
        Raises ValueError with a message when the data has too few dims."""
        out, n, m = [], len(self.shape), len(data_shape)
        for i, d in enumerate(self.shape):
            if d is None:
                j = m - (n - i)
                if j < 1:
                    what = "the batch dimension" if j == 0 else "no dimension"
                    raise ValueError(f"shape {shape_text(self.shape)}: `_` at position {i} lines up with {what} of its "
                                     f"input {list(data_shape)} (dims line up from the last, as in broadcasting); "
                                     "write that size out, or 1 for the batch")
                d = int(data_shape[j])
            out.append(d)
        return out


def shape_text(shape) -> str:
    return "[" + ", ".join(INFER if d is None else str(d) for d in shape) + "]"


class Tensors:
    """The parser's part for `Parameter:`/`Buffer:` items (a part of `_Parser`)."""

    @property
    def tensor_paths(self) -> set:
        """The paths of the tensor items parsed so far (a `tie:` may not name one)."""
        if "_tensor_paths" not in self.__dict__:
            self._tensor_paths = set()
        return self._tensor_paths

    def tensor_item(self, node: Node, kind: str, value, loc: Loc, extra, scope: _Scope, label: str) -> None:
        node.type = kind
        for k, why in NOT_FOR_TENSORS.items():
            if k in extra:
                self.err(f"`{k}:` on a {kind}: {why}", extra.key_locs.get(k, loc), label)
        if not node.named:
            self.err(f"a {kind} needs `name:`, its name in the model (as `self.class_token = nn.{kind}(...)` names it "
                     "in PyTorch); write it beside the type, e.g. `name: class_token`", loc, label)
        if "freeze" in extra:
            f = self.subst(extra["freeze"], extra.at("freeze"), scope, label)
            if kind == "Buffer":
                self.err("`freeze:` on a Buffer: a buffer is never trained (it has no gradient)", extra.key_locs["freeze"], label)
            elif type(f) is not bool and f is not BAD:
                self.err(f"`freeze:` must be true or false, got {_what(f)}", extra.at("freeze"), label)
            node.freeze = f is True
        if isinstance(value, YList):  # `- Parameter: [1, 1, _]`: the shape alone
            m = YMap({"shape": value})
            m.loc, m.key_locs, m.value_locs = loc, {"shape": loc}, {"shape": loc}
            value = m
        if not isinstance(value, YMap) or "shape" not in value:
            got = "no `shape:`" if isinstance(value, YMap) else _what(value)
            if type(value) is int:
                got += f" (a shape is a list: `- {kind}: [{value}]`)"
            self.err(f"a {kind} takes {{shape: [...], init: ...}}, e.g. `- {kind}: {{shape: [1, 1, _], init: zeros}}`"
                     f" (`_`: a size read from the data); got {got}", loc, label)
            return
        allowed = KEYS[kind]
        for k in value:
            if k not in allowed:
                hint = did_you_mean(k, allowed)
                if k == "persistent":
                    hint = " (only a Buffer is persistent or not: a Parameter is always in state_dict())"
                self.err(f"{kind}: unknown key '{literal(k)}'{hint}; it takes {', '.join(allowed)}",
                         value.key_locs[k], label)
        shape = self.tensor_shape(value["shape"], value.at("shape"), scope, kind, label)
        dtype = value.get("dtype", "float32")
        if "dtype" in value:
            dtype = self.subst(dtype, value.at("dtype"), scope, label)
            named = dtypes.input_name(dtype) if isinstance(dtype, str) else None  # an alias too (`fp16`), as --input
            if named is None:
                self.err(f"{kind}: unknown dtype {_what(dtype)}"
                         f"{did_you_mean(dtype, dtypes.INPUT_SPELLINGS) if isinstance(dtype, str) else ''}; "
                         f"one of {', '.join(dtypes.INPUT)} (or {', '.join(sorted(dtypes.ALIASES))})",
                         value.at("dtype"), label)
                dtype = BAD
            elif kind == "Parameter" and named not in FLOAT:
                self.err(f"a Parameter is learned, so floating point ({', '.join(FLOAT)}); got {dtype} "
                         "(an integer table is a Buffer)", value.at("dtype"), label)
                dtype = BAD
            else:
                dtype = named
        init, fill = self.tensor_init(value, kind, dtype, label)
        persistent = True
        if "persistent" in value:
            p = self.subst(value["persistent"], value.at("persistent"), scope, label)
            if type(p) is not bool:
                if p is not BAD:
                    self.err(f"Buffer: `persistent:` must be true or false, got {_what(p)}", value.at("persistent"), label)
            else:
                persistent = p
        if shape is not BAD and dtype is not BAD and init is not BAD:
            node.tensor = TensorDecl(kind, tuple(shape), dtype, init, fill, persistent)

    def tensor_shape(self, raw, loc: Loc, scope: _Scope, kind: str, label: str):
        if not isinstance(raw, YList) or not raw:
            self.err(f"{kind}: `shape:` is a non-empty list of sizes, e.g. [1, 1, _] or [1, $n, $d]; got {_what(raw)}",
                     loc, label)
            return BAD
        out = []
        for i, d in enumerate(raw):
            if d == INFER:
                out.append(None)
                continue
            v = self.subst(d, raw.at(i), scope, label)
            if v is BAD:
                return BAD
            if type(v) is not int or not 1 <= v <= MAX_INT:
                self.err(f"{kind}: a size in `shape:` is a positive integer, an expression such as ${{n + 1}}, or `_` "
                         f"(read from the data); got {_what(v)}", raw.at(i), label)
                return BAD
            out.append(v)
        return out

    def tensor_init(self, value: YMap, kind: str, dtype, label: str):
        raw = value.get("init", "zeros")
        loc = value.at("init") if "init" in value else value.loc
        if raw in FILLS:
            if kind != "Buffer":
                self.err(f"Parameter: `init: {raw}` fills a Buffer (a fixed table); a Parameter takes an init scheme "
                         "such as zeros or {normal: {std: 0.02}}", loc, label)
                return BAD, None
            return None, raw
        try:
            scheme = parse_scheme(raw, loc, what=f"{kind} init")
        except SpecError as e:
            for p in e.problems:
                self.err(p.message, p.loc, label)
            return BAD, None
        if scheme.name == "default":
            self.err(f"{kind}: `init: default` means a layer's own initialization; a {kind} has none: "
                     "name a scheme such as zeros or {normal: {std: 0.02}}", loc, label)
            return BAD, None
        if dtype not in FLOAT and dtype is not BAD and scheme.name not in ("zeros", "ones", "constant"):
            self.err(f"{kind}: {scheme.name} draws floating-point values; a buffer of {dtype} takes zeros, ones, "
                     "constant or arange", loc, label)
            return BAD, None
        return scheme, None


def is_tensor_item(raw) -> bool:
    """Whether a raw item declares an owned tensor (it then takes no index among its siblings)."""
    return isinstance(raw, YMap) and any(k in TENSORS for k in raw)


def _what(v) -> str:
    return what(v, null="nothing (null)")


__all__ = ["FILLS", "INFER", "TENSORS", "TensorDecl", "Tensors", "is_tensor_item", "shape_text"]
