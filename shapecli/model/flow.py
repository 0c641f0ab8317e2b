"""Data flow between items: the tape of named tensors, and the Chain that feeds and fills it.

A spec's named inputs (`input: {src: ..., tgt: ...}`), the outputs of items that a later `from:` or
`in:` reads, and the elements an item's `out:` names all live on one tape, a dict keyed as
spec/nodes.py says (an item's path, `:src`, `path:1`). The Network writes its named inputs on it
and empties it before and after each call; each Chain writes its items' outputs and gives an item
with `in:` the tensors it names, positionally or by keyword, as a hand-written forward would.
"""
from __future__ import annotations

import inspect
from collections import OrderedDict

from shapecli import layers as registry
from shapecli._torch import nn
from shapecli.errors import Collector, ShapeError, did_you_mean, literal
from shapecli.model import owned as _owned
from shapecli.model.calls import forward_of
from shapecli.model.owned import LazySave
from shapecli.model.tape import read_feed, write_saves
from shapecli.spec.nodes import OWN_INPUT, Node, input_key, output_key


class Chain(LazySave, nn.Sequential):
    """A Sequential whose items may read named tensors (`in:`) and whose outputs may be read later,
    and which owns the tensors its `Parameter:`/`Buffer:` items declare (model/owned.py)."""

    def __init__(self, items: OrderedDict[str, nn.Module], saves: dict, tape: dict, feeds: dict | None = None,
                 owned: tuple = ()):
        super().__init__(items)
        self.saves = {k: list(v) for k, v in saves.items()}  # child name -> [(tape key, element index or None)]
        self.feeds = dict(feeds or {})  # child name -> ([tape key or None], {keyword: tape key or None})
        self._tape = tape  # shared with the merges and chains that read it
        self.where: dict = {}  # child name -> (Loc, label) of an item with `out:`, for its errors
        self.owned_at: dict = {}  # child index -> [owned.Owned] declared before it (len: after the last)
        for o in owned:
            self.owned_at.setdefault(o.at, []).append(o)
        self._build = self._load = None  # while a tensor it owns is unbuilt: the BuildContext, the load hook
        if owned:
            _owned.register(self, list(owned))
            self._load = self.register_load_state_dict_pre_hook(_owned.load_hook)

    def reach(self, i: int, x) -> None:
        for o in self.owned_at[i]:
            _owned.reach(self, o, x, self._tape, self._build)
        if self._build is not None and not _owned.pending(self):
            self._build = None  # built: the model keeps no reference to the build, nor a hook
            self._load.remove()
            self._load = None

    def forward(self, *xs):
        x, at = None, self.owned_at
        for i, (name, m) in enumerate(self._modules.items()):
            if at and i in at:
                self.reach(i, x if i else xs[0])
            feed = self.feeds.get(name)
            if feed is None:
                x = forward_of(m)(*xs) if i == 0 else forward_of(m)(x)
            else:
                own = (xs[0] if len(xs) == 1 else None) if i == 0 else x
                if i == 0 and len(xs) != 1 and (None in feed[0] or None in feed[1].values()):
                    raise ShapeError(f"`in:` reads `{OWN_INPUT}`, the item's own input, but it is the first item "
                                     f"and gets {len(xs)} tensors; name the inputs and read them by name")
                args, kw = read_feed(feed, own, self._tape, self.where.get(name))
                x = m(*args, **kw)
            saves = self.saves.get(name)
            if saves:
                write_saves(saves, x, self._tape, self.where.get(name))
        if at and len(self._modules) in at:
            self.reach(len(self._modules), x if self._modules else xs[0])
        return x


class Network(Chain):
    """The root: a Chain whose first item gets all inputs; named inputs go on the tape first."""

    def __init__(self, items, saves: dict, tape: dict, feeds: dict | None = None, input_names: tuple = (),
                 owned: tuple = ()):
        super().__init__(items, saves, tape, feeds, owned)
        self.input_names = tuple(input_names)  # the spec's, None for an unnamed input

    def forward(self, *xs):
        tape = self._tape
        tape.clear()
        try:
            for name, x in zip(self.input_names, xs):
                if name:
                    tape[input_key(name)] = x
            return super().forward(*xs)
        finally:
            tape.clear()  # the model holds no activations between calls


def locate_outputs(chain: nn.Module, node: Node) -> None:
    """The places of the items with `out:` or `in:` among a container's children (a Chain's, a Residual's or
    a merge's parts), for the errors reading and writing the tape may give."""
    chain.where = {c.key: (c.loc, c.label()) for c in node.children if c.outs or c.ins is not None}


def wiring(spec) -> tuple:
    """(saves, feeds) per container path: what each Chain writes on the tape and what its items read."""
    # the tape keys read anywhere; `reads` makes lists, so only for the items that read (from:/in:)
    read = {k for node in spec.nodes() if node.refs or node.ins or node.in_kw for k in node.reads}
    saves: dict = {}
    feeds: dict = {}
    for node in spec.nodes():
        for c in node.children:
            if not read:  # nothing reads the tape: nothing to save (a spec without `from:`/`in:`)
                s = None
            else:
                s = [(c.path, None)] if c.path in read else []
                s += [(output_key(c.path, i), i) for i, _ in c.outs if output_key(c.path, i) in read]
            if s:
                saves.setdefault(node.path, {})[c.key] = s
            if c.ins is not None:
                pos, kw = feed_of(c)
                feeds.setdefault(node.path, {})[c.key] = (
                    [None if k == OWN_INPUT else k for k in pos], {a: None if k == OWN_INPUT else k for a, k in kw.items()})
    return saves, feeds


def feed_of(node: Node) -> tuple:
    """([tape key], {keyword: tape key}) an item with `in:` is called with: in `in: {query: x, key: m,
    value: m, attn_mask: a}` the data tensors go positionally, as the record counts them; masks stay keywords."""
    pos, kw = list(node.ins or []), dict(node.in_kw)
    if kw and not node.is_container:
        lt = registry.get(node.type)
        names = _forward_names(registry.cls(node.type))[:max(lt.inputs, lt.max_inputs)]
        while len(pos) < len(names) and names[len(pos)] in kw:
            pos.append(kw.pop(names[len(pos)]))
    return pos, kw


def _forward_names(cls: type) -> list:
    """The forward's argument names, in order (self left out); [] when it takes *args."""
    try:
        params = [p for p in inspect.signature(cls.forward).parameters.values() if p.name != "self"]
    except (TypeError, ValueError):  # pragma: no cover - every torch.nn forward has a signature
        return []
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return []
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


# ---------------------------------------------------------------------------- checked before building

def forward_problems(node: Node, cls: type, c: Collector) -> None:
    """`in: {name: tensor}` names the layer's forward arguments; too many positional tensors are refused."""
    if node.ins is None:
        return
    label = node.label()
    names = _forward_names(cls)
    if not names:
        return
    lt = registry.get(node.type)
    most = max(lt.max_inputs, lt.inputs)
    if len(node.ins) > most:
        c.add(f"{node.type} takes at most {most} input tensor{'s' if most > 1 else ''} positionally "
              f"({', '.join(names[:most])}); `in:` gives {len(node.ins)}", node.loc, label)
    for k in node.in_kw:
        loc = node.arg_locs.get("in:" + k, node.loc)
        if k not in names:
            c.add(f"{node.type}'s forward has no argument '{literal(k)}'{did_you_mean(k, names)}; "
                  f"it takes {', '.join(names)}", loc, label)
        elif names.index(k) < len(node.ins):
            c.add(f"`in:` gives {k} twice (positionally and by name)", loc, label)
