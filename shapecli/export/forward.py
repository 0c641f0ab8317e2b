"""The plain code an exported forward() writes for data flow (`in:`, `out:`, named inputs) and, by the rules
of export/gluecode.py that their records name, for shapecli's glue layers (a part of export/emit.py's Emitter)."""
from __future__ import annotations

from shapecli.export.plan import ExportError
from shapecli.export.pyfmt import Call, lines, var_name
from shapecli.spec.nodes import input_key, output_key


class ForwardCode:
    """Glue layers and data flow as plain code in forward(); the Emitter supplies `plan`, `access` and `new`."""

    # -- data flow: named inputs, `in:` and `out:`
    def input_vars(self) -> list:
        """The model's forward arguments: the spec's input names, else x1, x2, ... (x for one)."""
        ins = self.plan.spec.inputs
        if len(ins) < 2 and not any(i.name for i in ins):
            return ["x"]
        names = []
        for k, i in enumerate(ins):
            n = var_name(i.name) if i.name else f"x{k + 1}"
            names.append(f"{n}_in" if n in ("x", "self", "torch", "nn") or n in names else n)
        return names

    def bind_inputs(self) -> None:
        for i, var in zip(self.plan.spec.inputs, self.input_vars()):
            self.fresh.add(var)
            if i.name:
                self.captured[input_key(i.name)] = var

    def tensor(self, node, key, v: str, first: bool) -> str:
        """The variable an `in:` name reads: the item's own input (None), or a captured tensor."""
        if key is None:
            if first and self.n_inputs > 1:
                raise ExportError(f"{node.label()}: `in:` reads `input` on the first item, which gets "
                                  f"{self.n_inputs} inputs; name them")
            return v
        if key not in self.captured:
            raise ExportError(f"{node.label()}: `in:` reads '{key.lstrip(':')}' across a block; export cannot write it yet")
        return self.captured[key]

    def flow(self, node, v: str, out: list, ind: str, first: bool, c) -> tuple:
        """(handled, first): write an item with `in:` that is a call of several tensors, or set `v` to its one input."""
        from shapecli.model.flow import feed_of

        p, root = self.plan, self.scope.root
        if node.ins is None:
            return False, first
        pos, kw = feed_of(node)
        args = [self.tensor(node, None if k == "input" else k, v, first) for k in pos]
        kws = [(a, self.tensor(node, None if k == "input" else k, v, first)) for a, k in kw.items()]
        if node.type in ("Concat", "Add", "Multiply") and not node.children and not node.refs:
            if node.type == "Concat":
                e = Call("torch.cat", [(None, Call("", [(None, y) for y in args], "[", "]")), ("dim", str(node.dim))])
            else:
                e = f" {'+' if node.type == 'Add' else '*'} ".join(args)
        elif p.callable(node, root) and not (node.is_container and len(args) + len(kws) > 1):
            e = Call(self.access(node), [(None, a) for a in args] + kws)
        elif len(args) == 1 and not kws:
            if args[0] != v:
                out.append(f"{ind}{v} = {args[0]}")
            return False, False
        else:
            raise ExportError(f"{node.label()}: export cannot write `in:` with several tensors here yet")
        out += lines(e, ind, f"{v} = ", comment=c)
        return True, False

    def capture_outputs(self, node, v: str, out: list, ind: str) -> None:
        """`out: [y, h]`: the elements a later item reads, as variables."""
        for i, name in node.outs:
            key = output_key(node.path, i)
            if key in self.plan.refs:
                var = self.new(var_name(name))
                self.captured[key] = var
                out.append(f"{ind}{var} = {v}[{i}]")

    def glue(self, node, v: str, ind: str, c) -> list:
        """A glue layer's forward as plain code: the rule its record names (export/gluecode.py)."""
        g = self.plan.glue(node)
        if g is None:  # pragma: no cover - plan.callable() sends every torch.nn leaf to a module call
            raise ExportError(f"{node.label()}: no plain code for {node.type}")
        return g.forward(self, node, self.plan.args(node), v, "" if g.inline else self.access(node), ind, c)
