"""The closed layer registry: which layer types a spec may name, and what each infers.

Names map to `torch.nn` classes (looked up by the name in this table, never by a name taken
from a spec) or to shapecli's glue layers. The table itself needs no torch, so parsing and
`--help` stay fast; `cls()`/`signature()` import torch when a model is actually built.

An inferred argument is one whose value comes from the data: `("in_features", -1)` reads it
from the input's last dimension; `("in_channels", "C")` from the channel dim of an N-d
conv input (works batched or unbatched).
"""
from __future__ import annotations

from dataclasses import dataclass, field


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


REGISTRY: dict[str, LayerType] = {}
ALIASES: dict[str, str] = {}  # LazyLinear -> Linear, ...


def _add(group: str, names: str, **kw) -> None:
    for n in names.split():
        REGISTRY[n] = LayerType(n, group=group, **kw)


_add("activation", "ReLU ReLU6 LeakyReLU PReLU RReLU ELU SELU CELU GELU SiLU Mish Sigmoid Tanh Softplus Softsign "
     "Softshrink Hardshrink Tanhshrink Hardtanh Hardsigmoid Hardswish LogSigmoid Threshold GLU "
     "Softmax Softmin LogSoftmax Softmax2d Identity")
_add("linear", "Linear", inferred=(("in_features", -1),))
_add("linear", "Bilinear", inferred=(("in1_features", (0, -1)), ("in2_features", (1, -1))), multi_input=True)
for _n in (1, 2, 3):
    _add("conv", f"Conv{_n}d ConvTranspose{_n}d", inferred=(("in_channels", "C"),), spatial=_n)
    _add("norm", f"BatchNorm{_n}d", inferred=(("num_features", 1),))
    _add("norm", f"InstanceNorm{_n}d", inferred=(("num_features", "C"),), spatial=_n)
    _add("pooling", f"MaxPool{_n}d AvgPool{_n}d AdaptiveMaxPool{_n}d AdaptiveAvgPool{_n}d LPPool{_n}d")
    _add("padding", f"ZeroPad{_n}d ConstantPad{_n}d ReflectionPad{_n}d ReplicationPad{_n}d CircularPad{_n}d")
    _add("dropout", f"Dropout{_n}d")
_add("pooling", "FractionalMaxPool2d FractionalMaxPool3d", skip_args=("_random_samples",))
_add("norm", "LayerNorm RMSNorm", inferred=(("normalized_shape", -1),))
_add("norm", "GroupNorm", inferred=(("num_channels", 1),))
_add("norm", "LocalResponseNorm CrossMapLRN2d")
_add("dropout", "Dropout AlphaDropout FeatureAlphaDropout")
_add("shape", "Flatten Unflatten Upsample UpsamplingNearest2d UpsamplingBilinear2d PixelShuffle PixelUnshuffle "
     "ChannelShuffle Fold Unfold")
_add("embedding", "Embedding", skip_args=("_weight", "_freeze"))
_add("embedding", "EmbeddingBag", skip_args=("_weight",))
_add("recurrent", "RNN LSTM GRU", inferred=(("input_size", -1),), tuple_output=True)
_add("recurrent", "RNNCell GRUCell", inferred=(("input_size", -1),))
_add("recurrent", "LSTMCell", inferred=(("input_size", -1),), tuple_output=True)
_add("attention", "MultiheadAttention", inferred=(("embed_dim", -1),), multi_input=True, tuple_output=True)
_add("transformer", "TransformerEncoderLayer", inferred=(("d_model", -1),))
_add("transformer", "TransformerDecoderLayer", inferred=(("d_model", -1),), multi_input=True)
_add("transformer", "Transformer", inferred=(("d_model", -1),), multi_input=True,
     skip_args=("custom_encoder", "custom_decoder"))
_add("distance", "CosineSimilarity PairwiseDistance", multi_input=True)

# shapecli's own glue layers (shapecli/glue.py), documented in docs/spec.md.
_add("glue", "Item Select Permute Transpose Reshape Mean", glue=True)
_add("glue", "ClassToken", glue=True, inferred=(("embed_dim", -1),))
_add("glue", "PositionalEmbedding", glue=True, inferred=(("embed_dim", -1), ("num_positions", -2)),
     loose=("num_positions",))
_add("glue", "SelfAttention", glue=True, inferred=(("embed_dim", -1),))

# Containers: written with their own syntax (docs/spec.md), built by build.py.
CONTAINERS = ("Sequential", "Residual", "Concat", "Add", "Multiply")

for _name in list(REGISTRY):
    if not REGISTRY[_name].glue and REGISTRY[_name].inferred and not _name.startswith(("Layer", "RMS", "Group")):
        ALIASES["Lazy" + _name] = _name

# Not layers: a spec naming one gets a specific message rather than "unknown".
NOT_LAYERS = {
    "ModuleList": "a container of modules; write a list of items or use Sequential",
    "ModuleDict": "a container of modules; give items names instead",
    "ParameterList": "not a layer", "ParameterDict": "not a layer",
    "DataParallel": "a parallel wrapper, not a layer",
    "TransformerEncoder": "a container; write TransformerEncoderLayer with `repeat: N`",
    "TransformerDecoder": "a container; write TransformerDecoderLayer with `repeat: N`",
    "SyncBatchNorm": "needs a process group; use BatchNorm*d for shapes",
    "AdaptiveLogSoftmaxWithLoss": "a loss, not a layer",
    "MaxUnpool1d": "needs pooling indices as a second input",
    "MaxUnpool2d": "needs pooling indices as a second input",
    "MaxUnpool3d": "needs pooling indices as a second input",
}


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


@dataclass
class Param:
    name: str
    types: frozenset  # of "int", "float", "bool", "str", "ints", "floats", "none", "dtype"; empty = any plain value
    required: bool
    default: object = None
    inferred: bool = False
    choices: tuple = ()  # for Literal[...] strings

    @property
    def kind(self) -> str:
        """A human description: 'int | list[int]'."""
        words = {"ints": "list[int]", "floats": "list[float]", "none": "null", "dtype": "dtype name"}
        if not self.types:
            return "any"
        order = ["bool", "int", "float", "str", "ints", "floats", "dtype", "none"]
        return " | ".join(words.get(t, t) for t in order if t in self.types)


@dataclass
class Signature:
    params: list = field(default_factory=list)  # [Param] in constructor order

    def positional(self) -> list:
        """Parameters a spec may give positionally: constructor order, inferred ones removed."""
        return [p for p in self.params if not p.inferred]

    def get(self, name: str):
        return next((p for p in self.params if p.name == name), None)


_SIGS: dict[str, Signature] = {}
_NEVER = {"self", "device", "factory_kwargs", "mode"}  # "mode": RNNBase's, set by the subclass


def signature(name: str) -> Signature:
    """The constructor's parameters as a spec sees them (imports torch on first use)."""
    if name in _SIGS:
        return _SIGS[name]
    import inspect

    lt = REGISTRY[name]
    c = cls(name)
    init = c.__init__
    if name in ("RNN", "LSTM", "GRU"):  # these take *args; their real parameters are RNNBase's
        from shapecli._torch import nn

        init = nn.RNNBase.__init__
    out = Signature()
    for p in inspect.signature(init).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in lt.skip_args:
            continue
        if p.name in _NEVER and not (p.name == "mode" and init is c.__init__):
            continue
        default = None if p.default is inspect.Parameter.empty else p.default
        inferred = p.name in lt.inferred_args
        types, choices = _types(p.name, p.annotation, p.default)
        out.params.append(Param(p.name, types, p.default is inspect.Parameter.empty and not inferred, default, inferred, choices))
        if name == "RNN" and p.name == "hidden_size":
            out.params.append(Param("nonlinearity", frozenset({"str"}), False, "tanh", False, ("tanh", "relu")))
    _SIGS[name] = out
    return out


_BY_NAME = {  # where torch's annotations are missing or too loose
    "embed_dim": {"int"}, "num_heads": {"int"}, "kdim": {"int", "none"}, "vdim": {"int", "none"},
    "dropout": {"float"}, "bias": {"bool"}, "add_bias_kv": {"bool"}, "add_zero_attn": {"bool"},
    "batch_first": {"bool"}, "activation": {"str"}, "dtype": {"dtype"},
}


def _types(pname: str, ann, default) -> tuple:
    import inspect
    import typing

    if pname in _BY_NAME:
        choices = ("relu", "gelu") if pname == "activation" else ()
        return frozenset(_BY_NAME[pname] | ({"none"} if default is None and pname != "dtype" else set())), choices
    out: set = set()
    choices: list = []

    def walk(a) -> None:
        origin = typing.get_origin(a)
        if a is inspect.Parameter.empty:
            return
        if origin is typing.Union or type(a).__name__ == "UnionType":
            for x in typing.get_args(a):
                walk(x)
        elif origin is typing.Literal:
            out.add("str")
            choices.extend(typing.get_args(a))
        elif origin in (tuple, list) or a in (tuple, list) or getattr(a, "__name__", "") == "Size":
            args = [x for x in typing.get_args(a) if x is not Ellipsis]
            out.add("floats" if float in args else "ints")
        elif a is type(None):
            out.add("none")
        elif a in (bool, int, float, str):
            out.add(a.__name__)
            if a is float:
                out.add("int")

    walk(ann)
    if not out:  # no usable annotation: go by the default
        if isinstance(default, bool):
            out.add("bool")
        elif isinstance(default, (int, float)):
            out |= {"int", "float"} if isinstance(default, float) else {"int"}
        elif isinstance(default, str):
            out.add("str")
        elif isinstance(default, tuple):
            out.add("ints")
    if default is None and out:
        out.add("none")
    if callable(default) and not out:
        out.add("str")
    if "float" in out:
        out.add("int")  # an int is a fine float (`p: 0`)
    if "floats" in out:
        out.add("ints")
    return frozenset(out), tuple(choices)
