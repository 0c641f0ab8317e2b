"""The items of a network: layers, containers, `repeat`, references and blocks, parsed into Nodes (no torch)."""
from __future__ import annotations

from shapecli import layers as registry
from shapecli.errors import Loc, SpecError, did_you_mean, literal, what
from shapecli.spec.nodes import IDENT, MAX_NODES, MAX_REPEAT, OWN_INPUT, RESERVED, TENSORS, Node
from shapecli.spec.tensors import is_tensor_item
from shapecli.spec.variables import BAD, _Scope
from shapecli.spec.yamlload import YList, YMap


class Items:
    """The parser's item parsing (a part of `_Parser`)."""

    # -- items
    def items(self, seq: YList, parent: str, scope: _Scope) -> list:
        out, keys = [], {}
        skipped = 0  # items whose `if:` is false: absent, and the next ones numbered as if they never were
        for i, raw in enumerate(seq):
            if isinstance(raw, YMap) and "if" in raw and not self.condition(raw, scope):
                skipped += 1
                continue
            node = self.item(raw, seq.at(i), str(i - skipped), parent, scope)
            if is_tensor_item(raw):  # a tensor the container owns is no module: it takes no index
                skipped += 1
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
        if named and key == OWN_INPUT:
            self.err(f"`name: {OWN_INPUT}` is reserved: in a merge's `from:` it means the merge's own input; choose another name",
                     extra.at("name"))
        if named:
            self.all_names.setdefault(key, extra.at("name"))
        repeat, index = 1, None
        if "repeat" in extra:
            r = extra["repeat"]
            if isinstance(r, YMap):
                r, index = self.counted_repeat(r, scope, label)
            else:
                r = self.subst(r, extra.at("repeat"), scope, label)
            if r is not BAD:
                if type(r) is not int or not 1 <= r <= MAX_REPEAT:
                    self.err(f"`repeat:` must be an integer from 1 to {MAX_REPEAT:,}, got {_what(r)}", extra.at("repeat"), label)
                else:
                    repeat = r
        if layer_key in TENSORS:  # `Parameter:`/`Buffer:` (spec/tensors.py)
            node = Node(layer_key, key, path, loc, named=named)
            self.tensor_item(node, layer_key, value, loc, extra, scope, label)
            if not named:
                return None  # reported: a tensor is known by its name only
            self.defined.append((key, path, loc))
            self.tensor_paths.add(path)
            return node
        if repeat > 1 or index is not None:  # N independent copies, parsed anew so each has its own paths and names
            one = YMap({k: v for k, v in extra.items() if k not in ("name", "repeat", "if")})
            one.loc, one.key_locs, one.value_locs = extra.loc, extra.key_locs, extra.value_locs
            node = Node("Sequential", key, path, loc, named=named)

            def copy(i):  # `repeat: {times: N, as: i}`: copy i sees i
                return self.item(one, loc, str(i), path, _Scope({index: i}, {}, scope) if index else scope)

            before = self.count
            first = copy(0)
            size = self.count - before
            if size * (repeat - 1) + self.count > MAX_NODES:
                raise SpecError(f"`repeat: {repeat}` of {size} item(s) makes more than {MAX_NODES:,} items",
                                extra.at("repeat"), label)
            rest = [copy(i) for i in range(1, repeat)]
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
                if node.tie in self.tensor_paths:
                    self.err(f"`tie:` shares a layer's weight, and '{literal(t)}' is a Parameter: read it with `from:` "
                             "in a merge instead", extra.at("tie"), label)
                    node.tie = None

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

    def condition(self, raw: YMap, scope: _Scope) -> bool:
        """An item's `if:`: true keeps it, false leaves it out (an error keeps it, to report what is in it)."""
        v = self.subst(raw["if"], raw.at("if"), scope)
        if v is BAD:
            return True
        if type(v) is not bool:
            self.err(f"`if:` takes a condition such as ${{i > 0}} (true or false), got {_what(v)}", raw.at("if"))
            return True
        return v

    def counted_repeat(self, r: YMap, scope: _Scope, label: str) -> tuple:
        """`repeat: {times: N, as: i}`: (N, the index variable's name)."""
        for k in r:
            if k not in ("times", "as"):
                self.err(f"`repeat:` unknown key '{literal(k)}'{did_you_mean(k, ['times', 'as'])}; "
                         "write `repeat: N` or `repeat: {times: N, as: i}`", r.key_locs[k], label)
        if "times" not in r:
            self.err("`repeat:` needs `times:`, e.g. `repeat: {times: 4, as: i}`", r.loc, label)
            return BAD, None
        name = r.get("as")
        if name is not None and (not isinstance(name, str) or not IDENT.match(name)):
            self.err(f"`as:` names the index variable (an identifier such as i), got {_what(name)}", r.at("as"), label)
            name = None
        return self.subst(r["times"], r.at("times"), scope, label), name

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
                if r == OWN_INPUT:  # `from: [skip, input]`: torch.cat([skip, x])
                    if OWN_INPUT in node.refs:
                        self.err(f"`from:` lists `{OWN_INPUT}` (the {kind}'s own input) twice", rl, label)
                    node.refs.append(OWN_INPUT)
                    continue
                path = self.resolve_ref(r, rl, label)
                if path is not None:
                    node.refs.append(path)
                else:
                    unresolved += 1  # reported once, as an unknown name; not again as a missing input
        if branches is None and refs is None:
            self.err(f"{kind} needs `branches:` or `from:`", loc, label)
        elif kind != "Concat" and len(node.children) + len(node.refs) + unresolved + (
                0 if node.children or OWN_INPUT in node.refs else 1) < 2:
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
    return what(v, null="nothing (null)")


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
