"""The public result of a symbolic pass: `SymbolicResult` (formulas, constraints, batch
check, method), its `Report.symbolic` block (`to_dict`) and each layer's formula shaped like
its concrete output (`layer_outputs`). No torch."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional


@dataclass
class SymbolicResult:
    outputs: dict  # layer path -> formulas shaped like the output: ["B", "64", "H/4", "W/4"]
    output: Any  # the network's output formula (nested lists for tuple outputs)
    constraints: list  # [{"message": str, "layer": str | None, "dims": [names]}]
    batch_ok: bool
    batch_issue: Optional[str]
    method: str  # "symbolic" | "probes"
    note: Optional[str]
    inputs: list = field(default_factory=list)  # the inputs as formulas: [["B", "3", "H", "W"]]
    seconds: Optional[float] = None  # wall time of the pass
    input_dims: list = field(default_factory=list)  # the sample as `--input` text: how a baseline re-runs it

    def to_dict(self) -> dict:
        """The `Report.symbolic` block (JSON-safe)."""
        d = asdict(self)
        d.pop("outputs")  # per layer, these go to LayerInfo.symbolic
        return d


def layer_outputs(result: SymbolicResult, layers: list) -> dict:
    """Each layer's formula as an Output shaped like its concrete output (TensorInfo with string
    shapes, dtype from the concrete run), so renderers can show both side by side: {path: Output}.
    `layers`: [LayerInfo]; those without a formula are left out."""
    from shapecli.report import TensorInfo

    def as_output(formula, concrete):
        if isinstance(concrete, TensorInfo):
            if isinstance(formula, list) and all(isinstance(x, str) for x in formula):
                return TensorInfo(shape=list(formula), dtype=concrete.dtype)
            return None
        if isinstance(concrete, list) and isinstance(formula, list) and len(formula) == len(concrete):
            return [as_output(f, c) for f, c in zip(formula, concrete)]
        return None

    out = {}
    for layer in layers:
        f = result.outputs.get(layer.path)
        if f is None:
            continue
        concrete = layer.output_shapes[0] if layer.output_shapes else None
        if concrete is None:
            if isinstance(f, list) and all(isinstance(x, str) for x in f):
                out[layer.path] = TensorInfo(shape=list(f), dtype="?")
            continue
        out[layer.path] = as_output(f, concrete)
    return out
