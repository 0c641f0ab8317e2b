"""The exported file's text: one class per Scope of the Plan, then the model's class.

Modules are constructed in the spec model's materialization order, each followed by its init
schemes, so that with the same seed the values are the spec's; they are registered under the spec
model's names, in its order. Ties and freezing come last, in the model's __init__. Glue layers
become plain code in forward() (export/gluecode.py). Needs torch only to read constructor signatures.
"""
from __future__ import annotations

import inspect
import re

from shapecli import layers as registry
from shapecli.export.forward import ForwardCode
from shapecli.export.plan import ExportError, Plan, Scope, _digit_keys, parts
from shapecli.export.pyfmt import (
    IND,
    Call,
    absolute,
    child,
    identifier,
    lines,
    literal,
    type_name,
    var_name,
)
from shapecli.export.tensors import expanded, tensor_lines
from shapecli.spec.nodes import OWN_INPUT


class Emitter(ForwardCode):
    def __init__(self, plan: Plan, n_inputs: int):
        self.plan, self.n_inputs = plan, n_inputs

    # -- the file
    def file(self, header: str) -> str:
        body = []
        for scope in self.plan.scopes:
            body += ["", ""] + self.class_lines(scope)
        text = "\n".join(body) + "\n"
        imports = []
        if re.search(r"(?<![.\w])torch\.", text):
            imports.append("import torch")
        if "OrderedDict" in text:
            imports.insert(0, "from collections import OrderedDict")
            imports.insert(1, "")
        if re.search(r"(?<![.\w])nn\.", text):
            imports.append("from torch import nn")
        return f'"""{header}"""\n\n' + "\n".join(imports) + "\n" + text

    def class_lines(self, scope: Scope) -> list:
        p, root = self.plan, scope.root
        self.scope = scope
        model = scope is p.model
        kids = [c for c in root.children if p.has_module(c, root)]
        if p.callable(root, root) and _digit_keys(root) and not (model and self.n_inputs > 1):
            base = "nn.Sequential"
        elif any(not identifier(c.key) for c in kids):
            base = "nn.ModuleDict"
        else:
            base = "nn.Module"
        self.base = base
        doc = (f"Block `{scope.block}`" + (f", {len(scope.instances)} uses" if len(scope.instances) > 1 else "")
               + ".") if scope.block else f"{p.spec.name}, exported from {p.spec.file}."
        out = [f"class {scope.name}({base}):", f'{IND}"""{doc}"""', ""]
        args = [(None, "self")] + [(None, f"{name}: {type_name(values)}") for name, values in scope.params]
        out += lines(Call("def __init__", args), IND, "", " -> None:")
        init = []
        kind = "sequential" if base == "nn.Sequential" else "dict"
        if base == "nn.Sequential" and p.atomic(root, root):
            init.append(f"{IND * 2}super().__init__(")
            for c in root.children:
                init += lines(self.expr(c), IND * 3, "", ",", comment=self.comment(c))
            init.append(f"{IND * 2})")
            for i, c in enumerate(root.children):
                init += self.init_lines(c, f"self[{i}]", IND * 2)
        else:
            init.append(f"{IND * 2}super().__init__()")
            for c in root.children:
                init += self.register("self", kind, c, IND * 2)
        if model:
            init += self.ties_and_freezing(IND * 2)
        out += init
        if base != "nn.Sequential":
            out += ["", self.forward_head()]
            self.fresh = set()
            self.captured = {}
            if model:
                self.bind_inputs()
            body: list = []
            for i, c in enumerate(root.children if root.type == "Sequential" else [root]):  # a block may be a Residual
                self.forward(c, "x", body, IND * 2, first=(model and i == 0))
            out += body + [f"{IND * 2}return x"]
        return out

    def forward_head(self) -> str:
        model = self.scope is self.plan.model
        return f"{IND}def forward(self, {', '.join(self.input_vars()) if model else 'x'}):"

    # -- __init__
    def value(self, node, arg: str) -> str:
        root = self.scope.root
        name = self.plan.text_of(self.scope, self.plan.rel(node, root), arg)
        if name is not None:
            return name
        v = self.plan.args(node)[arg]
        if node.type in registry.REGISTRY and arg in _dtype_args(node.type) and isinstance(v, str):
            return f"torch.{v}"
        return literal(v, as_list=arg == "normalized_shape")

    def expr(self, node):
        p = self.plan
        if p.is_block(node):
            sub = p.scope_of[id(node)]
            args = []
            for name, _ in sub.params:
                rel, arg = next((r, a) for r, a in p.slots(node) if p.text_of(sub, r, a) == name)
                args.append((name, self.value(p.node_at(node, rel), arg)))
            return Call(sub.name, args)
        if node.is_container:
            return Call("nn.Sequential", [(None, self.expr(c)) for c in node.children])
        return self.leaf_call(node)

    def leaf_call(self, node) -> Call:
        args = self.plan.args(node)
        order = [q.name for q in registry.signature(node.type).params]
        names = sorted(args, key=lambda k: order.index(k) if k in order else len(order))
        positional, out = True, []
        init = inspect.signature(registry.cls(node.type).__init__).parameters
        varargs = any(q.kind == q.VAR_POSITIONAL for q in init.values())
        for k in names:
            q = init.get(k)
            positional = positional and not varargs and q is not None and q.default is q.empty and \
                list(init).index(k) == len(out) + 1
            out.append((None if positional else k, self.value(node, k)))
        return Call(f"nn.{node.type}", out)

    def init_lines(self, node, acc: str, ind: str) -> list:
        """Init schemes of the leaves one expression for `node` built, in construction order."""
        p, root = self.plan, self.scope.root
        out = []
        if not node.is_container:
            for local, s in p.schemes.get(node.path, []):
                target = f"{acc}.{local}" if all(identifier(x) for x in local.split(".")) else \
                    f'{acc}.get_parameter("{local}")'
                args = [(None, target)] + [(k, literal(v)) for k, v in s.kwargs]
                out += lines(Call(f"nn.init.{s.name}_", args), ind)
        elif not p.is_block(node) or node is root:
            for i, c in enumerate(node.children):
                out += self.init_lines(c, f"{acc}[{i}]", ind)
        return out

    def register(self, parent: str, kind: str, node, ind: str) -> list:
        p, root = self.plan, self.scope.root
        if node.is_tensor:
            return tensor_lines(parent, child(parent, kind, node.key), node, p.args(node), ind)
        if not p.has_module(node, root):
            return []
        acc = child(parent, kind, node.key)

        def put(e) -> list:
            if kind == "sequential":
                if node.key.isdigit():
                    return lines(e, ind, f"{parent}.append(", ")")
                return lines(e, ind, f'{parent}.add_module("{node.key}", ', ")")
            return lines(e, ind, f"{acc} = ")

        if p.callable(node, root):
            if self._repeat(node):
                first = node.children[0]
                var = "block" if p.is_block(first) else "layer"
                out = put("nn.Sequential()") + [f"{ind}for _ in range({len(node.children)}):"]
                inner = ind + IND
                if p.atomic(first, root):
                    out += lines(self.expr(first), inner, f"{var} = ") + self.init_lines(first, var, inner)
                else:
                    out += [f"{inner}{var} = nn.Sequential()"]
                    for c in first.children:
                        out += self.register(var, "sequential", c, inner)
                return out + [f"{inner}{acc}.append({var})"]
            if p.atomic(node, root):
                return put(self.expr(node)) + self.init_lines(node, acc, ind)
            out = put("nn.Sequential()")
            for c in node.children:
                out += self.register(acc, "sequential", c, ind)
            return out
        if not node.is_container:
            g = p.glue(node)  # a glue layer with a module (parameters, or a torch module under another name)
            out = put(self.leaf_call(node)) if g is None else g.module(self, node, acc, ind, put)
            return out + self.init_lines(node, acc, ind)
        out = put("nn.ModuleDict()")
        for c in node.children:
            out += self.register(acc, "dict", c, ind)
        return out

    def _repeat(self, node) -> bool:
        """A Sequential of two or more identical items: built in a loop."""
        p = self.plan
        kids = node.children
        if not node.is_container or node.type != "Sequential" or p.is_block(node) or len(kids) < 2 or \
                not _digit_keys(node):
            return False
        def same(k) -> bool:
            if p.is_block(k) or p.is_block(kids[0]):
                return p.scope_of.get(id(k)) is p.scope_of.get(id(kids[0])) and self._text(k) == self._text(kids[0])
            return self._text(k) == self._text(kids[0]) and p._sig(k, k) == p._sig(kids[0], kids[0]) and \
                self.init_lines(k, "m", "") == self.init_lines(kids[0], "m", "")

        return all(same(k) for k in kids[1:])

    def _text(self, node) -> str:
        from shapecli.export.pyfmt import flat

        return flat(self.expr(node))

    def ties_and_freezing(self, ind: str) -> list:
        out = []
        for n in self.plan.spec.nodes():
            if n.tie:
                out.append(f"{ind}{absolute(n.path)}.weight = {absolute(n.tie)}.weight  # tie: {n.path}")
        for n in self.plan.spec.nodes():
            if n.freeze:
                out.append(f"{ind}{absolute(n.path)}.requires_grad_(False)  # freeze: {n.path}")
        return out

    # -- forward
    def new(self, base: str) -> str:
        name, i = base, 2
        while name in self.fresh or name in ("self", "x", "torch", "nn"):
            name, i = f"{base}_{i}", i + 1
        self.fresh.add(name)
        return name

    def access(self, node) -> str:
        """`node`'s module from `self` inside the current class."""
        p, root = self.plan, self.scope.root
        chain, n = [], node
        parents = _parents(root)
        while n is not root:
            chain.append(n)
            n = parents[id(n)]
        acc, kind = "self", ("sequential" if self.base == "nn.Sequential" else "dict")
        for n in reversed(chain):
            acc = child(acc, kind, n.key)
            kind = "sequential" if n.type == "Sequential" and p.callable(n, root) else "dict"
        return acc

    def comment(self, node) -> str | None:
        """The output shape: the report's; in a class of several uses, a size that differs between
        them is the parameter of the same values, or `*`."""
        p, scope = self.plan, self.scope
        rel = p.rel(node, scope.root)
        shapes = [_shape_of(p.layers.get(p.node_at(inst, rel).path)) for inst in scope.instances]
        return _merge_shapes(shapes, scope)

    def forward(self, node, v: str, out: list, ind: str, first: bool = False) -> None:
        p, root = self.plan, self.scope.root
        if node.is_tensor:  # read where a merge's `from:` names it
            self.captured[node.path] = self.access(node)
            return
        c = self.comment(node)
        handled, first = self.flow(node, v, out, ind, first, c)
        if handled:
            pass
        elif p.callable(node, root):
            xs = ", ".join(self.input_vars()) if first and self.n_inputs > 1 else v
            out += lines(f"{self.access(node)}({xs})", ind, f"{v} = ", comment=c)
        elif not node.is_container:
            out += self.glue(node, v, ind, c)
        elif node.type == "Sequential":
            if first and self.n_inputs > 1:
                raise ExportError(f"{node.label()}: the first item gets {self.n_inputs} inputs; export needs a layer there")
            for i, ch in enumerate(node.children):
                self.forward(ch, v, out, ind)
        elif node.type == "Residual":  # parts: body, shortcut, after (docs/spec.md)
            body, short, after = parts(node)
            ident = self.new("identity")
            out.append(f"{ind}{ident} = {v}")
            self.chain(body, v, out, ind)
            if len(short) == 1 and p.callable(short[0], root):
                out += lines(f"{v} + {self.access(short[0])}({ident})", ind, f"{v} = ", comment=None if after else c)
            else:
                self.chain(short, ident, out, ind)
                out += lines(f"{v} + {ident}", ind, f"{v} = ", comment=None if after else c)
            self.chain(after, v, out, ind)
        else:
            ins = []
            for i, br in enumerate(parts(node)):
                y = self.new(f"y{i}")
                if len(br) == 1 and p.callable(br[0], root):
                    out += lines(f"{self.access(br[0])}({v})", ind, f"{y} = ")
                else:
                    out.append(f"{ind}{y} = {v}")
                    self.chain(br, y, out, ind)
                ins.append(y)
            if not node.parts and OWN_INPUT not in node.refs:
                ins.append(v)
            for r in node.refs:
                if r == OWN_INPUT:  # `from: [skip, input]`: the merge's own input, where the list puts it
                    ins.append(v)
                    continue
                if r not in self.captured:
                    raise ExportError(f"{node.label()}: `from: {r}` reaches across a block; export cannot write it yet")
                ref = p._nodes().get(r)
                ins.append(expanded(self.captured[r], ref, v) if node.type == "Concat" and ref is not None and ref.is_tensor
                           else self.captured[r])
            if node.type == "Concat":
                e = Call("torch.cat", [(None, Call("", [(None, y) for y in ins], "[", "]")), ("dim", str(node.dim))])
            else:
                e = f" {'+' if node.type == 'Add' else '*'} ".join(ins)
            out += lines(e, ind, f"{v} = ", comment=c)
        self.capture_outputs(node, v, out, ind)
        if node.path in p.refs:
            name = self.new(var_name(node.key if identifier(node.key) else node.path))
            self.captured[node.path] = name
            out.append(f"{ind}{name} = {v}")

    def chain(self, nodes: list, v: str, out: list, ind: str) -> None:
        for ch in nodes:
            self.forward(ch, v, out, ind)


def _shape_of(lay):
    if lay is None:
        return None
    if lay.symbolic is not None:
        return lay.symbolic
    return lay.output_shapes[0] if lay.output_shapes else None


def _merge_shapes(shapes: list, scope: Scope):
    first = shapes[0]
    if first is None or any(s is None for s in shapes):
        return None
    if isinstance(first, list):
        if any(not isinstance(s, list) or len(s) != len(first) for s in shapes):
            return None
        parts = [_merge_shapes([s[i] for s in shapes], scope) for i in range(len(first))]
        return "(" + ", ".join(x or "?" for x in parts) + ")"
    dims = [s["shape"] if isinstance(s, dict) else s.shape for s in shapes]
    if any(len(d) != len(dims[0]) for d in dims):
        return None
    out = []
    for i, d0 in enumerate(dims[0]):
        col = [d[i] for d in dims]
        if all(c == d0 for c in col):
            out.append(str(d0))
        else:
            out.append(next((name for name, values in scope.params if values == col), "*"))
    return "[" + ", ".join(out) + "]"


def _parents(root) -> dict:
    return {id(c): n for n in root.walk() for c in n.children}


def _dtype_args(t: str) -> set:
    return {q.name for q in registry.signature(t).params if "dtype" in q.types}
