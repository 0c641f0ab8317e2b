"""The record of one layer type: everything the passes need to know about it (no torch)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LayerType:
    name: str  # the torch.nn class name, or a glue layer's name
    glue: bool = False
    inferred: tuple = ()  # ((arg, rule), ...); rule: a dim index, or "C" (channel dim of an N-d input)
    spatial: int = 0  # N for Conv{N}d-like layers: the channel dim is -(N+1)
    multi_input: bool = False  # forward takes several tensors (Bilinear, MultiheadAttention, Transformer)
    tuple_output: bool = False  # forward returns a tuple (LSTM: output, (h, c))
    group: str = ""  # for `shapecli layers`
    skip_args: tuple = ()  # constructor args a spec may not set (modules, callables, tensors)
    loose: tuple = ()  # inferred args that, when given, may differ from the data (a table's size)
    doc: str = ""

    @property
    def inferred_args(self) -> tuple:
        return tuple(a for a, _ in self.inferred)
