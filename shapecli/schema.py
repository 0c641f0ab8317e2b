"""JSON Schema of the spec language, for editors' YAML language servers (`shapecli schema`).

Generated from the layer registry and layerdoc, so it lists exactly the layers and arguments
shapecli accepts, with PyTorch's defaults, allowed values and docstring help (for hover). It
catches what the parser catches wherever JSON Schema can say it: an item's single key is a known
layer type (or a block, in a spec with `blocks:`) next to the reserved keys only; argument types,
ranges and allowed strings; init scheme names and arguments; the top-level keys. What needs the
data (shapes, variables' values, references to earlier items) stays the parser's and the
builder's. Draft-07, the draft every yaml-language-server version validates. Needs torch.
"""
from __future__ import annotations

import json

from shapecli import layerdoc
from shapecli import layers as registry
from shapecli.dtypes import INPUT_SPELLINGS
from shapecli.fileio import SCHEMA_MARK, write_schema_file
from shapecli.model.args import _NONNEGATIVE, _POSITIVE
from shapecli.spec import initschemes
from shapecli.spec.moduleattrs import MODULE_ATTRS
from shapecli.spec.nodes import MAX_INT, MAX_REPEAT, RESERVED
from shapecli.spec.tensors import FILLS, INFER

SCHEMA_ID = "urn:shapecli:spec-schema"  # an identifier, not an address: shapecli is not published
MARK = SCHEMA_MARK

# `$name` or `${expression}`: numbers, names, + - * / // % **, parentheses, min(...) and max(...) (spec/expr.py);
# no attribute (`h.__class__`), no other call, no string.
_EXPR = r"(?!.*[A-Za-z_)\]]\s*\.)(?!.*(?<![A-Za-z0-9_])(?!(?:min|max|len)\s*\()[A-Za-z_][A-Za-z0-9_]*\s*\()[A-Za-z0-9_\s+\-*/%().,\[\]<>=!]{1,200}"
_VAR_DEF = {"type": "string", "pattern": r"^\$(?:[A-Za-z_][A-Za-z0-9_]*|\{" + _EXPR + r"\})$",
            "description": "a variable ($name) or an expression (${...}: numbers, names, + - * / // % **, min, max, len, "
                         "xs[i], comparisons, and/or/not, a if c else b)"}
_VAR = {"$ref": "#/definitions/var"}
_IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"


def _ref(name: str) -> dict:
    return {"$ref": f"#/definitions/{name}"}


# ---------------------------------------------------------------------------- layer arguments

def _int(name: str) -> dict:
    low = 1 if name in _POSITIVE else 0 if name in _NONNEGATIVE else -MAX_INT
    return {"type": "integer", "minimum": low, "maximum": MAX_INT}


def _alternatives(a: layerdoc.LayerArg) -> list:
    """One JSON Schema per type the argument takes (Param.kind's words: int, float, ..., list[int], null)."""
    kinds = a.type.split(" | ")
    out = []
    for k in kinds:
        if k == "any":
            return [{}]
        if k == "bool":
            out.append({"type": "boolean"})
        elif k == "int" and "float" not in kinds:
            out.append(_int(a.name))
        elif k == "float":
            out.append({"type": "number", **({"minimum": 0} if a.name in _NONNEGATIVE else {})})
        elif k == "str":
            out.append({"type": "string", **({"enum": list(a.choices)} if a.choices else {})})
        elif k == "dtype name":
            out.append({"$ref": "#/definitions/dtype"})
        elif k in ("list[int]", "list[float]"):
            item = _int(a.name) if k == "list[int]" else {"type": "number"}
            if a.name == "output_size":  # AdaptiveAvgPool2d: [7, null] keeps a size
                item = {"anyOf": [item, {"type": "null"}]}
            out.append({"type": "array", "items": {"anyOf": [item, _VAR]}, "minItems": 1})
        elif k == "null" and not a.required:
            out.append({"type": "null"})
    return out


def _arg_doc(a: layerdoc.LayerArg) -> str:
    if a.inferred:
        how = f"inferred from {a.inferred_from}: leave it out (given, it is checked against the data)"
    elif a.required:
        how = "required"
    else:
        how = f"default {json.dumps(a.default)}"
    text = f"{a.name} ({a.type}): {how}."
    if a.choices:
        text += " One of: " + ", ".join(map(str, a.choices)) + "."
    return text + (f"\n\n{a.description}" if a.description else "")


def _arg(a: layerdoc.LayerArg) -> dict:
    s: dict = {"anyOf": _alternatives(a) + [_VAR], "description": _arg_doc(a)}
    if not (a.required or a.inferred):
        s["default"] = a.default
    return s


def _layer(d: layerdoc.LayerDetail, defs: dict) -> dict:
    """The value of `- NAME: ...`: nothing, one value, a list of positional values, or a mapping by name.
    Each argument's schema goes into `defs` once; the forms refer to it."""
    args = {}
    for a in d.args:
        defs[f"arg_{d.name}_{a.name}"] = _arg(a)
        args[a.name] = _ref(f"arg_{d.name}_{a.name}")
    positional = [a for a in d.args if not a.inferred]
    need = [i for i, a in enumerate(positional) if a.required]
    mapping: dict = {"type": "object", "properties": args, "additionalProperties": False}
    if any(a.required for a in d.args):
        mapping["required"] = [a.name for a in d.args if a.required]
    forms = [mapping]
    if not need:
        forms.append({"type": "null"})
    list_arg = registry.REGISTRY[d.name].list_arg
    if list_arg:  # `Permute: [0, 2, 1]` is the one argument `dims`
        forms.append(args[list_arg])
    elif positional:
        forms.append({"type": "array", "items": [args[a.name] for a in positional], "additionalItems": False,
                      "minItems": need[-1] + 1 if need else 0})
    if positional and len(need) <= 1:  # `Linear: 64`: the first positional argument alone
        first = defs[f"arg_{d.name}_{positional[0].name}"]
        forms.append({"anyOf": [alt for alt in first["anyOf"] if alt.get("type") != "array"] or [_VAR]})
    else:
        forms.append(_VAR)  # `Linear: $sizes` may hold a whole list
    doc = f"{d.summary}\n\n{d.signature}\n\nExample: {d.example}\n\n`shapecli layers {d.name}` shows every argument."
    return {"anyOf": forms, "description": doc.strip()}


# ---------------------------------------------------------------------------- init schemes

def _scheme_docs() -> dict:
    from shapecli._torch import torch

    out = {}
    for name in initschemes.SCHEMES:
        fn = getattr(torch.nn.init, name + "_", None)
        out[name] = layerdoc.parse_docstring(fn.__doc__) if fn else (
            "PyTorch's own initialization of the layer (reset_parameters).", {})
    return out


def _init_defs() -> dict:
    docs = _scheme_docs()
    kind = {"number": {"type": "number"}, "mode": {"enum": list(initschemes.MODES)},
            "nonlinearity": {"enum": list(initschemes.NONLINEARITIES)}}
    bare = [n for n, spec in initschemes.SCHEMES.items() if not any(a.required for a in spec.values())]
    by_name = {}
    for name, spec in initschemes.SCHEMES.items():
        summary, helps = docs[name]
        props = {}
        for k, a in spec.items():
            s = dict(kind[a.kind])
            if k in ("std", "gain"):
                s["exclusiveMinimum"] = 0
            if not a.required:
                s["default"] = a.default
            s["description"] = helps.get(k, k) + ("" if a.required else f" (default {a.default})")
            props[k] = s
        args: dict = {"type": "object", "properties": props, "additionalProperties": False}
        required = [k for k, a in spec.items() if a.required]
        forms = [args]
        if required:
            args["required"] = required
        else:
            forms.append({"type": "null"})
        if len(required) == 1:  # {constant: 0.5}
            forms.append(props[required[0]])
        by_name[name] = {"anyOf": forms, "description": f"torch.nn.init.{name}_: {summary}" if name != "default" else summary}

    def scheme(names: list) -> dict:
        return {"anyOf": [{"enum": [n for n in bare if n in names]},
                          {"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
                           "properties": {n: by_name[n] for n in names}}],
                "description": "an init scheme: a name (kaiming_normal) or {name: {arguments}} (docs/init.md)"}

    every = list(initschemes.SCHEMES)
    flat = [n for n in every if n not in initschemes.NEEDS_2D]  # a bias is 1-D: no fan_in/fan_out
    key = r"^[A-Za-z_][A-Za-z0-9_]*(\.([A-Za-z_][A-Za-z0-9_]*|[0-9]+))*$"
    return {
        "scheme": scheme(every),
        "init": {"type": "object", "minProperties": 1, "propertyNames": {"pattern": key},
                 "properties": {"bias": scheme(flat)}, "additionalProperties": _ref("scheme"),
                 "description": "parameters to init schemes: {weight: kaiming_normal, bias: zeros} (docs/init.md)"},
    }


# ---------------------------------------------------------------------------- items

def _containers(items: dict, item: dict) -> dict:
    one_or_many = {"anyOf": [items, item]}
    merge_keys = {"branches": {"type": "array", "items": one_or_many, "minItems": 1},
                  "from": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]}}
    out = {"Sequential": {**items, "description": "the items in order (docs/spec.md)"},
           "Residual": {"anyOf": [items, {"type": "object", "properties": {"body": one_or_many, "shortcut": {
               "anyOf": [one_or_many, {"type": "null"}]}, "after": one_or_many}, "required": ["body"],
               "additionalProperties": False}],
               "description": "x + body(x), or after(body(x) + shortcut(x)) (docs/spec.md)"}}
    for m, doc in (("Concat", "torch.cat of the branches' outputs along dim (default 1)"),
                   ("Add", "the sum of the branches' outputs"), ("Multiply", "the product of the branches' outputs")):
        keys = dict(merge_keys, **({"dim": {"anyOf": [{"type": "integer"}, _VAR], "default": 1}} if m == "Concat" else {}))
        out[m] = {"anyOf": [{"type": "array", "items": one_or_many, "minItems": 1}, {"type": "null"},
                            {"type": "object", "properties": keys, "additionalProperties": False,
                             "minProperties": 1}],  # {dim: -1} alone merges the tensors `in:` names
                  "description": f"{doc}; `from:` adds earlier named items' outputs (docs/spec.md)"}
    return out


def _tensors() -> dict:
    """`Parameter:`/`Buffer:` items (spec/tensors.py): a tensor the container owns."""
    size = {"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_INT}, {"const": INFER}, _VAR]}
    shape = {"type": "array", "items": size, "minItems": 1}
    out = {}
    for kind, extra, init, doc in (
            ("Parameter", {}, _ref("scheme"), "a learnable tensor its container owns, read by `from:`"),
            ("Buffer", {"persistent": {"anyOf": [{"type": "boolean"}, _VAR], "default": True}},
             {"anyOf": [_ref("scheme"), {"enum": list(FILLS)}]}, "a fixed tensor its container owns, read by `from:`")):
        keys = {"shape": shape, "init": init, "dtype": {"enum": list(INPUT_SPELLINGS), "default": "float32"}, **extra}
        out[kind] = {"anyOf": [shape, {"type": "object", "properties": keys, "required": ["shape"],
                                       "additionalProperties": False}], "description": doc + " (docs/spec.md)"}
    return out


def _bare_ok(name: str) -> bool:
    """A layer written as a bare name (`- ReLU`) takes no required argument; a container always takes some."""
    canon = registry.canonical(name)
    return canon in registry.REGISTRY and not any(a.required for a in layerdoc.detail(canon).args)


def _item(variant: str, names: list) -> dict:
    """An item. variant "item": a spec without blocks (only known layer names); "item_b": one with
    `blocks:`, where any other identifier may be a block's name (JSON Schema cannot read the block names)."""
    items = {"type": "array", "items": _ref(variant), "minItems": 1}
    props = {n: _ref("layer_" + registry.canonical(n)) for n in names if registry.canonical(n) in registry.REGISTRY}
    props.update(_containers(items, _ref(variant)))
    props.update(_tensors())
    props.update({
        "name": {"type": "string", "pattern": _IDENT, "not": {"enum": sorted(MODULE_ATTRS)},
                 "description": "the item's name: its path in the table, and what `from:`/`tie:` refer to "
                 "(not an attribute every torch.nn.Module has, such as forward or training)"},
        "repeat": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_REPEAT}, _VAR,
                             {"type": "object", "required": ["times"], "additionalProperties": False,
                              "properties": {"times": {"anyOf": [{"type": "integer", "minimum": 1,
                                                                  "maximum": MAX_REPEAT}, _VAR]},
                                             "as": {"type": "string", "pattern": _IDENT}}}],
                   "description": "N independent copies in a Sequential; {times: N, as: i} names the copy's index"},
        "if": {"anyOf": [{"type": "boolean"}, _VAR], "description": "the item is left out when this is false"},
        "freeze": {"anyOf": [{"type": "boolean"}, _VAR], "description": "requires_grad=False for its parameters"},
        "init": _ref("init"),
        "tie": {"type": "string", "minLength": 1, "description": "an earlier item whose weight this item shares"},
        "in": {"anyOf": [{"type": "string", "minLength": 1}, {"type": "array", "items": {"type": "string"}, "minItems": 1},
                         {"type": "object", "minProperties": 1, "propertyNames": {"pattern": _IDENT},
                          "additionalProperties": {"type": "string"}}],
               "description": "the tensors the item reads: a named input, an earlier item or `out:` name, or input "
                              "(its own); a mapping gives them by the forward's argument names"},
        "out": {"anyOf": [{"type": "string", "pattern": _IDENT},
                          {"type": "array", "minItems": 1, "items": {"anyOf": [{"type": "string", "pattern": _IDENT},
                                                                                {"type": "null"}]}}],
                "description": "names for the elements of a tuple output (`out: [y, h]`; `_` leaves one unnamed)"},
        "inline": {"anyOf": [{"type": "boolean"}, _VAR], "description": "its items register on the enclosing "
                   "module (a Sequential, block or repeat), or its parts' items on it (a Residual or merge)"},
    })
    one_key = {n: {"propertyNames": {"enum": [n, *RESERVED]}} for n in props if n not in RESERVED}
    mapping = {"type": "object", "properties": props, "minProperties": 1,
               "not": {"propertyNames": {"enum": list(RESERVED)}},  # an item needs a layer type, not only reserved keys
               "dependencies": one_key}  # and has exactly one
    if variant == "item":
        mapping["additionalProperties"] = False
        bare = {"enum": [n for n in names if _bare_ok(n)]}
    else:
        mapping["propertyNames"] = {"pattern": _IDENT}
        mapping["additionalProperties"] = {"description": "a block defined under blocks:"}
        bare = {"type": "string", "pattern": _IDENT}
    return {"anyOf": [bare, mapping]}


# ---------------------------------------------------------------------------- the schema

def spec_schema() -> dict:
    names = sorted(registry.REGISTRY) + sorted(registry.ALIASES) + list(registry.CONTAINERS)
    layer_defs: dict = {}
    for d in layerdoc.details():
        layer_defs["layer_" + d.name] = _layer(d, layer_defs)
    dim = {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                     {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*(=([0-9]+|[0-9]*\.\.[0-9]*|[0-9]+@[0-9]*\.\.[0-9]*))?$"},
                     _VAR]}
    shape = {"type": "array", "items": dim, "minItems": 1}
    tensor = {"anyOf": [shape, {"type": "object", "properties": {"shape": shape, "dtype": {"enum": list(INPUT_SPELLINGS)}},
                                "required": ["shape"], "additionalProperties": False}]}
    blocks_only = list(RESERVED) + names
    block = {"anyOf": [_ref("items_b"), {"type": "object", "properties": {
        "params": {"type": "object", "propertyNames": {"pattern": _IDENT}}, "layers": _ref("items_b"),
        "inline": {"type": "boolean", "description": "a use of the block adds no level: its items take its place"}},
        "required": ["layers"], "additionalProperties": False}]}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        "$comment": MARK,
        "title": "shapecli spec",
        "description": "A PyTorch network as a list of torch.nn layers with input-dependent sizes left out (docs/spec.md).",
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "the network's name (default: the file's name)"},
            "input": {"anyOf": [tensor, {"type": "array", "items": tensor, "minItems": 1}, _VAR,
                                {"type": "object", "minProperties": 1, "not": {"required": ["shape"]},
                                 "propertyNames": {"pattern": _IDENT, "not": {"enum": ["input", "dtype"]}},
                                 "additionalProperties": tensor}],
                      "description": "[2, 20], [B, 3, H=224, W=224], {shape: [...], dtype: int64}, a list of those, "
                                     "or named inputs {src: ..., tgt: ...}"},
            "vars": {"type": "object", "propertyNames": {"pattern": _IDENT},
                     "description": "variables: use them as $name or ${expression} anywhere below"},
            "init": _ref("init"),
            "blocks": {"type": "object", "propertyNames": {"pattern": _IDENT, "not": {"enum": blocks_only}},
                       "additionalProperties": block,
                       "description": "named groups of items, used as `- name: {param: value}`"},
            "layers": {**_ref("items_b"), "description": "the network's items, in order (docs/spec.md)"},
        },
        "required": ["layers"],
        "additionalProperties": False,
        # Without blocks, an item's key must be a known layer type: a typo (`Conv2D`, `nmae`) is flagged.
        "if": {"not": {"required": ["blocks"]}},
        "then": {"properties": {"layers": _ref("items")}},
        "definitions": {
            "var": _VAR_DEF,
            "dtype": {"enum": list(INPUT_SPELLINGS), "description": "a dtype name (or an alias: fp16, bf16, ...)"},
            "items": {"type": "array", "items": _ref("item"), "minItems": 1},
            "items_b": {"type": "array", "items": _ref("item_b"), "minItems": 1},
            "item": _item("item", names),
            "item_b": _item("item_b", names),
            **_init_defs(),
            **layer_defs,
        },
    }


def write_schema(path: str) -> None:
    """Write the spec schema to `path` atomically; refuse to replace a file that `shapecli schema -o` did not write."""
    write_schema_file(path, spec_schema())
