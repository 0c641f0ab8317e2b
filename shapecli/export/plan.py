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

from shapecli.errors import ShapeCliError
from shapecli.export.pyfmt import class_name, identifier
from shapecli.spec.initschemes import scheme_for

# Glue layers without parameters: written as plain code in forward(), no module.
INLINE = ("Item", "Select", "Permute", "Transpose", "Reshape", "Mean")
# Glue layers with parameters: a parameter on a plain nn.Module (the name stays), code in forward().
PARAM_GLUE = ("ClassToken", "PositionalEmbedding")
# Arguments that only the forward uses: part of a class's structure, never a constructor parameter.
FORWARD_ARGS = {"SelfAttention": ("causal",)}
# Layers whose default initialization draws nothing from the RNG (ones, zeros, constants).
NO_DRAW = ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "GroupNorm", "RMSNorm", "InstanceNorm1d",
           "InstanceNorm2d", "InstanceNorm3d", "PReLU", "ClassToken")
DRAWING_SCHEMES = ("kaiming_uniform", "kaiming_normal", "xavier_uniform", "xavier_normal", "normal",
                   "trunc_normal", "uniform", "orthogonal")
CONTAINERS = ("Sequential", "Residual", "Concat", "Add", "Multiply")


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
        self.refs = {r for n in spec.nodes() for r in n.refs}
        self.params_of: dict = {}  # layer path -> [(local name, ndim)]
        for p in report.params:
            if p.layer:
                self.params_of.setdefault(p.layer, []).append((p.name[len(p.layer) + 1:], len(p.shape)))
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

    # -- what a node is
    def is_block(self, node) -> bool:
        return node.block is not None and node is not self.spec.root

    def callable(self, node, root) -> bool:
        """Its whole forward is one call of its module (a torch layer, a block's class, an nn.Sequential)."""
        if self.is_block(node) and node is not root:
            return True
        if not node.is_container:
            return node.type not in INLINE + PARAM_GLUE + ("SelfAttention",)
        if node.type != "Sequential":
            return False
        return all(self.callable(c, root) and c.path not in self.refs for c in node.children)

    def has_module(self, node, root) -> bool:
        if not node.is_container or (self.is_block(node) and node is not root):
            return node.type not in INLINE
        return any(self.has_module(c, root) for c in node.children)

    def draws(self, node, root) -> bool:
        """Constructing it (with its init schemes) draws from the RNG."""
        if node.is_container:
            return any(self.draws(c, root) for c in node.children)
        return (bool(self.params_of.get(node.path)) and node.type not in NO_DRAW) or self.scheme_draws(node)

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
            fwd = FORWARD_ARGS.get(node.type, tuple(args) if node.type in INLINE else ())
            return ("L", rel, node.type, tuple(k for k in args if k not in fwd),
                    tuple((k, json.dumps(args.get(k))) for k in fwd),
                    tuple((n, s.describe()) for n, s in self.schemes.get(node.path, [])),
                    node.path in self.refs)
        refs = tuple(self.rel_ref(r, root) for r in node.refs)
        return ("C", rel, node.type, node.dim, refs, node.path in self.refs and node is not root,
                tuple(self._sig(c, root) for c in node.children))

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
            fwd = FORWARD_ARGS.get(n.type, tuple(self.args(n)) if n.type in INLINE else ())
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


def _digit_keys(seq) -> bool:
    return all(c.key == str(i) for i, c in enumerate(seq.children))


def _seqs(node, plan=None, root=None) -> list:
    """The nn.Sequential containers one expression for `node` writes (block instances stop the walk)."""
    if not node.is_container or node.type != "Sequential" or (plan is not None and plan.is_block(node) and node is not root):
        return []
    return [node] + [s for c in node.children for s in _seqs(c, plan, root)]
