"""The closed layer registry: which layer types a spec may name, and what each infers.

Names map to `torch.nn` classes (looked up by the name in this table, never by a name taken
from a spec) or to shapecli's glue layers. The table itself needs no torch, so parsing and
`--help` stay fast; `cls()`/`signature()` import torch when a model is actually built.

record.py holds the record of one layer type, catalog.py declares them all, signature.py reads
constructors.
"""
from __future__ import annotations

from shapecli.layers.catalog import ALIASES, CONTAINERS, NOT_LAYERS, REGISTRY  # noqa: F401
from shapecli.layers.record import LayerType
from shapecli.layers.signature import Param, Signature, signature  # noqa: F401


def canonical(name: str) -> str | None:
    """The registry name for a spec's layer name (aliases resolved), or None."""
    if name in REGISTRY or name in CONTAINERS:
        return name
    return ALIASES.get(name)


def known_names() -> list[str]:
    return sorted(REGISTRY) + list(CONTAINERS)


def get(name: str) -> LayerType:
    return REGISTRY[name]


def cls(name: str):
    """The Python class for a registry name (imports torch)."""
    lt = REGISTRY[name]
    if lt.glue:
        from shapecli.model import glue

        return glue.GLUE[name]
    from shapecli._torch import nn

    return getattr(nn, lt.name)  # lt.name is from the table above, never from a spec
