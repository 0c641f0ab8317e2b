"""The Spec's data: the dataclasses the parser produces, and the language's fixed words and limits (no torch)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from shapecli import dtypes
from shapecli import layers as registry
from shapecli.errors import Loc
from shapecli.spec.dims import Dim  # noqa: F401  (Dim: part of the Spec's data)

# The layer budget (docs/reliability.md), checked while the spec is parsed, before any work: at
# about 1 ms and 20 KB per layer today, 50,000 items take under a minute and ~1 GiB at most, and
# their baseline (~21 MB) stays under the one baseline size limit (baseline/document.MAX_BYTES).
# bench/run.py's 10,000-block case is 30,001 items; GPT-3's 96 blocks are ~1,000.
MAX_NODES = 50_000  # items after expanding blocks and repeat
MAX_REPEAT = MAX_NODES
MAX_VAR_DEPTH = 50  # variables defined through other variables, this many deep
MAX_INT = 1 << 40  # no layer size or dimension is larger; catches typos before any allocation
RESERVED = ("name", "repeat", "freeze", "init", "tie", "if", "inline", "in", "out")
TOP_KEYS = ("name", "input", "vars", "init", "blocks", "layers")
DTYPES = dtypes.INPUT  # the dtypes an input may have (the table: shapecli/dtypes.py)
OWN_INPUT = "input"  # in a merge's `from:`, the merge's own input, where the list puts it
TENSORS = ("Parameter", "Buffer")  # items that declare a tensor their container owns (spec/tensors.py)
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def input_key(name: str) -> str:
    """The tape key of a named model input (`input: {src: ...}`): no item path has a ':'."""
    return ":" + name


def output_key(path: str, i: int) -> str:
    """The tape key of output `i` of the item at `path` (`out: [y, h]`)."""
    return f"{path}:{i}"


def is_tensor_key(key: str) -> bool:
    """A named input or one of an item's `out:` outputs, not an item's path."""
    return ":" in key


@dataclass
class InputSpec:
    dims: list  # [Dim]
    dtype: str = "float32"
    name: str | None = None  # `input: {src: [2, 7], tgt: [2, 5]}`: items read it with `in: src`

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
    parts: list = field(default_factory=list)  # Residual: [body, shortcut, after]; a merge: its branches; each a list of child keys
    dim: int = 1  # Concat's dim
    ins: list | None = None  # `in: [a, b]`: tape keys (or OWN_INPUT) given positionally; None: the previous output
    in_kw: dict = field(default_factory=dict)  # `in: {query: a, key_padding_mask: pad}`: keyword -> tape key
    outs: list = field(default_factory=list)  # `out: [y, h]`: [(index, name)] of its tuple output's elements
    block: str | None = None  # the block this Sequential was expanded from
    block_args: dict = field(default_factory=dict)  # that block's parameters as resolved here (those used)
    inline: bool = False  # while parsing: an `inline:` item whose children take its place (never in a Spec)
    tensor: object = None  # a Parameter/Buffer item's spec.tensors.TensorDecl

    @property
    def is_container(self) -> bool:
        return self.type in registry.CONTAINERS

    @property
    def reads(self) -> list:
        """Every tape key it reads: `from:` outputs, then `in:` tensors (OWN_INPUT left out)."""
        return [r for r in [*self.refs, *(self.ins or []), *self.in_kw.values()] if r != OWN_INPUT]

    @property
    def is_tensor(self) -> bool:
        """A `Parameter:`/`Buffer:` item: a tensor its container registers, not a module."""
        return self.type in TENSORS

    def walk(self):
        """This node and every node under it, in pre-order (a stack, not a tower of generators: each node is
        handed up once, not once per level; 30,001 items)."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            if node.children:
                stack.extend(reversed(node.children))

    def moved(self, key: str, path: str) -> Node:
        """This node and its subtree as they parse at `path`, under `key`: a `repeat:` copy that reads no
        path (no `from:`, `in:`, `out:`, `tie:` or tensor under it; spec/items.py checks) differs from the
        first copy only there. Each copy has containers of its own; their values are shared, as parsing
        made them (never changed after it)."""
        cut = len(self.path)
        clone = object.__new__(Node)
        state = clone.__dict__
        state.update(self.__dict__)
        state.update(key=key, path=path, args=list(self.args), kwargs=dict(self.kwargs), arg_locs=dict(self.arg_locs),
                     init=dict(self.init), parts=[list(p) for p in self.parts] if self.parts else [],
                     block_args=dict(self.block_args), refs=list(self.refs), in_kw=dict(self.in_kw), outs=list(self.outs),
                     ins=None if self.ins is None else list(self.ins),
                     children=[c.moved(c.key, path + c.path[cut:]) for c in self.children] if self.children else [])
        return clone

    def reads_paths(self) -> bool:
        """Whether it or an item under it reads or names a path beyond its own (what moved() leaves as it is)."""
        return any(n.tie or n.refs or n.ins or n.in_kw or n.outs or n.tensor is not None for n in self.walk())

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
    sets: dict = field(default_factory=dict)  # the `--set` values it was parsed with

    def nodes(self):
        return self.root.walk()
