"""How `shapecli export` writes each of shapecli's glue layers (model/glue.py) as plain PyTorch.

A glue layer's record names one of these rules (`LayerType.export`, layers/catalog.py); a torch.nn
layer's record says TORCH_MODULE (written as the module's own call, export/emit.py). A rule gives
the code of the layer's forward and, for a layer that holds parameters or is a torch module under
another name, the lines that build its module in `__init__`; a rule without them is written as
code alone (no module). `forward_args`: the arguments only the forward uses (ALL for code alone),
part of a class's structure, never a constructor parameter. No torch here.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shapecli.export.pyfmt import Call, lines, literal

ALL = "all"


@dataclass(frozen=True)
class GlueCode:
    # forward(emitter, node, args, v, acc, ind, comment) -> the lines that compute `v` from `v`
    forward: Callable
    # module(emitter, node, acc, ind, put) -> the lines that build the module at `acc`; None: no module
    module: Callable | None = None
    forward_args: object = ALL  # ALL, or a tuple of argument names

    @property
    def inline(self) -> bool:
        return self.module is None


def _expr(f: Callable) -> Callable:
    """A forward that is one expression of the input: `v = f(v, args, acc)`."""
    def forward(em, node, a, v, acc, ind, c):
        return lines(f(v, a, acc), ind, f"{v} = ", comment=c)
    return forward


def _select(v, a, acc):
    d, i = a["dim"], a["index"]
    return f"{v}[{', '.join([':'] * d + [str(i)])}]" if 0 <= d <= 3 else f"{v}.select({d}, {i})"


def _mean(v, a, acc):
    return f"{v}.mean(dim={literal(a['dim'])}" + (", keepdim=True" if a.get("keepdim") else "") + ")"


def _causal_mask_forward(em, node, a, v, acc, ind, c):
    n = em.new("n")
    return [f"{ind}{n} = {v}.shape[{a.get('dim', 1)}]"] + lines(
        f'torch.full(({n}, {n}), float("-inf"), device={v}.device).triu(1)', ind, f"{v} = ", comment=c)


def _class_token_module(em, node, acc, ind, put):
    token = Call("torch.zeros", [(None, "1"), (None, "1"), (None, em.value(node, "embed_dim"))])
    return put("nn.Module()") + lines(Call("nn.Parameter", [(None, token)]), ind, f"{acc}.token = ")


def _positional_module(em, node, acc, ind, put):
    size = [(None, em.value(node, "num_positions")), (None, em.value(node, "embed_dim"))]
    return (put("nn.Module()") + lines(Call("nn.Parameter", [(None, Call("torch.empty", size))]), ind,
                                       f"{acc}.weight = ") + [f"{ind}nn.init.normal_({acc}.weight, std=0.02)"])


def _positional_forward(em, node, a, v, acc, ind, c):
    n = em.new("n")
    return [f"{ind}{n} = {v}.shape[-2]"] + lines(f"{v} + {acc}.weight[:{n}]", ind, f"{v} = ", comment=c)


def _attention_module(em, node, acc, ind, put):
    """nn.MultiheadAttention, and with `max_len` GPT-2's causal mask buffer (glue.SelfAttention)."""
    a = em.plan.args(node)
    kw = [(None, em.value(node, "embed_dim")), (None, em.value(node, "num_heads"))]
    kw += [(k, em.value(node, k)) for k in ("dropout", "bias") if k in a]
    out = put(Call("nn.MultiheadAttention", kw + [("batch_first", "True")]))
    if "max_len" in a:
        n = em.value(node, "max_len")
        out += lines(Call(f"{acc}.register_buffer", [(None, '"mask"'), (
            None, f"torch.ones({n}, {n}, dtype=torch.bool).triu(1)"), ("persistent", "False")]), ind)
    return out


def _attention_forward(em, node, a, v, acc, ind, c):
    out, mask = [], ""
    if a.get("causal"):
        n, m = em.new("n"), em.new("mask")
        out.append(f"{ind}{n} = {v}.shape[-2]")
        made = f"{acc}.mask[:{n}, :{n}]" if "max_len" in a else \
            f"torch.ones({n}, {n}, dtype=torch.bool, device={v}.device).triu(1)"
        out += lines(made, ind, f"{m} = ")
        mask = f", attn_mask={m}"
    return out + lines(f"{acc}({v}, {v}, {v}, need_weights=False{mask})[0]", ind, f"{v} = ", comment=c)


RULES: dict = {
    "item": GlueCode(_expr(lambda v, a, acc: f"{v}[{a['index']}]")),
    "select": GlueCode(_expr(_select)),
    "permute": GlueCode(_expr(lambda v, a, acc: f"{v}.permute({', '.join(map(str, a['dims']))})")),
    "transpose": GlueCode(_expr(lambda v, a, acc: f"{v}.transpose({a['dim0']}, {a['dim1']})")),
    "reshape": GlueCode(_expr(lambda v, a, acc: f"{v}.reshape({v}.shape[0], {', '.join(map(str, a['shape']))})")),
    "mean": GlueCode(_expr(_mean)),
    "causal_mask": GlueCode(_causal_mask_forward),
    "class_token": GlueCode(_expr(lambda v, a, acc: f"torch.cat([{acc}.token.expand({v}.shape[0], -1, -1), {v}], "
                                                    "dim=1)"), _class_token_module, ()),
    "positional_embedding": GlueCode(_positional_forward, _positional_module, ()),
    "self_attention": GlueCode(_attention_forward, _attention_module, ("causal",)),
}
