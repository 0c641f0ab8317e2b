"""A container's parts: a Residual's body, shortcut and `after:`, a merge's branches (no torch).

A part is a list of items. By default it is a Sequential child of its container (`body`,
`shortcut`, `after`; branches `0`, `1`, ...); with `inline: true` on the container, its items are
registered on the container itself, so that a Residual can hold `conv1`, `bn1`, ..., `downsample`
as torchvision's ResNet blocks do. The container keeps which children form which part (Node.parts).
"""
from __future__ import annotations

from shapecli.errors import Loc, did_you_mean, literal, what
from shapecli.spec.nodes import OWN_INPUT, Node
from shapecli.spec.variables import _Scope
from shapecli.spec.yamlload import YList, YMap

RESIDUAL_PARTS = ("body", "shortcut", "after")


class Names:
    """The keys registered on one module: its path, the next index, and the names taken (where)."""

    def __init__(self, path: str):
        self.path, self.count, self.taken = path, 0, {}

    def claim(self, name: str | None, loc: Loc, p, counted: bool = True) -> str:
        """The next child's key: its `name:`, or its index among the module's children. `p`: the parser
        (its errors, and the inline uses being expanded, so that a clash points at the use). `counted`:
        False for a tensor the module owns (`Parameter:`/`Buffer:`), which is no child and takes no index."""
        key = name if name is not None else str(self.count)
        self.count += counted
        if name is not None:
            use = next((u for ns, u in p.uses if ns is self), None)  # the outermost inline use putting items here
            if name in self.taken:
                first, first_use = self.taken[name]
                at = f"line {first.line}" + (f", from the use at line {first_use.line}" if first_use else "")
                where = f" in layer {self.path}" if self.path else " at the top level"
                p.err(f"two items are named '{name}'{where} (the first at {at}); names must be unique in the module "
                      "that holds them", use or loc)
            self.taken.setdefault(name, (loc, use))
        return key

    def sub(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key


class OneName:
    """Where a named use of an inline block registers its items: the block's one item takes the use's name."""

    def __init__(self, ns: Names, name: str, loc: Loc, block: str):
        self.ns, self.name, self.loc, self.block, self.used = ns, name, loc, block, False
        self.path = ns.path

    def claim(self, name: str | None, loc: Loc, p, counted: bool = True) -> str:
        if self.used:
            p.err(f"block '{self.block}' is inline and holds more than one item, so its use cannot take `name:` "
                f"(name: {self.name}); name the items inside it, or give this use `inline: false`", self.loc)
            return self.ns.claim(name, loc, p, counted)
        self.used = True
        return self.ns.claim(self.name, self.loc, p)

    @property
    def count(self) -> int:
        return self.ns.count

    def sub(self, key: str) -> str:
        return self.ns.sub(key)


class Parts:
    """The parser's container parts (a part of `_Parser`)."""

    def part(self, value, loc: Loc, ns: Names, key: str | None, flat: bool, scope: _Scope, what: str,
             label: str) -> list:
        """The children one part adds to its container (registered on `ns`): a Sequential, or its items."""
        if isinstance(value, (str, YMap)):
            value = YList([value])
            value.loc, value.item_locs = loc, [loc]
        if not isinstance(value, YList) or not value:
            self.err(f"{what} must be a non-empty list of items", loc, label)
            return []
        if flat:
            return self.items(value, ns, scope)
        k = ns.claim(key, loc, self)
        path = ns.sub(k)
        return [Node("Sequential", k, path, loc, children=self.items(value, Names(path), scope))]

    def residual(self, node: Node, value, loc: Loc, ns: Names, flat: bool, scope: _Scope, label: str) -> None:
        if isinstance(value, YList):
            value = {"body": value}
            locs = {"body": loc}
        elif isinstance(value, YMap):
            locs = value.value_locs
            for k in value:
                if k not in RESIDUAL_PARTS:
                    self.err(f"Residual: unknown key '{literal(k)}'{did_you_mean(k, RESIDUAL_PARTS)}; Residual takes "
                             "body: [...], an optional shortcut: [...] and after: [...]", value.key_locs[k], label)
        else:
            self.err("Residual takes a list of items (its body), or {body: [...], shortcut: [...], after: [...]}",
                     loc, label)
            return
        if "body" not in value:
            self.err("Residual needs a `body:` list", loc, label)
            return
        for part in RESIDUAL_PARTS:
            v = value.get(part)
            kids = [] if v is None else self.part(v, locs.get(part, loc), ns, part, flat, scope, f"Residual {part}", label)
            if part != "body" and len(kids) == 1 and not flat and not kids[0].children:
                kids = []  # every item left out by `if:`: an identity shortcut, nothing after
            node.children += kids
            node.parts.append([c.key for c in kids])

    def merge(self, node: Node, value, loc: Loc, ns: Names, flat: bool, scope: _Scope, label: str) -> None:
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
        elif value is None and node.ins is not None and (len(node.ins) > 1 or node.in_kw):  # `- Add:`, `in: [a, b]`
            return  # (a mapping `in:` is reported by check_inputs)
        else:
            self.err(self.merge_usage(kind, node), loc, label)
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
                    kids = self.part(b, branches.at(i), ns, None, flat, scope, f"{kind} branch {i}", label)
                    node.children += kids
                    node.parts.append([c.key for c in kids])
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
        if node.ins is not None and len(node.ins) > 1 and (branches is not None or refs is not None):
            self.err(f"{kind} with `branches:` or `from:` reads one input; `in:` names {len(node.ins)} "
                     f"(to merge them alone, write `- {kind}:` with `in: [...]` and no branches or from)",
                     loc, label)
        if branches is None and refs is None:
            if node.ins is None or len(node.ins) < 2:  # `- Concat: {dim: -1}` with `in: [y, ctx]` merges those
                self.err(f"{kind} needs `branches:` or `from:`, or two or more tensors in `in:`", loc, label)
        elif kind != "Concat" and len(node.parts) + len(node.refs) + unresolved + (
                0 if node.parts or OWN_INPUT in node.refs else 1) < 2:
            self.err(f"{kind} needs at least two inputs (branches, or x and `from:` outputs)", loc, label)


def _what(v) -> str:
    return what(v, null="nothing (null)")
