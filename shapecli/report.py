"""The Report: everything shapecli learned about a network, as plain data.

No torch and no rich here. Gathering (run/collect.py) fills these dataclasses; renderers
(render/) draw them; baseline/ compares them. `to_dict` is the JSON document (its schema:
shapecli/report.schema.json, package data, printed by `shapecli schema --report`); keep field
names stable and bump SCHEMA_VERSION on any change that is not a pure addition.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Optional, Union

SCHEMA_VERSION = 1  # of every JSON document shapecli writes: the report, baselines, check results
SCHEMA_FILE = "report.schema.json"  # beside this module, installed with the package (pyproject: package-data)


def json_schema_text() -> str:
    """The report's JSON Schema (draft 2020-12), as shipped: the one copy, installed with the package."""
    from importlib.resources import files

    return files("shapecli").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


# A tensor's description. Shapes are ints, or strings for symbolic formulas ("H/4").
@dataclass
class TensorInfo:
    shape: list
    dtype: str


# A layer's output: a tensor, or a (nested) tuple of outputs (LSTM: out, (h, c)).
Output = Union[TensorInfo, list]


@dataclass
class Stats:
    mean: Optional[float]
    std: Optional[float]  # population std (correction=0): defined for one element
    min: Optional[float]
    max: Optional[float]
    source: str = "measured"  # "measured" | "sampled" | "analytic"


@dataclass
class InitInfo:
    scheme: str  # e.g. "default (kaiming_uniform a=√5)", "kaiming_normal(mode=fan_out)"
    fan_in: Optional[int] = None
    fan_out: Optional[int] = None
    expected: Optional[Stats] = None  # what the scheme's formula predicts
    flagged: list = field(default_factory=list)  # measured values outside sampling error


@dataclass
class ParamInfo:
    name: str  # as in named_parameters(): "0.weight"
    layer: str  # the spec item that owns it: "0"
    shape: list
    numel: int
    dtype: str
    trainable: bool
    stats: Optional[Stats] = None
    init: Optional[InitInfo] = None
    histogram: Optional[list] = None  # bin counts, for sparklines
    shared_with: Optional[str] = None  # tied: the name this parameter is counted under


@dataclass
class BufferInfo:
    name: str
    layer: str
    shape: list
    numel: int
    dtype: str
    persistent: bool = True  # in state_dict(); False: registered with persistent=False



@dataclass
class LayerInfo:
    path: str  # "" for the whole network, "encoder.0" for nested items
    type: str  # "Linear", "Residual", "Sequential", ...
    depth: int  # 0 for top-level items
    args: dict  # the arguments it was built with: the spec's, plus the inferred ones (defaults omitted)
    inferred: dict  # which arguments were inferred from the data: {"in_features": 20}
    output_shapes: list  # one Output (or None if the run failed before it) per input run
    params: int = 0  # parameters owned by this item and its children (shared counted once)
    trainable: int = 0
    line: Optional[int] = None  # spec position of the item
    col: Optional[int] = None
    is_container: bool = False
    symbolic: Optional[Output] = None  # output shape as formulas, when a symbolic pass ran
    flops: Optional[int] = None
    activation: Optional[dict] = None  # {"mean":..,"std":..} at init, with --activations
    input_shapes: list = field(default_factory=list)  # per input run: [Output] of each tensor the layer was given
    kernel_size: Optional[list] = None  # the built module's, where it has one (Conv*, *Pool*)
    stride: Optional[list] = None


@dataclass
class Run:
    """One sample input pushed through the model (the first one materializes it)."""

    inputs: list  # [TensorInfo]
    output: Optional[Output] = None
    error: Optional[str] = None  # in the spec's terms, when this input does not fit
    error_layer: Optional[str] = None


@dataclass
class Diagnostic:
    level: str  # "warning" | "info"
    code: str  # "zero-init", "nan", "activation-vanishing", ...
    message: str
    layer: Optional[str] = None
    param: Optional[str] = None
    line: Optional[int] = None
    col: Optional[int] = None


@dataclass
class Totals:
    params: int
    trainable: int
    buffers: int
    bytes: dict  # {"float32": 31784, ...}: parameters and buffers, by dtype
    param_bytes: int = 0
    buffer_bytes: int = 0


@dataclass
class Report:
    name: str
    spec_file: Optional[str]
    seed: int
    torch_version: str
    device: str  # where it was materialized: "cpu" (real values) or "meta" (shapes only)
    runs: list  # [Run]
    layers: list  # [LayerInfo], in module order (pre-order)
    params: list  # [ParamInfo] in named_parameters() order
    buffers: list  # [BufferInfo]
    totals: Totals
    diagnostics: list = field(default_factory=list)  # [Diagnostic]
    init_trace: list = field(default_factory=list)  # [{"layer","type","scheme","order"}]
    estimates: Optional[dict] = None  # memory / flops estimates
    symbolic: Optional[dict] = None  # {"inputs": [...], "constraints": [...]}
    source: Optional[str] = None  # the Python target the model came from ("pkg.mod:Net"); None for a spec
    schema_version: int = SCHEMA_VERSION

    @property
    def inputs(self) -> list:
        return self.runs[0].inputs if self.runs else []

    def __str__(self) -> str:
        """The plain table, as `shapecli inspect` prints it when piped."""
        from shapecli.render import render

        return render(self, "text")

    def __rich_console__(self, console, options):
        """`rich.print(report)` and notebooks with rich: the terminal table at the console's width."""
        from shapecli.render.terminal import renderable

        yield renderable(self, width=options.max_width)

    def _repr_html_(self) -> str:
        from shapecli.render import render

        return render(self, "html")

    def to_dict(self) -> dict:
        d = _clean(self)
        if d["source"] is None:  # a spec's report: spec_file says where it came from
            del d["source"]
        # Convenience views that scripts reach for first (`jq .inputs`, `jq .outputs`).
        d["inputs"] = d["runs"][0]["inputs"] if d["runs"] else []
        d["outputs"] = d["runs"][0]["output"] if d["runs"] else None
        order = ["schema_version", "name", "spec_file", *(["source"] if "source" in d else []), "torch_version", "seed", "device", "inputs", "outputs"]
        return {k: d[k] for k in order} | {k: v for k, v in d.items() if k not in order}


def _clean(x: Any) -> Any:
    """Strict-JSON-safe plain copy, what `dataclasses.asdict` then a cleaning pass gave, in one pass and without
    asdict's deepcopy of every leaf (10,000 layers: ~4 s): dataclasses become dicts of their fields in order,
    tuples lists, NaN/Infinity None (the stats that produced them are flagged)."""
    t = type(x)
    if t is float:
        return x if math.isfinite(x) else None
    if t is dict:
        return {k: _clean(v) for k, v in x.items()}
    if t is list or t is tuple:
        return [_clean(v) for v in x]
    if x is None or t is str or t is int or t is bool:
        return x
    if is_dataclass(x) and not isinstance(x, type):
        return {name: _clean(getattr(x, name)) for name in _field_names(t)}
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


_FIELDS: dict = {}  # dataclass type -> its field names (a pure cache)


def _field_names(t: type) -> tuple:
    names = _FIELDS.get(t)
    if names is None:
        names = _FIELDS[t] = tuple(f.name for f in fields(t))
    return names
