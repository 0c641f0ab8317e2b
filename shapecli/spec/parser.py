"""Spec: a YAML file becomes a tree of plain dataclasses, every node with its line:column.

This stage needs no torch. It checks the structure (items, reserved keys, names, references),
resolves variables and expands blocks and `repeat`, so that the builder sees one concrete tree.
Argument values are checked against the layers' constructors in build.py (that needs torch).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from shapecli import layers as registry
from shapecli.errors import Collector, Loc, SpecError, UsageError, did_you_mean, literal
from shapecli.spec import expr
from shapecli.spec.dims import Dim, parse_dims, unify_dims  # noqa: F401  (Dim: part of the Spec's data)
from shapecli.spec.yamlload import YList, YMap, parse_yaml, read_text, resolve_plain

MAX_NODES = 200_000  # items after expanding blocks and repeat
MAX_REPEAT = 100_000
MAX_VAR_DEPTH = 50  # variables defined through other variables, this many deep
MAX_INT = 1 << 40  # no layer size or dimension is larger; catches typos before any allocation
RESERVED = ("name", "repeat", "freeze", "init", "tie")
TOP_KEYS = ("name", "input", "vars", "init", "blocks", "layers")
DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool",
          "complex64")
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class InputSpec:
    dims: list  # [Dim]
    dtype: str = "float32"

    @property
    def shape(self) -> list:
        return [d.size for d in self.dims]

    @property
    def symbolic(self) -> bool:
        return any(d.name for d in self.dims)


@dataclass
class Node:
    """One item of the network: a layer, or a container with children."""

    type: str  # registry name ("Linear", "Item") or container ("Sequential", "Residual", "Concat", "Add", "Multiply")
    key: str  # its name in the parent: `name:` or its index
    path: str  # dotted path from the root ("" for the root)
    loc: Loc
    args: list = field(default_factory=list)  # positional values, variables resolved
    kwargs: dict = field(default_factory=dict)
    arg_locs: dict = field(default_factory=dict)  # int (position) or str (name) -> Loc
    children: list = field(default_factory=list)  # [Node]
    named: bool = False  # the user gave `name:`
    freeze: bool = False
    init: dict = field(default_factory=dict)  # {"weight": InitScheme, ...} given on this item
    tie: str | None = None  # path of the item whose weight this item's weight is
    refs: list = field(default_factory=list)  # `from:` paths, for Concat/Add
    dim: int = 1  # Concat's dim
    block: str | None = None  # the block this Sequential was expanded from
    block_args: dict = field(default_factory=dict)  # that block's parameters as resolved here (those used)

    @property
    def is_container(self) -> bool:
        return self.type in registry.CONTAINERS

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()

    def label(self) -> str:
        """'encoder.0 (Conv2d)': how errors and tables name a layer."""
        return f"{self.path or '<network>'} ({self.block or self.type})"


@dataclass
class Spec:
    name: str
    file: str
    inputs: list  # [InputSpec]: the default sample input (one tensor per model input)
    root: Node  # a Sequential with path ""
    vars: dict  # resolved variables
    init: dict  # the global init map
    text: str = ""

    def nodes(self):
        return self.root.walk()


# ---------------------------------------------------------------------------- entry points

def load_spec(path: str, overrides: dict | None = None) -> Spec:
    """Read and parse a spec file ('-' for stdin). `overrides` are `--set name=value` pairs."""
    text = read_text(path)
    file = "<stdin>" if path == "-" else path
    return parse_spec(text, file, overrides)


def parse_spec(text: str, file: str = "<spec>", overrides: dict | None = None) -> Spec:
    doc = parse_yaml(text, file)
    p = _Parser(file)
    spec = p.parse(doc, overrides or {})
    spec.text = text
    return spec


def parse_set(items: list[str]) -> dict:
    """`--set hidden=512` pairs into {name: value} (values typed as YAML scalars)."""
    out = {}
    for item in items:
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq or not IDENT.match(name):
            raise UsageError(f"--set takes name=value, got '{literal(item)}'")
        try:
            out[name] = resolve_plain(value.strip())
        except ValueError as e:
            raise UsageError(f"--set {name}: {e}") from None
    return out


# ---------------------------------------------------------------------------- inputs

def parse_input_text(text: str, default: list | None = None) -> list:
    """`--input` text: `2,20`, `B,3,H=224,W=224`, `2,16:int64`, several tensors as `2,10;2,20`.

    A named dimension without a sample size takes it from the spec's default input (same
    position, same rank), or is the batch (first position, sample 2); anywhere else it must be
    written with one (`H=224`) or a range (`H=32..1024`), so a typo such as `--input abc` is an
    error rather than a silent new input.
    """
    if not text.strip():
        raise UsageError("--input is empty; write a shape such as 2,20")
    out = []
    for i, part in enumerate(text.split(";")):
        shape_text, _, dtype = part.strip().partition(":")
        dtype = dtype.strip() or "float32"
        if dtype not in DTYPES:
            raise UsageError(f"--input '{literal(text)}': unknown dtype '{literal(dtype)}'{did_you_mean(dtype, DTYPES)}")
        ref = default[i].shape if default and i < len(default) else None
        dims = parse_dims(shape_text, defaults=ref)
        same_rank = ref is not None and len(ref) == len(dims)
        for j, d in enumerate(dims):
            batch_ok = j == 0 and ref is None  # no default input to contradict: a lone name is the batch
            if d.name and getattr(d, "_defaulted", False) and d.lo is None and d.hi is None and not same_rank and not batch_ok:
                raise UsageError(f"--input '{literal(text)}': no sample size for {literal(d.name)}; write "
                                 f"{literal(d.name)}=<size> (e.g. {literal(d.name)}=224) or a range")
            if d.size > MAX_INT:
                raise UsageError(f"--input '{literal(text)}': {d.size} is too large")
        out.append(InputSpec(dims, dtype))
    return _unified(out)


def _unified(inputs: list) -> list:
    """One name, one size across all tensors of a sample (B in both inputs of a Bilinear)."""
    if sum(1 for i in inputs for d in i.dims if d.name) < 2:
        return inputs
    for inp, dims in zip(inputs, unify_dims([i.dims for i in inputs])):
        inp.dims = dims
    return inputs


# ---------------------------------------------------------------------------- the parser

class _Bad:
    """A value that already produced an error: suppresses follow-up errors."""


BAD = _Bad()


@dataclass
class _Scope:
    values: dict  # name -> resolved value
    raw: dict  # name -> (raw value, Loc), resolved on first use
    parent: "_Scope | None" = None
    resolving: tuple = ()


class _Parser:
    def __init__(self, file: str):
        self.file = file
        self.c = Collector()
        self.count = 0
        self.blocks: dict = {}
        self.block_stack: list = []
        self.defined: list = []  # [(key, path, loc)] of finished named items, in execution order
        self.pending_refs: list = []  # (name, loc, label) not found when used
        self.all_names: dict = {}  # name -> loc of every named item anywhere

    # -- errors
    def err(self, msg: str, loc: Loc | None, node_label: str | None = None):
        self.c.add(msg, loc, node_label)
        return BAD

    def parse(self, doc, overrides: dict) -> Spec:
        loc0 = Loc(self.file, 1, 1)
        if not isinstance(doc, YMap):
            raise SpecError("the top level of a spec must be a mapping with a `layers:` list", getattr(doc, "loc", loc0))
        for k in doc:
            if k not in TOP_KEYS:
                hint = did_you_mean(k, TOP_KEYS)
                if not hint and registry.canonical(k):
                    hint = " (layers go in a list under `layers:`)"
                self.err(f"unknown top-level key '{literal(k)}'{hint}; expected one of {', '.join(TOP_KEYS)}", doc.key_locs[k])
        # vars, with --set overrides; an override of an unknown name is an error
        raw_vars = doc.get("vars") or YMap()
        if "vars" in doc and not isinstance(doc["vars"], (YMap, type(None))):
            self.err("`vars:` must be a mapping of name: value", doc.at("vars"))
            raw_vars = YMap()
        if not hasattr(raw_vars, "loc"):
            raw_vars.loc, raw_vars.key_locs, raw_vars.value_locs = loc0, {}, {}
        raw = {}
        for k, v in raw_vars.items():
            if not IDENT.match(k):
                self.err(f"variable name '{literal(k)}' is not an identifier", raw_vars.key_locs[k])
            raw[k] = (v, raw_vars.at(k))
        for k, v in overrides.items():
            if k not in raw:
                raise UsageError(f"--set {k}: the spec has no variable '{literal(k)}'{did_you_mean(k, raw)}"
                                 + ("" if raw else " (it defines no vars:)"))
            raw[k] = (v, Loc("--set"))
        self.globals = _Scope({}, raw)
        resolved = {}
        for k in raw:
            v = self.lookup(self.globals, k, raw[k][1])
            if v is not BAD:
                resolved[k] = v

        name = doc.get("name")
        if name is None:
            name = Path(self.file).stem if self.file not in ("<stdin>", "<spec>") else "network"
        elif not isinstance(name, str):
            self.err("`name:` must be a string", doc.at("name"))
            name = str(name)

        init = self.parse_init(doc["init"], doc.at("init")) if "init" in doc else {}

        # blocks: collected first, expanded where used
        blocks = doc.get("blocks")
        if blocks is not None:
            if not isinstance(blocks, YMap):
                self.err("`blocks:` must be a mapping of block name: {params: ..., layers: [...]}", doc.at("blocks"))
            else:
                for bname, body in blocks.items():
                    self.add_block(bname, body, blocks.key_locs[bname], blocks.at(bname))

        inputs = self.parse_inputs(doc["input"], doc.at("input")) if "input" in doc else []

        root = Node("Sequential", "", "", Loc(self.file, 1, 1))
        if "layers" not in doc:
            if not any("did you mean layers?" in p.message for p in self.c.problems):  # `layer:` said it already
                self.err("the spec has no `layers:` list", loc0)
        elif not isinstance(doc["layers"], YList) or not doc["layers"]:
            self.err("`layers:` must be a non-empty list of items", doc.at("layers"))
        else:
            root.loc = doc.at("layers")
            root.children = self.items(doc["layers"], "", self.globals)
        for ref, loc, label in self.pending_refs:
            if ref in self.all_names:
                self.err(f"'{literal(ref)}' is defined later (line {self.all_names[ref].line}); "
                         "`from:`/`tie:` can only use an earlier item", loc, label)
            else:
                known = sorted({k for k, _, _ in self.defined})
                self.err(f"no earlier item is named '{literal(ref)}'{did_you_mean(ref, known)}", loc, label)
        if self.c.problems:  # check the arguments of the items that did parse too: every problem in one run
            self.bind_partial(root)
        self.c.raise_if_any(SpecError)
        return Spec(name, self.file, inputs, root, resolved, init)

    def bind_partial(self, root: Node) -> None:
        """On the error path only: add the argument problems `model.bind` finds (it needs torch), in line order."""
        from shapecli.model.args import bind

        for node in root.walk():
            if node.is_container or node.type not in registry.REGISTRY:
                continue
            if any(v is BAD for v in (*node.args, *node.kwargs.values())):
                continue  # already reported
            try:
                bind(node, self.c)
            except Exception:  # noqa: BLE001 - extra messages must never hide the ones we have
                pass
        first = {id(p): i for i, p in enumerate(self.c.problems)}
        self.c.problems.sort(key=lambda p: (p.loc is None or p.loc.file != self.file,
                                            p.loc.line or 0 if p.loc else 0, first[id(p)]))

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

    # -- init
    def parse_init(self, value, loc: Loc) -> dict:
        from shapecli.spec.initschemes import parse_init_map

        try:
            return parse_init_map(value, loc)
        except SpecError as e:
            self.c.problems.extend(e.problems)
            return {}

    # -- inputs
    def parse_inputs(self, value, loc: Loc) -> list:
        value = self.subst(value, loc, self.globals)
        if value is BAD:
            return []
        many = isinstance(value, list) and value and all(isinstance(v, (list, dict)) for v in value)
        out = []
        for v in value if many else [value]:
            dtype = "float32"
            if isinstance(v, dict):
                unknown = set(v) - {"shape", "dtype"}
                if unknown:
                    self.err(f"input: unknown key '{literal(sorted(unknown)[0])}' (an input is a shape, or {{shape: [...], dtype: ...}})", loc)
                dtype = v.get("dtype", "float32")
                if dtype not in DTYPES:
                    self.err(f"input: unknown dtype '{literal(dtype)}'{did_you_mean(str(dtype), DTYPES)}", loc)
                v = v.get("shape")
            if not isinstance(v, list) or not v:
                self.err("input: a shape is a non-empty list such as [2, 20]", loc)
                continue
            bad = [d for d in v if isinstance(d, bool) or not isinstance(d, (int, str))]
            if bad:
                self.err(f"input: a dimension is a positive integer or a name such as B or H=224, got {_what(bad[0])}", loc)
                continue
            try:
                dims = parse_dims(",".join(str(d) for d in v))
            except UsageError as e:
                self.err("input: " + e.problems[0].message.split(": ", 1)[-1], loc)
                continue
            out.append(InputSpec(dims, dtype))
        try:
            return _unified(out)
        except UsageError as e:
            self.err("input: " + e.problems[0].message, loc)
            return out

    # -- blocks
    def add_block(self, bname: str, body, kloc: Loc, vloc: Loc) -> None:
        if not IDENT.match(bname):
            self.err(f"block name '{literal(bname)}' is not an identifier", kloc)
            return
        if registry.canonical(bname) or bname in RESERVED:
            self.err(f"block name '{bname}' shadows a layer type or reserved key; choose another name", kloc)
            return
        if isinstance(body, YList):
            self.blocks[bname] = ({}, {}, body, kloc)
            return
        if not isinstance(body, YMap) or "layers" not in body:
            self.err(f"block '{bname}' must be a list of items, or a mapping with `layers:` (and optional `params:`)", vloc)
            return
        for k in body:
            if k not in ("params", "layers"):
                self.err(f"block '{bname}': unknown key '{literal(k)}'{did_you_mean(k, ['params', 'layers'])}", body.key_locs[k])
        params = body.get("params") or {}
        if not isinstance(params, dict):
            self.err(f"block '{bname}': `params:` must be a mapping of name: default", body.at("params"))
            params = {}
        plocs = {k: params.at(k) for k in params} if isinstance(params, YMap) else {}
        if not isinstance(body["layers"], YList) or not body["layers"]:
            self.err(f"block '{bname}': `layers:` must be a non-empty list", body.at("layers"))
            return
        self.blocks[bname] = (dict(params), plocs, body["layers"], kloc)

    # -- items
    def items(self, seq: YList, parent: str, scope: _Scope) -> list:
        out, keys = [], {}
        for i, raw in enumerate(seq):
            node = self.item(raw, seq.at(i), str(i), parent, scope)
            if node is None:
                continue
            if node.key in keys:
                self.err(f"two items are named '{node.key}' (the first at line {keys[node.key].line})", node.loc)
            keys[node.key] = node.loc
            out.append(node)
        return out

    def item(self, raw, loc: Loc, index: str, parent: str, scope: _Scope) -> Node | None:
        self.count += 1
        if self.count > MAX_NODES:
            raise SpecError(f"the network has more than {MAX_NODES:,} items after expanding blocks and repeat", loc)
        if isinstance(raw, str):
            layer_key, value, extra = raw, None, YMap()
            extra.loc, extra.key_locs, extra.value_locs = loc, {}, {}
        elif isinstance(raw, YMap):
            layer_keys = [k for k in raw if k not in RESERVED]
            if not layer_keys:
                self.err("an item needs a layer type, e.g. `- Linear: 10`", loc)
                return None
            if len(layer_keys) > 1:
                known = [k for k in layer_keys if registry.canonical(k) or k in self.blocks]
                stray = [k for k in layer_keys if k not in known[:1]]
                hint = ""
                if len(known) == 1:
                    hint = f" (is `{stray[0]}` an argument of {known[0]}? indent it under `{known[0]}:`)"
                self.err(f"an item has exactly one layer type; found {', '.join(literal(k) for k in layer_keys)}{hint}",
                         raw.key_locs[stray[0]] if stray else loc)
                return None
            layer_key = layer_keys[0]
            value = raw[layer_key]
            extra = raw
            loc = raw.key_locs[layer_key]
        else:
            self.err(f"an item must be a layer name or a mapping, not {_what(raw)}", loc)
            return None

        # reserved keys
        key, named = index, False
        if "name" in extra:
            nm = extra["name"]
            if not isinstance(nm, str) or not IDENT.match(nm):
                self.err(f"`name:` must be an identifier (letters, digits, _), got {_what(nm)}", extra.at("name"))
            else:
                key, named = nm, True
        path = f"{parent}.{key}" if parent else key
        label = f"{path} ({layer_key})"
        if named:
            self.all_names.setdefault(key, extra.at("name"))
        repeat = 1
        if "repeat" in extra:
            r = self.subst(extra["repeat"], extra.at("repeat"), scope, label)
            if r is not BAD:
                if type(r) is not int or not 1 <= r <= MAX_REPEAT:
                    self.err(f"`repeat:` must be an integer from 1 to {MAX_REPEAT:,}, got {_what(r)}", extra.at("repeat"), label)
                else:
                    repeat = r
        if repeat > 1:  # N independent copies, parsed anew so each has its own paths and names
            one = YMap({k: v for k, v in extra.items() if k not in ("name", "repeat")})
            one.loc, one.key_locs, one.value_locs = extra.loc, extra.key_locs, extra.value_locs
            node = Node("Sequential", key, path, loc, named=named)
            before = self.count
            first = self.item(one, loc, "0", path, scope)
            size = self.count - before
            if size * (repeat - 1) + self.count > MAX_NODES:
                raise SpecError(f"`repeat: {repeat}` of {size} item(s) makes more than {MAX_NODES:,} items",
                                extra.at("repeat"), label)
            rest = [self.item(one, loc, str(i), path, scope) for i in range(1, repeat)]
            node.children = [c for c in [first, *rest] if c is not None]
            if named:
                self.defined.append((key, path, loc))
            return node

        node = Node("Sequential", key, path, loc, named=named)
        if "freeze" in extra:
            f = self.subst(extra["freeze"], extra.at("freeze"), scope, label)
            if type(f) is not bool and f is not BAD:
                self.err(f"`freeze:` must be true or false, got {_what(f)}", extra.at("freeze"), label)
            node.freeze = f is True
        if "init" in extra:
            node.init = self.parse_init(extra["init"], extra.at("init"))
        if "tie" in extra:
            t = extra["tie"]
            if not isinstance(t, str) or not t:
                self.err(f"`tie:` names an earlier item, got {_what(t)}", extra.at("tie"), label)
            else:
                node.tie = self.resolve_ref(t, extra.at("tie"), label)

        # the layer key
        if layer_key in self.blocks:
            self.expand_block(node, layer_key, value, loc, scope, label)
        else:
            canon = registry.canonical(layer_key)
            if canon is None:
                self.err(_unknown_layer(layer_key, self.blocks), loc, None)
                return None
            node.type = canon
            label = f"{path} ({canon})"
            if canon == "Sequential":
                if not isinstance(value, YList) or not value:
                    self.err("`Sequential:` takes a non-empty list of items", loc, label)
                else:
                    node.children = self.items(value, path, scope)
            elif canon == "Residual":
                self.residual(node, value, loc, scope, label)
            elif canon in ("Concat", "Add", "Multiply"):
                self.merge(node, value, loc, scope, label)
            else:
                self.layer_args(node, value, loc, scope, label)
        if named:
            self.defined.append((key, path, loc))
        return node

    def layer_args(self, node: Node, value, loc: Loc, scope: _Scope, label: str) -> None:
        if isinstance(value, YMap):
            for k, v in value.items():
                node.kwargs[k] = self.subst(v, value.at(k), scope, label)
                node.arg_locs[k] = value.at(k)
                node.arg_locs["key:" + k] = value.key_locs[k]
        elif isinstance(value, YList):
            for i, v in enumerate(value):
                node.args.append(self.subst(v, value.at(i), scope, label))
                node.arg_locs[i] = value.at(i)
        elif value is not None:
            v = self.subst(value, loc, scope, label)
            if isinstance(v, list):  # `Linear: $sizes` resolving to a list
                node.args.extend(v)
                node.arg_locs.update({i: loc for i in range(len(v))})
            else:
                node.args.append(v)
                node.arg_locs[0] = loc

    def seq(self, value, loc: Loc, parent: str, key: str, scope: _Scope, what: str, label: str) -> Node | None:
        path = f"{parent}.{key}"
        if isinstance(value, (str, YMap)):
            value = YList([value])
            value.loc, value.item_locs = loc, [loc]
        if not isinstance(value, YList) or not value:
            self.err(f"{what} must be a non-empty list of items", loc, label)
            return None
        return Node("Sequential", key, path, loc, children=self.items(value, path, scope))

    def residual(self, node: Node, value, loc: Loc, scope: _Scope, label: str) -> None:
        if isinstance(value, YList):
            value = {"body": value}
            locs = {"body": loc}
        elif isinstance(value, YMap):
            locs = value.value_locs
            for k in value:
                if k not in ("body", "shortcut"):
                    self.err(f"Residual: unknown key '{literal(k)}'{did_you_mean(k, ['body', 'shortcut'])}; "
                             "Residual takes body: [...] and an optional shortcut: [...]", value.key_locs[k], label)
        else:
            self.err("Residual takes a list of items (its body), or {body: [...], shortcut: [...]}", loc, label)
            return
        if "body" not in value:
            self.err("Residual needs a `body:` list", loc, label)
            return
        body = self.seq(value["body"], locs.get("body", loc), node.path, "body", scope, "Residual body", label)
        node.children = [body] if body else []
        if value.get("shortcut") is not None:
            sc = self.seq(value["shortcut"], locs.get("shortcut", loc), node.path, "shortcut", scope, "Residual shortcut", label)
            if sc:
                node.children.append(sc)

    def merge(self, node: Node, value, loc: Loc, scope: _Scope, label: str) -> None:
        kind = node.type
        if isinstance(value, YList):
            value = {"branches": value}
            locs = {"branches": loc}
        elif isinstance(value, YMap):
            locs = value.value_locs
            allowed = ["branches", "from"] + (["dim"] if kind == "Concat" else [])
            for k in value:
                if k not in allowed:
                    self.err(f"{kind}: unknown key '{literal(k)}'{did_you_mean(k, allowed)}", value.key_locs[k], label)
        else:
            self.err(f"{kind} takes {{branches: [[...], [...]]}} and/or {{from: name}}", loc, label)
            return
        if "dim" in value:
            d = self.subst(value["dim"], locs["dim"], scope, label)
            if type(d) is not int:
                self.err(f"{kind} dim must be an integer, got {_what(d)}", locs["dim"], label)
            else:
                node.dim = d
        branches = value.get("branches")
        if branches is not None:
            if not isinstance(branches, YList) or not branches:
                self.err(f"{kind} branches must be a list of branches, each a list of items", locs.get("branches", loc), label)
            else:
                for i, b in enumerate(branches):
                    sub = self.seq(b, branches.at(i), node.path, str(i), scope, f"{kind} branch {i}", label)
                    if sub:
                        node.children.append(sub)
        refs = value.get("from")
        unresolved = 0
        if refs is not None:
            items = refs if isinstance(refs, list) else [refs]
            rlocs = [refs.at(i) for i in range(len(refs))] if isinstance(refs, YList) else [locs.get("from", loc)]
            for r, rl in zip(items, rlocs):
                if not isinstance(r, str):
                    self.err(f"`from:` names earlier items, got {_what(r)}", rl, label)
                    continue
                path = self.resolve_ref(r, rl, label)
                if path is not None:
                    node.refs.append(path)
                else:
                    unresolved += 1  # reported once, as an unknown name; not again as a missing input
        if branches is None and refs is None:
            self.err(f"{kind} needs `branches:` or `from:`", loc, label)
        elif kind != "Concat" and len(node.children) + len(node.refs) + unresolved + (0 if node.children else 1) < 2:
            self.err(f"{kind} needs at least two inputs (branches, or x and `from:` outputs)", loc, label)

    def resolve_ref(self, ref: str, loc: Loc, label: str) -> str | None:
        for key, path, _ in reversed(self.defined):
            if path == ref:
                return path
        for key, path, _ in reversed(self.defined):
            if key == ref:
                return path
        self.pending_refs.append((ref, loc, label))
        return None

    def expand_block(self, node: Node, bname: str, value, loc: Loc, scope: _Scope, label: str) -> None:
        defaults, plocs, layers, bloc = self.blocks[bname]
        if bname in self.block_stack:
            chain = " -> ".join(self.block_stack + [bname])
            self.err(f"block recursion: {chain}", loc, label)
            return
        if len(self.block_stack) >= 32:
            self.err("blocks are nested more than 32 deep", loc, label)
            return
        args = {}
        if isinstance(value, YMap):
            for k, v in value.items():
                if k not in defaults:
                    self.err(f"block '{bname}' has no parameter '{literal(k)}'{did_you_mean(k, defaults)}"
                             + ("" if defaults else " (it takes none)"), value.key_locs[k], label)
                    continue
                args[k] = self.subst(v, value.at(k), scope, label)
        elif value is not None:
            self.err(f"block '{bname}' takes its parameters as a mapping, e.g. `- {bname}: {{{next(iter(defaults), 'c')}: 64}}`", loc, label)
        # parameters see the global vars; defaults may refer to other vars
        inner = _Scope(dict(args), {k: (v, plocs.get(k, bloc)) for k, v in defaults.items() if k not in args}, self.globals)
        node.type, node.block = "Sequential", bname
        self.block_stack.append(bname)
        try:
            node.children = self.items(layers, node.path, inner)
        finally:
            self.block_stack.pop()
        node.block_args = {k: v for k, v in inner.values.items() if v is not BAD}


def _what(v) -> str:
    if v is None:
        return "nothing (null)"
    if isinstance(v, bool):
        return f"the boolean {str(v).lower()}"
    if isinstance(v, (int, float)):
        return f"the number {v}"
    if isinstance(v, str):
        return f"the string '{literal(v, 40)}'"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a mapping"
    return type(v).__name__


def _unknown_layer(name, blocks) -> str:
    text = literal(name, 60)
    if not isinstance(name, str):
        return f"{text} is not a layer type"
    if "." in name or "/" in name or ":" in name:
        return (f"unknown layer type '{text}': layer types are torch.nn class names such as Linear; "
                "shapecli never imports code named in a spec")
    if name.startswith("_") or name in ("target", "class", "type"):
        return f"unknown layer type '{text}': write the layer as `- Linear: 10` (shapecli never imports code named in a spec)"
    if name in registry.NOT_LAYERS:
        return f"{name} is not supported as a layer: {registry.NOT_LAYERS[name]}"
    if name.endswith("Loss"):
        return f"{name} is a loss, not a layer"
    return f"unknown layer type '{text}'{did_you_mean(name, registry.known_names() + list(blocks))}"
