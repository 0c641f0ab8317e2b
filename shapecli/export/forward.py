"""The plain code an exported forward() writes for shapecli's glue layers (a part of export/emit.py's Emitter)."""
from __future__ import annotations

from shapecli.export.plan import INLINE, ExportError
from shapecli.export.pyfmt import lines, literal


class ForwardCode:
    """Glue layers as plain code in forward(); the Emitter supplies `plan`, `access` and `new`."""

    def glue(self, node, v: str, ind: str, c) -> list:
        a, acc = self.plan.args(node), (self.access(node) if node.type not in INLINE else "")
        t = node.type
        if t == "Item":
            e = f"{v}[{a['index']}]"
        elif t == "Select":
            d, i = a["dim"], a["index"]
            e = f"{v}[{', '.join([':'] * d + [str(i)])}]" if 0 <= d <= 3 else f"{v}.select({d}, {i})"
        elif t == "Permute":
            e = f"{v}.permute({', '.join(map(str, a['dims']))})"
        elif t == "Transpose":
            e = f"{v}.transpose({a['dim0']}, {a['dim1']})"
        elif t == "Reshape":
            e = f"{v}.reshape({v}.shape[0], {', '.join(map(str, a['shape']))})"
        elif t == "Mean":
            d = a["dim"]
            e = f"{v}.mean(dim={literal(d)}" + (", keepdim=True" if a.get("keepdim") else "") + ")"
        elif t == "ClassToken":
            e = f"torch.cat([{acc}.token.expand({v}.shape[0], -1, -1), {v}], dim=1)"
        elif t == "PositionalEmbedding":
            n = self.new("n")
            return [f"{ind}{n} = {v}.shape[-2]"] + lines(f"{v} + {acc}.weight[:{n}]", ind, f"{v} = ", comment=c)
        elif t == "SelfAttention":
            out = []
            mask = ""
            if a.get("causal"):
                n, m = self.new("n"), self.new("mask")
                out.append(f"{ind}{n} = {v}.shape[-2]")
                out += lines(f"torch.ones({n}, {n}, dtype=torch.bool, device={v}.device).triu(1)", ind, f"{m} = ")
                mask = f", attn_mask={m}"
            return out + lines(f"{acc}({v}, {v}, {v}, need_weights=False{mask})[0]", ind, f"{v} = ", comment=c)
        else:  # pragma: no cover - plan.callable() sends every other leaf to a module call
            raise ExportError(f"{node.label()}: no plain code for {t}")
        return lines(e, ind, f"{v} = ", comment=c)
