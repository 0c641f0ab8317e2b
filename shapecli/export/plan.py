"""What the exported file holds: one class per distinct use of a block, the values each class takes.

The tree is the spec's (so parameter names are the spec model's), read together with the Report
of a materialized run: `LayerInfo.args` is what each layer was built with, inferred sizes included.
Instances of one block share a class when they have the same structure (layer types, argument
names, init schemes, `from:` references); the sizes that differ between them become the class's
constructor parameters, named after the block's parameter of the same values where there is one.
No torch here.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from shapecli import layers as registry
from shapecli.errors import ShapeCliError
from shapecli.export.gluecode import ALL, RULES, GlueCode
from shapecli.export.pyfmt import class_name, identifier
from shapecli.layers.record import NOT_EXPORTED, TORCH_MODULE
from shapecli.names import local_name
from shapecli.spec.initschemes import scheme_for
from shapecli.spec.tensors import KEYS as TENSOR_KEYS

# Init schemes that draw from the RNG (the others set constants).
DRAWING_SCHEMES = ("kaiming_uniform", "kaiming_normal", "xavier_uniform", "xavier_normal", "normal",
                   "trunc_normal", "uniform", "orthogonal")

class ExportError(ShapeCliError):
    """The spec uses something the exporter cannot write as plain PyTorch yet."""


@dataclass
class Scope:
    """One generated class: a block's instances of one structure, or the whole model."""

    name: str
    block: str | None
    instances: list  # [Node]: the roots of its instances (the model: the spec's root)
    params: list = field(default_factory=list)  # [(name, values across the instances)]
    by_values: dict = field(default_factory=dict)  # json of the values -> param name

    @property
    def root(self):
        return self.instances[0]


class Plan:
    def __init__(self, spec, report, model_name: str | None = None):
        self.spec = spec
        self.layers = {lay.path: lay for lay in report.layers}
        self.refs = {r for n in spec.nodes() for r in n.reads}  # what a later `from:` or `in:` reads
        self.params_of: dict = {}  # layer path -> [(local name, ndim)]
        for p in report.params:
            if p.layer:
                self.params_of.setdefault(p.layer, []).append((local_name(p.name, p.layer), len(p.shape)))
        self.schemes: dict = {}  # leaf path -> [(local name, InitScheme)] that are not "default"
        self._inherit(spec.root, spec.init)
        self.scopes: list = []  # in dependency order: a class before the classes that use it
        self._by_sig: dict = {}
        self.scope_of: dict = {}  # id(instance root) -> Scope
        self.model = Scope(model_name or class_name(spec.name), None, [spec.root])
        self._collect(spec.root)
        taken = {s.name for s in self.scopes}
        while self.model.name in taken:
            self.model.name += "Model"
        self.scopes.append(self.model)
        for s in self.scopes:
            self._parameterize(s)
        self._check_order(report)

    # -- init schemes, as model/lazy.py applies them
    def _inherit(self, node, inherited: dict) -> None:
        if node.is_tensor:  # its scheme is its declaration's (export/tensors.py writes it)
            self.schemes[node.path] = []
            return
        if node.is_container:
            for c in node.children:
                self._inherit(c, {**inherited, **node.init})
            return
        chosen = []
        for local, ndim in self.params_of.get(node.path, []):
            s = scheme_for(local, node.init, ndim=ndim, own=True) or scheme_for(local, inherited, ndim=ndim, own=False)
            if s is not None and s.name != "default":
                chosen.append((local, s))
        self.schemes[node.path] = chosen

    # -- what a node is (a leaf: its record's `export` and `init_draws`)
    @staticmethod
    def glue(node) -> GlueCode | None:
        """How export writes a layer leaf: a glue rule (export/gluecode.py), None for a torch.nn module's call."""
        rule = registry.get(node.type).export
        if rule == TORCH_MODULE:
            return None
        if rule == NOT_EXPORTED or rule not in RULES:
            raise ExportError(f"{node.label()}: {node.type} is a layer type registered at run time; export writes "
                              "torch.nn layers and shapecli's own, not other classes")
        return RULES[rule]

    def inline(self, node) -> bool:
        """A leaf written as code in forward(), with no module of its own (owned tensors included)."""
        if node.is_tensor:
            return True
        g = self.glue(node)
        return g is not None and g.inline

    def forward_args(self, node) -> tuple:
        """A leaf's arguments that only its forward (or its tensor's declaration) uses."""
        if node.is_tensor:  # written from its declaration (export/tensors.py), never a constructor parameter
            return TENSOR_KEYS[node.tensor.kind]
        g = self.glue(node)
        if g is None:
            return ()
        return tuple(self.args(node)) if g.forward_args == ALL else g.forward_args

    def is_block(self, node) -> bool:
        return node.block is not None and node is not self.spec.root

    def callable(self, node, root) -> bool:
        """Its whole forward is one call of its module (a torch layer, a block's class, an nn.Sequential)."""
        if self.is_block(node) and node is not root:
            return True
        if not node.is_container:
            return not node.is_tensor and self.glue(node) is None
        if node.type != "Sequential":
            return False
        return all(self.callable(c, root) and c.path not in self.refs and c.ins is None and not c.outs
                   for c in node.children)

    def has_module(self, node, root) -> bool:
        if not node.is_container or (self.is_block(node) and node is not root):
            return node.is_container or not self.inline(node)
        return any(self.has_module(c, root) for c in node.children)

    def draws(self, node, root) -> bool:
        """Constructing it (with its init schemes) draws from the RNG."""
        if node.is_container:
            return any(self.draws(c, root) for c in node.children)
        if node.is_tensor:
            return node.tensor.init is not None and node.tensor.init.name in DRAWING_SCHEMES
        return (bool(self.params_of.get(node.path)) and bool(registry.get(node.type).init_draws)) or \
            self.scheme_draws(node)

    def scheme_draws(self, node) -> bool:
        return any(s.name in DRAWING_SCHEMES for _, s in self.schemes.get(node.path, []))

    def members(self, node, root) -> list:
        """The leaves and block instances one expression for `node` constructs, in order."""
        if not node.is_container or (self.is_block(node) and node is not root):
            return [node]
        return [m for c in node.children for m in self.members(c, root)]

    def atomic(self, node, root) -> bool:
        """One expression builds it with the spec's RNG order: init schemes may follow the expression
        when at most one of its members draws, or when none of its schemes draws."""
        ms = self.members(node, root)
        if not all(_digit_keys(s) for s in _seqs(node, self, root)):
            return False
        if not any(self.scheme_draws(m) for m in ms if not m.is_container):
            return True
        return sum(self.draws(m, root) for m in ms) <= 1

    def args(self, node) -> dict:
        return dict(self.layers[node.path].args) if node.path in self.layers else {}

    # -- classes
    def rel(self, node, root) -> str:
        return node.path[len(root.path) + 1:] if root.path else node.path

    def _sig(self, node, root):
        rel = self.rel(node, root) if node is not root else ""
        if node is not root and self.is_block(node):
            return ("B", rel, self.scope_of[id(node)].name)
        if not node.is_container:
            args = self.args(node)
            fwd = self.forward_args(node)
            return ("L", rel, node.type, tuple(k for k in args if k not in fwd),
                    tuple((k, json.dumps(args.get(k))) for k in fwd),
                    tuple((n, s.describe()) for n, s in self.schemes.get(node.path, [])),
                    node.path in self.refs, self._flow(node, root))
        refs = tuple(self.rel_ref(r, root) for r in node.refs)
        return ("C", rel, node.type, node.dim, refs, node.path in self.refs and node is not root,
                self._flow(node, root), tuple(self._sig(c, root) for c in node.children),
                tuple(map(tuple, node.parts)))

    def _flow(self, node, root) -> tuple:
        """What `in:` and `out:` make of a node, in the terms of the class it is written in."""
        ins = None if node.ins is None else tuple(self.rel_ref(r, root) for r in node.ins)
        return (ins, tuple((k, self.rel_ref(r, root)) for k, r in node.in_kw.items()), tuple(node.outs))

    def rel_ref(self, ref: str, root) -> str:
        if not root.path:
            return ref
        return ref[len(root.path) + 1:] if ref.startswith(root.path + ".") else "/" + ref

    def _collect(self, node) -> None:
        for c in node.children:
            self._collect(c)
        if not self.is_block(node):
            return
        sig = repr(self._sig(node, node))
        scope = self._by_sig.get((node.block, sig))
        if scope is None:
            base = class_name(node.block)
            name, i = base, 2
            while any(s.name == name for s in self.scopes):
                name, i = f"{base}{i}", i + 1
            scope = Scope(name, node.block, [])
            self._by_sig[(node.block, sig)] = scope
            self.scopes.append(scope)
        scope.instances.append(node)
        self.scope_of[id(node)] = scope

    def slots(self, root) -> list:
        """[(relative path, argument)] of every constructor value in an instance, nested blocks included."""
        out = []
        for n in root.walk():
            if n.is_container:
                continue
            fwd = self.forward_args(n)
            out += [(self.rel(n, root), k) for k in self.args(n) if k not in fwd]
        return out

    def value(self, inst, rel: str, arg: str):
        return self.args(self.node_at(inst, rel))[arg]

    def node_at(self, inst, rel: str):
        path = f"{inst.path}.{rel}" if inst.path and rel else (rel or inst.path)
        return self._nodes()[path]

    def _nodes(self) -> dict:
        if not hasattr(self, "_node_map"):
            self._node_map = {n.path: n for n in self.spec.nodes()}
        return self._node_map

    def _parameterize(self, scope: Scope) -> None:
        taken = {"self", "x"}
        block_params = list(scope.root.block_args) if scope.block else []
        for rel, arg in self.slots(scope.root):
            values = [self.value(inst, rel, arg) for inst in scope.instances]
            key = json.dumps(values)
            if all(v == values[0] for v in values) or key in scope.by_values:
                continue
            name = next((k for k in block_params
                         if [inst.block_args.get(k, object()) for inst in scope.instances] == values), arg)
            base, i = name, 2
            while name in taken or not identifier(name):
                name, i = f"{base}_{i}", i + 1
            taken.add(name)
            scope.params.append((name, values))
            scope.by_values[key] = name

    def text_of(self, scope: Scope, rel: str, arg: str):
        """The constructor parameter that carries this value in `scope`, or None when it is a constant."""
        values = [self.value(inst, rel, arg) for inst in scope.instances]
        if all(v == values[0] for v in values):
            return None
        return scope.by_values[json.dumps(values)]

    def _check_order(self, report) -> None:
        built = [t["layer"] for t in report.init_trace]
        leaves = [n.path for n in self.spec.nodes() if not n.is_container and n.path in set(built)]
        if built != leaves:
            raise ExportError("the layers were materialized in an order other than the module order; "
                              "export cannot reproduce their initial values")


def parts(node) -> list:
    """A Residual's or merge's parts (docs/spec.md), each the child Nodes it runs in order."""
    kids = {c.key: c for c in node.children}
    return [[kids[k] for k in part] for part in node.parts]


def _digit_keys(seq) -> bool:
    return all(c.key == str(i) for i, c in enumerate(seq.children))


def _seqs(node, plan=None, root=None) -> list:
    """The nn.Sequential containers one expression for `node` writes (block instances stop the walk)."""
    if not node.is_container or node.type != "Sequential" or (plan is not None and plan.is_block(node) and node is not root):
        return []
    return [node] + [s for c in node.children for s in _seqs(c, plan, root)]
