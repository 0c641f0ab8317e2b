"""The items of a network: layers, containers, `repeat`, references and blocks, parsed into Nodes (no torch)."""
from __future__ import annotations

import re

from shapecli import layers as registry
from shapecli.errors import Loc, SpecError, did_you_mean, literal, what
from shapecli.spec.moduleattrs import MODULE_ATTRS
from shapecli.spec.nodes import IDENT, MAX_NODES, MAX_REPEAT, OWN_INPUT, RESERVED, TENSORS, Node
from shapecli.spec.parts import Names, OneName, Parts
from shapecli.spec.variables import BAD, _Scope
from shapecli.spec.yamlload import YList, YMap

SPLICED = ("Sequential",)  # besides blocks and `repeat:`: items whose `inline: true` removes their own level


class Items(Parts):
    """The parser's item parsing (a part of `_Parser`); a container's parts: spec/parts.py."""

    # -- items
    def items(self, seq: YList, ns: Names, scope: _Scope) -> list:
        """The items of a list, registered on the module `ns` (an `inline:` item's children in its place)."""
        out = []
        for i, raw in enumerate(seq):
            if isinstance(raw, YMap) and "if" in raw and not self.condition(raw, scope):
                continue  # absent: the next ones are numbered as if it never were
            node = self.item(raw, seq.at(i), ns, scope)
            if node is not None:
                out.extend(node.children if node.inline else [node])
        return out

    def _marks(self) -> tuple:
        """How far parsing has come in what an item can add to beyond its own node: names, paths and
        references, problems (a `repeat:` copy that adds none is the first copy moved)."""
        return (len(self.c.problems), len(self.defined), len(self.all_names), len(self.pending_refs),
                len(self.tensor_paths), len(self.block_stack), getattr(self, "_too_deep", False))

    def item(self, raw, loc: Loc, ns: Names, scope: _Scope) -> Node | None:
        depth = len(self.uses)
        try:
            return self._item(raw, loc, ns, scope)
        finally:
            del self.uses[depth:]  # an inline use's expansion ends with the item

    def _item(self, raw, loc: Loc, ns: Names, scope: _Scope) -> Node | None:
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
        name = None
        if "name" in extra:
            nm = extra["name"]
            if not isinstance(nm, str) or not IDENT.match(nm):
                self.err(f"`name:` must be an identifier (letters, digits, _), got {_what(nm)}", extra.at("name"))
            elif nm in MODULE_ATTRS:  # add_module would refuse it: "attribute 'forward' already exists"
                self.err(f"`name: {nm}` is an attribute every torch.nn.Module has, so nothing can be registered "
                         f"under it; choose another name (e.g. {nm.strip('_') or 'x'}_1)", extra.at("name"))
            else:
                name = nm
        label = f"{ns.sub(name or str(ns.count))} ({layer_key})"
        if name == OWN_INPUT:
            self.err(f"`name: {OWN_INPUT}` is reserved: in a merge's `from:` it means the merge's own input; choose another name",
                     extra.at("name"))
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
        if layer_key in TENSORS:  # `Parameter:`/`Buffer:` (spec/tensors.py): no module, so it takes no index
            key = ns.claim(name, extra.at("name") if name is not None else loc, self, counted=False)
            path = ns.sub(key)
            label = f"{path} ({layer_key})"
            node = Node(layer_key, key, path, loc, named="name" in extra)  # a refused name is reported once
            self.tensor_item(node, layer_key, value, loc, extra, scope, label)
            if name is None:
                return None  # reported: a tensor is known by its name only
            self.all_names.setdefault(key, extra.at("name"))
            self.defined.append((key, path, loc))
            self.tensor_paths.add(path)
            return node
        copies = repeat > 1 or index is not None
        inline = self.inline_of(extra, layer_key, copies, scope, label)
        splice = inline and (copies or layer_key in self.blocks or registry.canonical(layer_key) in SPLICED)
        renames = splice and name is not None and not copies and layer_key in self.blocks  # its one item's name
        if splice and not self.can_splice(extra, layer_key, renames, label):
            splice = inline = renames = False
        if splice:  # no level of its own: its children register on `ns`, in its place
            key, path = None, ns.path
            inner = OneName(ns, name, extra.at("name"), layer_key) if renames else ns
            self.uses.append((ns, loc))
        else:
            key = ns.claim(name, extra.at("name") if name is not None else loc, self)
            path = ns.sub(key)
            inner = Names(path)
            if name is not None:
                self.all_names.setdefault(key, extra.at("name"))
        label = f"{path or '<network>'} ({layer_key})"
        if copies:  # N independent copies, parsed anew so each has its own paths and names
            one = YMap({k: v for k, v in extra.items() if k not in ("name", "repeat", "if", "inline")})
            one.loc, one.key_locs, one.value_locs = extra.loc, extra.key_locs, extra.value_locs
            node = Node("Sequential", key, path, loc, named=name is not None, inline=splice)

            def copy(i):  # `repeat: {times: N, as: i}`: copy i sees i
                c = self.item(one, loc, inner, _Scope({index: i}, {}, scope) if index else scope)
                return [] if c is None else c.children if c.inline else [c]

            before, failed, marks = self.count, len(self.c.problems), self._marks()
            first = copy(0)
            size = self.count - before
            if size * (repeat - 1) + self.count > MAX_NODES:
                raise SpecError(f"`repeat: {repeat}` of {size} item(s) makes more than {MAX_NODES:,} items",
                                extra.at("repeat"), label)
            if index is None and repeat > 2 and len(self.c.problems) > failed:
                # a copy without an index variable that fails fails alike in every copy: two are parsed, the
                # rest of the problems are told from them (the count and the paths for the message), unparsed
                was, at = len(self.c.problems), inner.count
                second = copy(1)
                rest = _like_copies(self.c.problems[failed:was], self.c.problems[was:], repeat)
                if rest is not None:
                    self.c.problems += rest
                    inner.count += (inner.count - at) * (repeat - 2)
                    self.count += size * (repeat - 2)
                    node.children = first + second
                    return node
                node.children = first + second + [c for i in range(2, repeat) for c in copy(i)]
            elif (index is None and not splice and len(first) == 1 and not first[0].inline and inner.count == 1
                  and self._marks() == marks and not first[0].reads_paths()):
                # the same item again, with nothing named or read by path: each copy as the first parsed, moved
                # (10,000 copies: parsed once); the first copy's problems would be each copy's, so it had none
                self.count += size * (repeat - 1)
                node.children = first + [first[0].moved(k, inner.sub(k)) for k in
                                         [inner.claim(None, loc, self) for _ in range(1, repeat)]]
            else:
                node.children = first + [c for i in range(1, repeat) for c in copy(i)]
            if name is not None:
                self.defined.append((key, path, loc))
            return node

        node = Node("Sequential", key, path, loc, named=name is not None, inline=splice)
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
                if node.tie is not None and not self.check_tie(node.tie, extra.at("tie"), label):
                    node.tie = None
        if "in" in extra:
            self.item_inputs(node, extra, label)

        # the layer key
        if layer_key in self.blocks:
            self.expand_block(node, layer_key, value, loc, inner, scope, label)
        else:
            canon = registry.canonical(layer_key)
            if canon is None:
                self.err(_unknown_layer(layer_key, self.blocks), loc, None)
                return None
            node.type = canon
            label = f"{path or '<network>'} ({canon})"
            if inline and canon not in registry.CONTAINERS:
                self.err(f"`inline:` is for an item that holds items (Sequential, a block, `repeat:`, Residual, "
                         f"Concat, Add, Multiply); {canon} holds none", extra.at("inline"), label)
            if canon == "Sequential":
                if not isinstance(value, YList) or not value:
                    self.err("`Sequential:` takes a non-empty list of items", loc, label)
                else:
                    node.children = self.items(value, inner, scope)
            elif canon == "Residual":
                self.residual(node, value, loc, inner, inline, scope, label)
            elif canon in ("Concat", "Add", "Multiply"):
                self.merge(node, value, loc, inner, inline, scope, label)
            else:
                self.layer_args(node, value, loc, scope, label)
        self.check_inputs(node, extra.at("in") if "in" in extra else loc, label)
        if "out" in extra:
            self.item_outputs(node, extra, label)
        if name is not None and not splice:
            self.defined.append((key, path, loc))
        if renames and len(node.children) == 1:
            node.children[0].named = True
            self.all_names.setdefault(name, extra.at("name"))
            self.defined.append((name, node.children[0].path, loc))
        return node

    def inline_of(self, extra: YMap, layer_key: str, copies: bool, scope: _Scope, label: str) -> bool:
        """The item's `inline:`; without one, a block's own (for a use, not for `repeat:` copies)."""
        if "inline" not in extra:
            return not copies and layer_key in self.blocks and self.blocks[layer_key][4]
        v = self.subst(extra["inline"], extra.at("inline"), scope, label)
        if type(v) is not bool:
            if v is not BAD:
                self.err(f"`inline:` must be true or false, got {_what(v)}", extra.at("inline"), label)
            return False
        return v

    def can_splice(self, extra: YMap, layer_key: str, renames: bool, label: str) -> bool:
        """An item without a level of its own has no module to name (but a block's one item), freeze, init or tie."""
        own = [k for k in ("name", "freeze", "init", "tie") if k in extra and not (k == "name" and renames)]
        if not own:
            return True
        k = own[0]
        why = ("`inline: true`" if "inline" in extra else
               f"block '{layer_key}' is inline (its items take its place)")
        self.err(f"{why}: the item has no module of its own, so it cannot take `{k}:`; "
                 + ("name the items inside it, or drop `inline:`" if k == "name" else f"put `{k}:` on the items inside it"),
                 extra.key_locs.get(k, extra.loc), label)
        return False

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

    def resolve_ref(self, ref: str, loc: Loc, label: str) -> str | None:
        for key, path, _ in reversed(self.defined):
            if path == ref:
                return path
        for key, path, _ in reversed(self.defined):
            if key == ref:
                return path
        self.pending_refs.append((ref, loc, label))
        return None

    def expand_block(self, node: Node, bname: str, value, loc: Loc, ns: Names, scope: _Scope, label: str) -> None:
        defaults, plocs, layers, bloc, _inline = self.blocks[bname]
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
            node.children = self.items(layers, ns, inner)
        finally:
            self.block_stack.pop()
        node.block_args = {k: v for k, v in inner.values.items() if v is not BAD}
        one = node.children[0] if len(node.children) == 1 else None
        if node.inline and one is not None and one.is_container and one.block is None:
            one.block, one.block_args = bname, node.block_args  # an inline block of one container is that container


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


_NUMBER = re.compile(r"(\d+)")


def _like_copies(p0: list, p1: list, repeat: int) -> list | None:
    """The problems of copies 2 .. repeat-1 of a `repeat:` whose copies 0 and 1 had `p0` and `p1`: the same
    messages at the same places, each layer path differing in one index that steps by the same amount; None
    where the two copies differ otherwise (then every copy is parsed)."""
    if len(p0) != len(p1):
        return None
    steps = []
    for a, b in zip(p0, p1):
        if (a.message, a.loc) != (b.message, b.loc) or (a.layer is None) != (b.layer is None):
            return None
        if a.layer == b.layer:
            steps.append(None)
            continue
        pa, pb = _NUMBER.split(a.layer), _NUMBER.split(b.layer)
        differ = [i for i, (x, y) in enumerate(zip(pa, pb)) if x != y]
        if len(pa) != len(pb) or len(differ) != 1 or differ[0] % 2 == 0 or int(pb[differ[0]]) <= int(pa[differ[0]]):
            return None
        steps.append((pa, differ[0], int(pa[differ[0]]), int(pb[differ[0]]) - int(pa[differ[0]])))
    out = []
    for i in range(2, repeat):
        for a, st in zip(p0, steps):
            if st is None:
                out.append(a)
            else:
                parts, k, start, step = st
                out.append(type(a)(a.message, a.loc, "".join(parts[:k] + [str(start + step * i)] + parts[k + 1:])))
    return out

