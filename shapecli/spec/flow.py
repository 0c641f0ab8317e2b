"""Data flow beyond one tensor: an item's `in:` (the tensors it reads) and `out:` (names for its outputs).

A part of the parser (spec/parser.py's `_Parser`), no torch. Names resolve as `from:` names do: to
the most recent earlier item with that name, a named input (`input: {src: ..., tgt: ...}`), or an
earlier `out:` name; `input` is the item's own input (the previous item's output). Each resolves to
a tape key (spec/nodes.py: an item's path, `:src` for an input, `path:1` for an output).
"""
from __future__ import annotations

from shapecli import layers as registry
from shapecli.errors import Loc, literal, what
from shapecli.spec.nodes import IDENT, OWN_INPUT, Node, is_tensor_key, output_key
from shapecli.spec.yamlload import YList, YMap

MERGE_TYPES = ("Concat", "Add", "Multiply")


class Flow:
    """`in:` and `out:` on an item (a part of `_Parser`)."""

    def item_inputs(self, node: Node, extra: YMap, label: str) -> None:
        """`in: src`, `in: [x, h0]` (positional) or `in: {query: x, key: mem, value: mem}` (by keyword)."""
        raw, loc = extra["in"], extra.at("in")
        if isinstance(raw, str):
            raw = YList([raw])
            raw.loc, raw.item_locs = loc, [loc]
        if isinstance(raw, YList) and raw:
            node.ins = [self._tensor(r, raw.at(i), label) for i, r in enumerate(raw)]
        elif isinstance(raw, YMap) and raw:
            node.ins = []
            for k, r in raw.items():
                if not isinstance(k, str) or not IDENT.match(k):
                    self.err(f"`in:` keys are the forward's argument names (such as query or attn_mask), "
                             f"got {what(k)}", raw.key_locs[k], label)
                    continue
                node.in_kw[k] = self._tensor(r, raw.at(k), label)
                node.arg_locs["in:" + k] = raw.key_locs[k]
        else:
            self.err("`in:` names the tensors the item reads: `in: src`, `in: [x, h0]` or "
                     "`in: {query: x, key: memory, value: memory}`", loc, label)

    def _tensor(self, ref, loc: Loc, label: str):
        if not isinstance(ref, str) or not ref:
            self.err(f"`in:` names a tensor (a named input, an earlier item or `out:` name, or `input`), "
                     f"got {what(ref)}", loc, label)
            return OWN_INPUT
        if ref == OWN_INPUT:
            return OWN_INPUT
        path = self.resolve_ref(ref, loc, label)
        return path if path is not None else OWN_INPUT  # the unknown name is reported once, at the end

    def check_inputs(self, node: Node, loc: Loc, label: str) -> None:
        """What `in:` may give the item's type, known before torch: a merge reads a list."""
        if node.in_kw and (node.type in MERGE_TYPES + ("Residual", "Sequential") or node.block):
            self.err(f"{node.block or node.type} takes its inputs as a list: `in: [{', '.join(node.in_kw)}]`",
                     loc, label)

    def merge_usage(self, kind: str, node: Node) -> str:
        """The message for a merge written with nothing to merge, pointing at `in:` for several inputs."""
        base = f"{kind} takes {{branches: [[...], [...]]}} and/or {{from: name}}"
        inputs = getattr(self, "inputs", [])
        if len(inputs) > 1 and node.ins is None and "." not in node.path and node.path in ("0", node.key):
            names = [i.name or ("ab"[j] if j < 2 else f"x{j}") for j, i in enumerate(inputs)]
            shown = ", ".join(f"{n}: [{', '.join(map(str, i.shape))}]" for n, i in zip(names, inputs))
            return (f"{base}; to merge the spec's {len(inputs)} inputs, name them (`input: {{{shown}}}`) "
                    f"and write `- {kind}:` with `in: [{', '.join(names)}]` on the next line")
        return f"{base}, or `- {kind}:` with `in: [a, b]` (two or more named tensors) on the next line"

    def item_outputs(self, node: Node, extra: YMap, label: str) -> None:
        """`out: [y, h]`: names for the elements of a tuple output (GRU's output and final state)."""
        raw, loc = extra["out"], extra.at("out")
        if isinstance(raw, str):
            raw = YList([raw])
            raw.loc, raw.item_locs = loc, [loc]
        if not isinstance(raw, YList) or not raw:
            self.err("`out:` names the elements of a tuple output, e.g. `out: [y, h]` for a GRU", loc, label)
            return
        lt = registry.get(node.type) if registry.canonical(node.type) == node.type else None
        if lt is not None and not lt.tuple_output and not node.is_container:
            self.err(f"{node.type} returns one tensor; name it with `name:` (its output is read by that name), "
                     "`out:` names the elements of a tuple output", loc, label)
            return
        for i, n in enumerate(raw):
            nloc = raw.at(i)
            if n is None or n == "_":  # `out: [_, h]`: an element left unnamed
                continue
            if not isinstance(n, str) or not IDENT.match(n) or n == OWN_INPUT:
                self.err(f"`out:` takes identifiers (other than input), got {what(n)}", nloc, label)
                continue
            node.outs.append((i, n))
            self.defined.append((n, output_key(node.path, i), nloc))
            self.all_names.setdefault(n, nloc)

    def check_tie(self, target: str, loc: Loc, label: str) -> bool:
        if is_tensor_key(target):
            self.err(f"`tie:` names an earlier item (its weight is shared), and '{literal(target.split(':')[-1])}' "
                     "is a tensor (an input or an `out:` name)", loc, label)
            return False
        return True
