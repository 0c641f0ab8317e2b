"""Hand-written PyTorch twins of the benchmarked specs, for the torchinfo baselines.

The small zoo twins come from tests/twins.py (written independently of shapecli); the two huge
ones are written here with the same glue modules. Nothing here imports shapecli.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from twins import TWINS, Residual, SelfAttention, PositionalEmbedding, rep, seq  # noqa: E402


def gpt(d: int, heads: int, vocab: int, ctx: int, n_layer: int, drop: bool = False) -> nn.Module:
    """GPT-2/GPT-3-style: pre-norm blocks, learned positions, head tied to the token embedding."""

    def block(i):
        return seq(
            Residual(seq(nn.LayerNorm(d), SelfAttention(d, heads, causal=True))),
            Residual(seq(nn.LayerNorm(d), nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))),
        )

    wte = nn.Embedding(vocab, d)
    head = nn.Linear(d, vocab, bias=False)
    head.weight = wte.weight
    return seq(("wte", wte), ("wpe", PositionalEmbedding(ctx, d)), ("h", rep(n_layer, block)),
               ("ln_f", nn.LayerNorm(d)), ("head", head))


class Multiply(nn.Module):
    """Branches (children 0, 1) on the same input, multiplied: SwiGLU's gate."""

    def __init__(self, *branches):
        super().__init__()
        for i, b in enumerate(branches):
            self.add_module(str(i), b)

    def forward(self, x):
        out = None
        for b in self.children():
            y = b(x)
            out = y if out is None else out * y
        return out


def llama(d=4096, heads=32, hidden=11008, vocab=32000, n_layer=32) -> nn.Module:
    def block(i):
        return seq(
            Residual(seq(nn.RMSNorm(d, eps=1e-6), SelfAttention(d, heads, causal=True, bias=False))),
            Residual(seq(nn.RMSNorm(d, eps=1e-6),
                         Multiply(seq(nn.Linear(d, hidden, bias=False), nn.SiLU()), seq(nn.Linear(d, hidden, bias=False))),
                         nn.Linear(hidden, d, bias=False))),
        )

    return seq(("embed_tokens", nn.Embedding(vocab, d)), ("layers", rep(n_layer, block)),
               ("norm", nn.RMSNorm(d, eps=1e-6)), ("lm_head", nn.Linear(d, vocab, bias=False)))


def resnet50() -> nn.Module:
    """The ResNet-50 twin, as a target: `shapecli inspect bench/models.py:resnet50`."""
    return TWINS["resnet50"].build()


def llama7b() -> nn.Module:
    return llama()


I64 = torch.int64
# name -> (factory, [(shape, dtype)], device torchinfo runs on)
MODELS = {
    "mlp": (TWINS["mlp"].build, TWINS["mlp"].inputs, "cpu"),
    "resnet50": (TWINS["resnet50"].build, TWINS["resnet50"].inputs, "cpu"),
    "gpt2_small": (TWINS["gpt2_small"].build, TWINS["gpt2_small"].inputs, "cpu"),
    "llama7b": (llama, (((1, 2048), I64),), "meta"),
    "gpt3_175b": (lambda: gpt(12288, 96, 50257, 2048, 96), (((1, 2048), I64),), "meta"),
}


def build(name: str):
    """(model, input tensors, device): the model made directly on that device."""
    factory, inputs, device = MODELS[name]
    with torch.device(device):
        model = factory()
    xs = [torch.zeros(shape, dtype=dtype, device=device) for shape, dtype in inputs]
    return model, xs, device
