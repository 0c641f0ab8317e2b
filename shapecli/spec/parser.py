"""Spec: a YAML file becomes a tree of plain dataclasses, every node with its line:column.

This stage needs no torch. It checks the structure (items, reserved keys, names, references),
resolves variables and expands blocks and `repeat`, so that the builder sees one concrete tree.
Argument values are checked against the layers' constructors in model/args.py (that needs torch).
The Spec's dataclasses live in spec/nodes.py, `$name` resolution in spec/variables.py, the items
of a network in spec/items.py, and the command-line texts (`--input`, `--set`) in spec/inputs.py.
"""
from __future__ import annotations

from pathlib import Path

from shapecli import layers as registry
from shapecli.dtypes import input_name
from shapecli.errors import Collector, Loc, SpecError, UsageError, did_you_mean, literal
from shapecli.spec.dims import parse_dims
from shapecli.spec.inputs import _unified
from shapecli.spec.flow import Flow
from shapecli.spec.items import Items, _what
from shapecli.spec.nodes import DTYPES, IDENT, OWN_INPUT, RESERVED, TENSORS, TOP_KEYS, InputSpec, Node, Spec, input_key
from shapecli.spec.parts import Names
from shapecli.spec.problems import condense
from shapecli.spec.tensors import Tensors
from shapecli.spec.variables import BAD, Variables, _Scope
from shapecli.spec.yamlload import YList, YMap, parse_yaml, read_text

BLOCK_KEYS = ("params", "layers", "inline")  # a block's definition: {params: ..., layers: [...], inline: true}

# ---------------------------------------------------------------------------- entry points

def load_spec(path: str, overrides: dict | None = None) -> Spec:
    """Read and parse a spec file ('-' for stdin). `overrides` are `--set name=value` pairs."""
    text = read_text(path)
    file = "<stdin>" if path == "-" else path
    return parse_spec(text, file, overrides)


def parse_spec(text: str, file: str = "<spec>", overrides: dict | None = None) -> Spec:
    """Parse a spec; SpecError with the parser's problems. `shapecli.parse_spec` adds the argument-binding ones."""
    spec, problems = parse_partial(text, file, overrides)
    if problems:
        raise SpecError(condense(problems, text, file, spec.sets))
    return spec


def parse_partial(text: str, file: str = "<spec>", overrides: dict | None = None) -> tuple[Spec, list]:
    """(the spec as far as it parsed, its problems in line order): the first stage of loading a spec.

    Problems that stop parsing at once (bad YAML, an unknown `--set` name) are raised. The items
    that did parse can still be bound to their constructors (model.args.argument_problems), so one
    run reports every problem.
    """
    doc = parse_yaml(text, file)
    p = _Parser(file)
    spec = p.parse(doc, overrides or {})
    spec.text, spec.sets = text, dict(overrides or {})
    return spec, in_line_order(p.c.problems, file)


def in_line_order(problems: list, file: str) -> list:
    """Problems sorted by line (stable), those of other places (--set, no location) last."""
    first = {id(p): i for i, p in enumerate(problems)}
    return sorted(problems, key=lambda p: (p.loc is None or p.loc.file != file, p.loc.line or 0 if p.loc else 0,
                                           first[id(p)]))


# ---------------------------------------------------------------------------- the parser

class _Parser(Items, Flow, Tensors, Variables):
    def __init__(self, file: str):
        self.file = file
        self.c = Collector()
        self.count = 0
        self.blocks: dict = {}
        self.block_stack: list = []
        self.defined: list = []  # [(key, path, loc)] of finished named items, in execution order
        self.pending_refs: list = []  # (name, loc, label) not found when used
        self.all_names: dict = {}  # name -> loc of every named item anywhere
        self.inputs: list = []  # the spec's inputs (InputSpec), once parsed
        self.uses: list = []  # [(Names, loc)]: the inline items being expanded, outermost first

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
            # from the file name, escaped as on stderr: "\x1b[2J.yaml" must not reach a terminal raw
            name = literal(Path(self.file).stem, 200) if self.file not in ("<stdin>", "<spec>") else "network"
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
        for inp in inputs:  # named inputs are tensors `in:` and `from:` can read, defined before any item
            if inp.name:
                self.defined.append((inp.name, input_key(inp.name), doc.at("input")))
                self.all_names.setdefault(inp.name, doc.at("input"))
        self.inputs = inputs

        root = Node("Sequential", "", "", Loc(self.file, 1, 1))
        if "layers" not in doc:
            if not any("did you mean layers?" in p.message for p in self.c.problems):  # `layer:` said it already
                self.err("the spec has no `layers:` list", loc0)
        elif not isinstance(doc["layers"], YList) or not doc["layers"]:
            self.err("`layers:` must be a non-empty list of items", doc.at("layers"))
        else:
            root.loc = doc.at("layers")
            root.children = self.items(doc["layers"], Names(""), self.globals)
        for ref, loc, label in self.pending_refs:
            if ref in self.all_names:
                self.err(f"'{literal(ref)}' is defined later (line {self.all_names[ref].line}); "
                         "`from:`/`tie:` can only use an earlier item", loc, label)
            else:
                known = sorted({k for k, _, _ in self.defined})
                self.err(f"no earlier item is named '{literal(ref)}'{did_you_mean(ref, known)}", loc, label)
        return Spec(name, self.file, inputs, root, resolved, init)


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
        names = [None]
        if isinstance(value, dict) and value and "shape" not in value:  # named inputs: {src: [2, 7], tgt: ...}
            names = list(value)
            for n in names:
                if not isinstance(n, str) or not IDENT.match(n) or n in (OWN_INPUT, "dtype"):
                    self.err(f"input: '{literal(n)}' cannot name an input (an identifier other than input or dtype; "
                             "a single input is [2, 20] or {shape: [2, 20], dtype: int64})", loc)
                    return []
            value = list(value.values())
            many = True
        out = []
        for i, v in enumerate(value if many else [value]):
            dtype = "float32"
            if isinstance(v, dict):
                unknown = set(v) - {"shape", "dtype"}
                if unknown:
                    self.err(f"input: unknown key '{literal(sorted(unknown)[0])}' (an input is a shape, or {{shape: [...], dtype: ...}})", loc)
                written = v.get("dtype", "float32")
                dtype = input_name(written) if isinstance(written, str) else None  # bf16 as --input takes it
                if dtype is None:
                    self.err(f"input: unknown dtype '{literal(written)}'{did_you_mean(str(written), DTYPES)}", loc)
                    dtype = written
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
            out.append(InputSpec(dims, dtype, names[i] if names != [None] else None))
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
        if registry.canonical(bname) or bname in RESERVED or bname in TENSORS:
            self.err(f"block name '{bname}' shadows a layer type or reserved key; choose another name", kloc)
            return
        if isinstance(body, YList):
            self.blocks[bname] = ({}, {}, body, kloc, False)
            return
        if not isinstance(body, YMap) or "layers" not in body:
            self.err(f"block '{bname}' must be a list of items, or a mapping with `layers:` (and optional `params:`)", vloc)
            return
        for k in body:
            if k not in BLOCK_KEYS:
                self.err(f"block '{bname}': unknown key '{literal(k)}'{did_you_mean(k, BLOCK_KEYS)}", body.key_locs[k])
        inline = body.get("inline", False)
        if type(inline) is not bool:
            self.err(f"block '{bname}': `inline:` must be true or false, got {_what(inline)}", body.at("inline"))
            inline = False
        params = body.get("params") or {}
        if not isinstance(params, dict):
            self.err(f"block '{bname}': `params:` must be a mapping of name: default", body.at("params"))
            params = {}
        plocs = {k: params.at(k) for k in params} if isinstance(params, YMap) else {}
        if not isinstance(body["layers"], YList) or not body["layers"]:
            self.err(f"block '{bname}': `layers:` must be a non-empty list", body.at("layers"))
            return
        self.blocks[bname] = (dict(params), plocs, body["layers"], kloc, inline)

