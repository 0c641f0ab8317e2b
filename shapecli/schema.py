"""JSON Schema of the spec language, for editors' YAML language servers (`shapecli schema`).

Generated from the layer registry, so it always lists exactly the layers and arguments that
shapecli accepts. Needs torch (constructor signatures).
"""
from __future__ import annotations

from shapecli import layers as registry
from shapecli.dtypes import INPUT as DTYPES

_JSON = {"int": {"type": "integer"}, "float": {"type": "number"}, "bool": {"type": "boolean"},
         "str": {"type": "string"}, "none": {"type": "null"},
         "ints": {"type": "array", "items": {"type": ["integer", "null"]}},
         "floats": {"type": "array", "items": {"type": "number"}}, "dtype": {"enum": list(DTYPES)}}
_VAR = {"type": "string", "pattern": r"^\$"}  # `$name` / `${expr}` is allowed anywhere


def _arg_schema(p: registry.Param) -> dict:
    alts = [dict(_JSON[t]) for t in sorted(p.types) if t in _JSON] or [{}]
    for a in alts:
        if a.get("type") == "string" and p.choices:
            a["enum"] = list(p.choices)
    return {"anyOf": alts + [_VAR], "description": f"{p.kind}" + (" (inferred from the data)" if p.inferred else "")
            + ("" if p.required else f"; default {p.default!r}" if not callable(p.default) else "")}


def spec_schema() -> dict:
    item_ref = {"$ref": "#/$defs/item"}
    items = {"type": "array", "items": item_ref, "minItems": 1}
    layer_props, names = {}, []
    for name in sorted(registry.REGISTRY):
        sig = registry.signature(name)
        args = {p.name: _arg_schema(p) for p in sig.params}
        required = [p.name for p in sig.params if p.required]
        kw = {"type": "object", "properties": args, "additionalProperties": False}
        if required:
            kw["required"] = required
        layer_props[name] = {"anyOf": [{"type": "null"}, kw, {"type": "array"}, {"type": ["integer", "number", "string", "boolean"]}],
                             "description": f"torch.nn.{name}" if not registry.REGISTRY[name].glue else f"shapecli glue layer {name}"}
        names.append(name)
    for alias, target in registry.ALIASES.items():
        layer_props[alias] = layer_props[target]
        names.append(alias)
    layer_props["Sequential"] = items
    layer_props["Residual"] = {"anyOf": [items, {"type": "object", "properties": {"body": items, "shortcut": items},
                                                 "required": ["body"], "additionalProperties": False}]}
    merge = {"type": "object", "properties": {"branches": {"type": "array", "items": items}, "dim": {"type": "integer"},
                                              "from": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}},
             "additionalProperties": False}
    for m in ("Concat", "Add", "Multiply"):
        layer_props[m] = merge
    reserved = {"name": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
                "repeat": {"anyOf": [{"type": "integer", "minimum": 1}, _VAR]},
                "freeze": {"type": "boolean"}, "init": {"$ref": "#/$defs/init"}, "tie": {"type": "string"}}
    item = {"anyOf": [{"enum": names + ["Sequential"]},
                      {"type": "object", "properties": {**layer_props, **reserved}, "minProperties": 1,
                       "additionalProperties": {"description": "a block defined under blocks:"}}]}
    scheme = {"anyOf": [{"type": "string"}, {"type": "object", "maxProperties": 1}]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/shapecli/shapecli/spec.schema.json",
        "title": "shapecli spec",
        "description": "A PyTorch network as a list of torch.nn layers with input-dependent sizes left out (docs/spec.md).",
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "input": {"type": ["array", "object"], "description": "[2, 20], {shape: [...], dtype: int64}, or a list of those"},
            "vars": {"type": "object"},
            "init": {"$ref": "#/$defs/init"},
            "blocks": {"type": "object", "additionalProperties": {"anyOf": [items, {
                "type": "object", "properties": {"params": {"type": "object"}, "layers": items},
                "required": ["layers"], "additionalProperties": False}]}},
            "layers": items,
        },
        "required": ["layers"],
        "additionalProperties": False,
        "$defs": {"item": item, "init": {"type": "object", "additionalProperties": scheme}},
    }

