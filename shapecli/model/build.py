"""Build: a Spec becomes its lazy model, a Network of Chains, glue layers and `Deferred` placeholders
(model/lazy.py), every placeholder's arguments bound to its constructor first (model/args.py)."""
from __future__ import annotations

from collections import OrderedDict

from shapecli._torch import nn
from shapecli.errors import SpecError
from shapecli.layers import CONTAINERS
from shapecli.model import glue
from shapecli.model.args import bind_all
from shapecli.model.context import BuildContext
from shapecli.model.flow import Chain, Network, locate_outputs, wiring
from shapecli.model.fresh import module_state
from shapecli.model.lazy import Deferred, _Finalize
from shapecli.model.owned import Owned
from shapecli.model.placeholder import declare
from shapecli.spec.nodes import OWN_INPUT, Node, Spec


def build(spec: Spec, ctx: BuildContext | None = None) -> Network:
    """The lazy model for a spec (no parameters exist until the first input arrives)."""
    bound = bind_all(spec)
    ctx = ctx or BuildContext()

    saves, feeds = wiring(spec)  # what each Chain keeps on the tape for a later `from:`/`in:`, and what it reads
    tensors: dict = {}  # "paths": the Parameter:/Buffer: items' paths, which a merge's `from:` may name (tensor_refs)
    chains: list = []  # the Chains that own tensors get the build until those are built

    def owned(node: Node, freeze: bool) -> tuple:  # its Parameter/Buffer items, each before the module it precedes
        out, at = [], 0
        for c in node.children:
            if c.is_tensor:
                out.append(Owned(c.key, c.path, at, c.tensor, freeze or c.freeze, c.loc))
            else:
                at += 1
        return tuple(out)

    def parts_of(node: Node) -> list:
        if any(c.is_tensor for c in node.children):
            raise SpecError(f"{node.label()}: a Parameter:/Buffer: item cannot sit in a {node.type}'s parts; "
                            f"declare it in the Sequential that holds the {node.type}", node.loc)
        return node.parts


    def tensor_refs(node: Node) -> set:  # the tensors a merge reads: the spec walked once, for the first merge
        if "paths" not in tensors:
            tensors["paths"] = {n.path for n in spec.nodes() if n.is_tensor}
        return tensors["paths"] & set(node.refs)

    def make(node: Node, inherited: dict, freeze: bool) -> nn.Module:
        try:
            m = _make(node, inherited, freeze)
        except KeyError as e:  # add_module/register_parameter: a name the spec's parser did not know is taken
            if not _refused_name(e):
                raise
            raise _taken(e, node) from None
        for key, child in m._modules.items():  # where each placeholder sits, for finalize
            if type(child) is Deferred:
                ctx.slots.append((m, key, child))
        return m

    def _make(node: Node, inherited: dict, freeze: bool) -> nn.Module:
        freeze = freeze or node.freeze
        if not node.children and node.type not in CONTAINERS:  # a layer (most items): its placeholder, at once
            return Deferred(node, bound[node.path], ctx, inherited, freeze)
        under = {**inherited, **node.init} if node.init else inherited  # read only, by every placeholder under it
        kids = [(c.key, make(c, under, freeze)) for c in node.children if not c.is_tensor]
        if node.type == "Sequential":
            keep, feed, own = saves.get(node.path, {}), feeds.get(node.path, {}), owned(node, freeze)
            if not (keep or feed or own):
                return _sequential(kids)
            chain = Chain(OrderedDict(kids), keep, ctx.tape, feed, own)
            locate_outputs(chain, node)
            chains.append(chain)
            return chain
        if node.type == "Residual":
            parts = glue.Residual(OrderedDict(kids), parts_of(node), saves.get(node.path, {}), ctx.tape,
                                  feeds.get(node.path, {}))
        elif node.type == "Concat":
            parts = glue.Concat(OrderedDict(kids), parts_of(node), _operands(node), saves.get(node.path, {}), ctx.tape,
                                feeds.get(node.path, {}), dim=node.dim, tensors=tensor_refs(node))
        elif node.type in ("Add", "Multiply"):
            parts = getattr(glue, node.type)(OrderedDict(kids), parts_of(node), _operands(node), saves.get(node.path, {}),
                                             ctx.tape, feeds.get(node.path, {}), tensor_refs(node))
        else:
            return Deferred(node, bound[node.path], ctx, inherited, freeze)
        locate_outputs(parts, node)  # its parts' `in:`/`out:` errors name the item
        return parts

    kids = OrderedDict((c.key, make(c, spec.init, False)) for c in spec.root.children if not c.is_tensor)
    try:
        root = Network(kids, saves.get("", {}), ctx.tape, feeds.get("", {}), [i.name for i in spec.inputs],
                       owned(spec.root, False))
    except KeyError as e:
        if not _refused_name(e):
            raise
        raise _taken(e, spec.root) from None
    for key, child in root._modules.items():
        if type(child) is Deferred:
            ctx.slots.append((root, key, child))
    locate_outputs(root, spec.root)
    chains.append(root)
    for chain in chains:
        if chain.owned_at:
            chain._build = ctx
    ctx.root = root
    if ctx.placeholders:  # for a model a user sees before its first input; a run feeds it data at once
        probes: dict = {}  # equal layers share one probe of their parameters' names
        for m in list(root.modules()):
            if isinstance(m, Deferred):
                declare(m, probes, root)
    hook = _Finalize(ctx)
    hook.handles = [root.register_forward_pre_hook(hook.start), root.register_forward_hook(hook)]
    return root


_TAKEN: frozenset = frozenset()  # the attribute names of an nn.Sequential of the installed torch


def _sequential(kids: list) -> nn.Sequential:
    """nn.Sequential(OrderedDict(kids)) without add_module's checks, which the parser has made (names are
    indices or identifiers, unique, none an nn.Module attribute: spec/moduleattrs.py); each check's miss
    through nn.Module.__getattr__ cost ~5 µs a child (10,000 Sequentials: 13 µs each, now 3 µs). A name
    the installed torch takes goes through add_module, whose KeyError build() reports."""
    global _TAKEN
    if not _TAKEN:
        _TAKEN = frozenset(dir(nn.Sequential()))
    for k, _ in kids:
        if k in _TAKEN:
            return nn.Sequential(OrderedDict(kids))
    seq = nn.Sequential.__new__(nn.Sequential)
    seq.__dict__.update(module_state())
    seq._modules.update(kids)
    return seq


def _refused_name(e: KeyError) -> bool:
    """Whether a KeyError is torch's refusal of a name (add_module, register_parameter/buffer), not a bug of ours."""
    return bool(e.args) and isinstance(e.args[0], str) and e.args[0].endswith("already exists")


def _taken(e: KeyError, node: Node) -> SpecError:
    """torch's refusal of a child's or tensor's name ("attribute 'x' already exists") as a spec error."""
    msg = str(e.args[0]) if e.args else "a name is already taken"
    return SpecError(f"{msg}: choose another `name:` for the item", node.loc, node.label())


def _operands(node: Node) -> list:
    """A merge's `from:` paths, None where `input` places the merge's own input."""
    return [None if r == OWN_INPUT else r for r in node.refs]
