"""The output guard: a real layer whose output would exceed the budget is shaped on meta instead."""
from __future__ import annotations

import math

from shapecli import layers as registry
from shapecli._torch import nn, torch
from shapecli.layers.record import NO_BIGGER, UNGUARDED, resolve
from shapecli.model.lazy import OverBudget


class _OutputGuard:
    """Before a real layer runs: if its output would exceed the budget, shape on meta instead.

    Most layers' outputs are no bigger than their inputs and weights (checked after them); the
    records of those that can blow up from a small input (upsampling, padding, convolutions, and
    layers whose output width comes from an argument: Linear, Embedding) name a rule in RULES.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self._rules: dict = {}  # class -> its record's output-size rule (None: none), once per class of a run

    def _rule_of(self, module: nn.Module):
        cls = type(module)
        rule = self._rules.get(cls, False)
        if rule is False:
            rule = self._rules[cls] = _rule(module)
        return rule

    def applies(self, module: nn.Module) -> bool:
        """Whether the hook can ever refuse `module`: not for a layer whose record says its output is no
        bigger than its inputs, or unguarded (10,000 ReLU layers: no hook at all)."""
        return self._rule_of(module) is not None

    def __call__(self, module, inputs):
        x = inputs[0] if inputs else None
        if not isinstance(x, torch.Tensor) or x.dim() == 0:
            return
        rule = self._rule_of(module)
        n = rule(module, list(x.shape)) if rule is not None else None
        if n is not None and n * 4 > self.limit:  # float32 output
            raise OverBudget(type(module).__name__)


def _output_numel(m: nn.Module, x) -> int | None:
    """The number of elements `m` will output for input `x`, where its record has a rule for it."""
    rule = _rule(m)
    return None if rule is None else rule(m, list(x.shape))


def _rule(m: nn.Module):
    """The output-size rule of `m`'s record, or None where it has none."""
    lt = registry.of_module(m)
    if lt is None or lt.out_size in (NO_BIGGER, UNGUARDED):
        return None
    return resolve(lt.out_size, RULES, "output-size")


def _upsample(m, shape: list) -> int:  # UpsamplingNearest2d/Bilinear2d too
    lead, spatial = shape[:2], shape[2:]
    if m.size is not None:
        size = m.size if isinstance(m.size, (tuple, list)) else [m.size] * len(spatial)
        return math.prod(lead) * math.prod(size)
    f = m.scale_factor if isinstance(m.scale_factor, (tuple, list)) else [m.scale_factor or 1] * len(spatial)
    return math.prod(lead) * math.prod(math.ceil(d * s) for d, s in zip(spatial, f))


def _pad(m, shape: list) -> int:
    pad = list(m.padding)
    grown = [shape[-1 - i // 2] for i in range(len(pad))]
    out = list(shape)
    for i in range(0, len(pad), 2):
        out[-1 - i // 2] = grown[i] + pad[i] + pad[i + 1]
    return math.prod(out)


def _conv_transpose(m, shape: list) -> int:
    n = len(m.stride)
    spatial = shape[-n:]
    out = [(d - 1) * s + dl * (k - 1) + op + 1 for d, s, dl, k, op in
           zip(spatial, m.stride, m.dilation, m.kernel_size, m.output_padding)]
    return math.prod(shape[:-n - 1]) * m.out_channels * math.prod(out)


def _conv(m, shape: list) -> int:  # many output channels from a small kernel
    n = len(m.stride)
    spatial = shape[-n:]
    if isinstance(m.padding, str):
        out = spatial if m.padding == "same" else [d - dl * (k - 1) for d, dl, k in zip(spatial, m.dilation, m.kernel_size)]
    else:
        out = [(d + 2 * p - dl * (k - 1) - 1) // s + 1 for d, p, dl, k, s in
               zip(spatial, m.padding, m.dilation, m.kernel_size, m.stride)]
    return math.prod(shape[:-n - 1]) * m.out_channels * math.prod(max(o, 0) for o in out)


def _linear(m, shape: list) -> int:
    return math.prod(shape[:-1]) * m.out_features


def _embedding(m, shape: list) -> int:
    return math.prod(shape) * m.embedding_dim


# The output-size rules a record's out_size names (shapecli/layers/catalog.py).
RULES = {"upsample": _upsample, "pad": _pad, "conv_transpose": _conv_transpose, "conv": _conv,
         "linear": _linear, "embedding": _embedding}
