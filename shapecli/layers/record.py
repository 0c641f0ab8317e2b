"""The record of one layer type: everything the passes need to know about it (no torch).

Each pass reads the record, never the type's name:

    parse       name, lazy_alias (LazyLinear -> Linear)
    bind        signature_of, extra_params, skip_args, list_arg (signature.py, model/args.py)
    build       inferred (which argument, from which dimension, in which words), loose, spatial,
                ranks, inputs, dtype, takes_tuple (model/lazy.py); copies (model/fresh.py)
    guard       out_size: the output's size before the layer runs (run/guard.py)
    estimate    view (no new activation memory), table (embedding tables, before any data)
    init        init (PyTorch's default init as a rule) and init_schemes; gain (lints)
    symbolic    symbolic: a shape-only forward swapped in during the trace
    export      export: how `shapecli export` writes it (export/gluecode.py); init_draws: whether its
                default init draws from the RNG (the exported file keeps the spec's drawing order)

A rule is the name of one of the pass's own rules (torch-free here: the pass resolves it) or,
for a record registered at run time, a function. Where a pass needs nothing, the record says so
with one of the markers below; a field left at None is a gap tests/test_layers.py reports.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

# init: the layer has no parameters of its own / its parameters belong to child modules, whose
# own records give their defaults (TransformerEncoderLayer: Linear, LayerNorm, MultiheadAttention).
NO_PARAMS = "no parameters"
CHILDREN = "children"
# init: the record's init_schemes are the defaults (shapecli's glue layers).
SCHEMES = "schemes"
# out_size: the output is no bigger than the input (elementwise, normalization, pooling, views) /
# it can be bigger, and is not checked before the layer runs (the budget still counts it after).
NO_BIGGER = "no bigger than its input"
UNGUARDED = "unguarded"
# symbolic: PyTorch's own forward is traced.
NATIVE = "native"
# gain: a normalization (any gain before it is fine) / an activation whose gain is not known.
RESETS = "resets the scale"
NO_GAIN = "no known gain"
# export: written as its torch.nn module's own call (`nn.Linear(20, 256)`) / not written at all: a
# layer type registered at run time, whose class the exported file (torch only) cannot import.
TORCH_MODULE = "torch.nn module"
NOT_EXPORTED = "not exported"

Rule = Union[str, Callable, None]


@dataclass(frozen=True)
class Inferred:
    """A constructor argument whose value is read from the data."""

    arg: str
    dim: Any  # a dim index (-1: last), "C" (the channel dim of an N-d input), or (input index, dim)
    words: str  # what the size is, for messages: "input features (last dim)"


@dataclass(frozen=True)
class LayerType:
    name: str  # the torch.nn class name, or a glue layer's name
    group: str  # for `shapecli layers`
    glue: bool = False  # shapecli's own layer (model/glue.py)
    cls: Any = None  # the class itself, for a record registered at run time (else torch.nn.<name> or the glue's)
    doc: str = ""

    # ---- parse and bind
    lazy_alias: bool = False  # a spec may write Lazy<name>
    signature_of: str = ""  # torch.nn class whose __init__ holds the real parameters (RNN's: RNNBase)
    extra_params: tuple = ()  # ((after, name, types, default, choices), ...): parameters torch hides in *args
    skip_args: tuple = ()  # constructor args a spec may not set (modules, callables, tensors)
    list_arg: str = ""  # `Permute: [0, 2, 1]` is the one list argument `dims`

    # ---- build: sizes read from the data, and the inputs it takes
    inferred: tuple = ()  # (Inferred, ...)
    loose: tuple = ()  # inferred args that, when given, may differ from the data (a table's size)
    spatial: int = 0  # N for Conv{N}d-like layers: the channel dim is -(N+1)
    ranks: tuple = ()  # accepted input ranks, checked before torch sees the input; () = any
    inputs: int = 1  # input tensors its forward requires
    max_inputs: int = 0  # with the optional ones (an RNN's initial state), when more than `inputs`
    dtype: str = "any"  # "float": integer input refused (token ids go into an Embedding); "ids"; "any"
    takes_tuple: bool = False  # its input may be a tuple (Item picks from one)
    tuple_output: bool = False  # forward returns a tuple (LSTM: output, (h, c))
    batchless: bool = False  # its output has no batch dimension by design (an attention mask [T, T])
    copies: bool = False  # equal layers after the first are copies of it, reset (model/fresh.py copy_of): its
    #                       __init__ allocates without children, then draws every initial value in reset_parameters()
    #                       (a layer with children, or with tensors and no reset_parameters(), is constructed anyway)

    # ---- run and estimate
    out_size: Rule = None  # a rule of run/guard.py, NO_BIGGER or UNGUARDED
    view: bool = False  # its output is a view of its input: no new activation memory
    table: tuple = ()  # its first positional args, whose product is a table's size known before data

    # ---- init
    init: Rule = None  # a rule of analyses/init/predict.py, NO_PARAMS, CHILDREN or SCHEMES
    init_schemes: tuple = ()  # ((parameter, scheme name, ((arg, value), ...)), ...) for init=SCHEMES
    gain: Any = ""  # ((nonlinearity, param), ...) gains that keep the scale, RESETS, NO_GAIN; "" if neither
    init_draws: Optional[bool] = None  # its default init draws from the RNG (constants do not); unset for NO_PARAMS

    # ---- symbolic
    symbolic: Rule = None  # a shape-only forward of analyses/symbolic/layers.py, or NATIVE

    # ---- export
    export: Rule = None  # a glue rule of export/gluecode.py, TORCH_MODULE or NOT_EXPORTED

    @property
    def inferred_args(self) -> tuple:
        return tuple(i.arg for i in self.inferred)

    @property
    def multi_input(self) -> bool:
        return max(self.inputs, self.max_inputs) > 1

    def words(self, arg: str) -> str:
        return next((i.words for i in self.inferred if i.arg == arg), arg)


def missing(lt: LayerType) -> list[str]:
    """What record `lt` lacks for some pass (no silent fallback): field names, [] when complete."""
    out = [f for f in ("out_size", "init", "symbolic", "export") if getattr(lt, f) is None]
    if lt.init == SCHEMES and not lt.init_schemes:
        out.append("init_schemes")
    if lt.init not in (None, NO_PARAMS) and lt.init_draws is None:
        out.append("init_draws")  # export keeps the order of the layers that draw
    if lt.group in ("activation", "norm") and lt.gain == "":
        out.append("gain")  # the gain lint stops at the first activation or norm after a weight
    if lt.dtype not in ("float", "ids", "any"):
        out.append("dtype")
    return out


def resolve(rule: Rule, rules: dict, what: str) -> Optional[Callable]:
    """A record's rule as a function: looked up in the pass's own table, or given directly."""
    if callable(rule):
        return rule
    if rule not in rules:
        raise KeyError(f"no {what} rule named {rule!r}")
    return rules[rule]
