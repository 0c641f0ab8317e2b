"""The layers a run reports, whatever built the model: a spec's items or an nn.Module's submodules.

The hooks (run/hooks.py) and gathering (run/collect.py) need, per reported layer, its path, its
type name, where it was written (a spec's line:col, or none), whether it is a container, and,
for a spec, the Node (for refit checks). A Spec and an nn.Module each give an Outline; one
gather and one assemble serve both. No torch here.
"""
from __future__ import annotations

from dataclasses import dataclass

from shapecli.errors import Loc


@dataclass
class LayerDesc:
    path: str  # dotted path from the root, as named_modules() names it
    type: str  # what the report calls it: the layer type, block or class name
    kind: str  # the layer type (a spec item's type; a module's class name)
    loc: Loc  # where it was written (line None: nowhere shapecli knows)
    is_container: bool
    node: object = None  # the spec Node, for a spec

    def label(self) -> str:
        """'encoder.0 (Conv2d)': how errors and tables name a layer."""
        return f"{self.path or '<network>'} ({self.type})"


@dataclass
class Outline:
    name: str
    spec_file: str | None  # the spec's file; None for a model written in Python
    source: str | None  # the Python target text (`pkg.mod:Net`); None for a spec
    layers: list  # [LayerDesc] in module order (pre-order), the root left out

    @property
    def where(self) -> Loc:
        return Loc(self.spec_file or self.source or "<model>")


def of_spec(spec) -> Outline:
    layers = [LayerDesc(n.path, n.block or n.type, n.type, n.loc, n.is_container, n)
              for n in spec.nodes() if n.path]
    return Outline(spec.name, spec.file, None, layers)


def of_module(model, name: str, source: str) -> Outline:
    """An nn.Module's submodules in named_modules() order. A module of a type shapecli has a record
    for is a layer: its own submodules (MultiheadAttention's out_proj) are its internals."""
    from shapecli import layers as registry

    where = Loc(source)
    out = []

    def walk(module, prefix: str) -> None:
        for key, child in module.named_children():
            if child is None:
                continue
            path = f"{prefix}.{key}" if prefix else key
            known = registry.of_module(child) is not None
            has_children = next(iter(child.children()), None) is not None
            out.append(LayerDesc(path, type(child).__name__, type(child).__name__, where,
                                 has_children and not known))
            if has_children and not known:
                walk(child, path)

    walk(model, "")
    return Outline(name, None, source, out)
