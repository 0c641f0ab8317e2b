"""Every layer type a spec may name, declared in one place (no torch).

Each group states what its members share; a line adds what sets its members apart. The record's
fields are explained in record.py. Adding a layer type means adding a line here (or, at run time,
a record through `shapecli.layers.registered`); tests/test_layers.py checks each record has what
every pass needs.
"""
from __future__ import annotations

from shapecli.layers.record import (
    CHILDREN,
    NATIVE,
    NO_BIGGER,
    NO_GAIN,
    NO_PARAMS,
    RESETS,
    SCHEMES,
    TORCH_MODULE,
    UNGUARDED,
    Inferred,
    LayerType,
)

BUILTIN: dict[str, LayerType] = {}

# What a group's members share, unless a line says otherwise.
_TORCH = dict(export=TORCH_MODULE)
_COPIES = dict(copies=True, **_TORCH)  # a copy of the first reset is the layer constructed anew (tests/test_layers.py)
_GROUPS = {
    "activation": dict(init=NO_PARAMS, out_size=NO_BIGGER, gain=NO_GAIN, symbolic=NATIVE, **_COPIES),
    "linear": dict(init="linear", init_draws=True, out_size=UNGUARDED, symbolic=NATIVE, lazy_alias=True, **_COPIES),
    "conv": dict(init="linear", init_draws=True, symbolic=NATIVE, lazy_alias=True, **_COPIES),
    "norm": dict(init="norm", init_draws=False, out_size=NO_BIGGER, gain=RESETS, symbolic=NATIVE, **_COPIES),
    "pooling": dict(init=NO_PARAMS, out_size=NO_BIGGER, symbolic=NATIVE, **_COPIES),
    "padding": dict(init=NO_PARAMS, out_size="pad", symbolic=NATIVE, **_COPIES),
    "dropout": dict(init=NO_PARAMS, out_size=NO_BIGGER, symbolic="same", **_COPIES),
    "shape": dict(init=NO_PARAMS, out_size=NO_BIGGER, symbolic=NATIVE, **_COPIES),
    "embedding": dict(init="embedding", init_draws=True, dtype="ids", table=("num_embeddings", "embedding_dim"),
                      symbolic=NATIVE, **_COPIES),
    "recurrent": dict(init="rnn", init_draws=True, out_size=UNGUARDED, symbolic=NATIVE, lazy_alias=True, **_TORCH),
    "attention": dict(init="mha", init_draws=True, out_size=NO_BIGGER, symbolic=NATIVE, lazy_alias=True, **_TORCH),
    "transformer": dict(init=CHILDREN, init_draws=True, out_size=NO_BIGGER, symbolic=NATIVE, lazy_alias=True,
                        **_TORCH),
    "distance": dict(init=NO_PARAMS, out_size=NO_BIGGER, symbolic=NATIVE, inputs=2, **_COPIES),
    "glue": dict(glue=True, init=NO_PARAMS, out_size=NO_BIGGER, symbolic=NATIVE),  # export: a glue rule each
}

# The words for an inferred size in messages: "has 20 input features (last dim)".
_WORDS = {"in_features": "input features (last dim)", "in1_features": "features in input 1",
          "in2_features": "features in input 2", "in_channels": "input channels", "num_features": "features (dim 1)",
          "normalized_shape": "features in the last dim", "num_channels": "channels (dim 1)",
          "input_size": "input features (last dim)", "embed_dim": "embedding features (last dim)",
          "d_model": "features (last dim)"}


def _from(*pairs) -> tuple:
    """(arg, dim) pairs as Inferred records, in the words above."""
    return tuple(Inferred(a, d, _WORDS.get(a, a)) for a, d in pairs)


def _add(group: str, names: str, **kw) -> None:
    for n in names.split():
        fields = {**_GROUPS[group], **kw}
        if fields.get("inferred") and "dtype" not in fields:
            fields["dtype"] = "float"  # a size read from the data: integer ids would give a wrong one
        BUILTIN[n] = LayerType(n, group=group, **fields)


_SAME_SHAPE = dict(symbolic="same")
_add("activation", "ReLU ReLU6", gain=(("relu", None),), **_SAME_SHAPE)
_add("activation", "LeakyReLU", gain=(("leaky_relu", None),), **_SAME_SHAPE)
_add("activation", "PReLU", gain=(("leaky_relu", 0.25),), init="prelu", init_draws=False)  # a constant 0.25
_add("activation", "RReLU", gain=(("leaky_relu", (1 / 8 + 1 / 3) / 2),))  # the mean of its random slope
_add("activation", "ELU", **_SAME_SHAPE)
# torch's docs: for self-normalizing nets use nonlinearity='linear' (gain 1); 'selu' is 3/4.
_add("activation", "SELU", gain=(("linear", None), ("selu", None)), **_SAME_SHAPE)
_add("activation", "CELU GELU SiLU Mish", **_SAME_SHAPE)
_add("activation", "Sigmoid", gain=(("sigmoid", None),), **_SAME_SHAPE)
_add("activation", "Tanh", gain=(("tanh", None),), **_SAME_SHAPE)
_add("activation", "Softplus Softsign", **_SAME_SHAPE)
_add("activation", "Softshrink Hardshrink")
_add("activation", "Tanhshrink Hardtanh Hardsigmoid Hardswish LogSigmoid", **_SAME_SHAPE)
_add("activation", "Threshold GLU Softmax Softmin LogSoftmax Softmax2d")
_add("activation", "Identity", view=True)

_add("linear", "Linear", inferred=_from(("in_features", -1)), out_size="linear")
_add("linear", "Bilinear", inferred=_from(("in1_features", (0, -1)), ("in2_features", (1, -1))), inputs=2,
     init="bilinear")
_BATCHNORM_RANKS = {1: (2, 3), 2: (4,), 3: (5,)}
for _n in (1, 2, 3):
    _conv = dict(inferred=_from(("in_channels", "C")), spatial=_n, ranks=(_n + 1, _n + 2))
    _add("conv", f"Conv{_n}d", out_size="conv", **_conv)
    _add("conv", f"ConvTranspose{_n}d", out_size="conv_transpose", **_conv)
    _add("norm", f"BatchNorm{_n}d", inferred=_from(("num_features", 1)), ranks=_BATCHNORM_RANKS[_n],
         symbolic="batchnorm", lazy_alias=True)
    _add("norm", f"InstanceNorm{_n}d", inferred=_from(("num_features", "C")), spatial=_n, ranks=(_n + 1, _n + 2),
         lazy_alias=True)
    # ceil_mode's output size is a branch in PyTorch: the symbolic pass has a shape-only forward
    _add("pooling", f"MaxPool{_n}d AvgPool{_n}d", spatial=_n, symbolic="ceil_pool")
    _add("pooling", f"AdaptiveMaxPool{_n}d AdaptiveAvgPool{_n}d", spatial=_n, out_size=UNGUARDED)
    _add("pooling", f"LPPool{_n}d", spatial=_n)
    _add("padding", f"ZeroPad{_n}d ConstantPad{_n}d ReflectionPad{_n}d ReplicationPad{_n}d CircularPad{_n}d")
    _add("dropout", f"Dropout{_n}d")
_add("pooling", "FractionalMaxPool2d FractionalMaxPool3d", skip_args=("_random_samples",))
_add("norm", "LayerNorm", inferred=_from(("normalized_shape", -1)), symbolic="layernorm")
_add("norm", "RMSNorm", inferred=_from(("normalized_shape", -1)))
_add("norm", "GroupNorm", inferred=_from(("num_channels", 1)), symbolic="groupnorm")
_add("norm", "LocalResponseNorm CrossMapLRN2d", init=NO_PARAMS)
_add("dropout", "Dropout AlphaDropout FeatureAlphaDropout")
_add("shape", "Flatten Unflatten", view=True)
_add("shape", "Upsample UpsamplingNearest2d UpsamplingBilinear2d", out_size="upsample")
_add("shape", "PixelShuffle PixelUnshuffle ChannelShuffle")
_add("shape", "Fold Unfold", out_size=UNGUARDED)
_add("embedding", "Embedding", skip_args=("_weight", "_freeze"), out_size="embedding")
_add("embedding", "EmbeddingBag", skip_args=("_weight",), out_size=UNGUARDED)
_rnn = dict(inferred=_from(("input_size", -1)), max_inputs=2)  # (x, h0): `in: [x, h0]`
_add("recurrent", "RNN", signature_of="RNNBase", tuple_output=True, symbolic="rnn",
     extra_params=(("hidden_size", "nonlinearity", ("str",), "tanh", ("tanh", "relu")),), **_rnn)
_add("recurrent", "LSTM GRU", signature_of="RNNBase", tuple_output=True, symbolic="rnn", **_rnn)
_add("recurrent", "RNNCell GRUCell", **_rnn)
_add("recurrent", "LSTMCell", tuple_output=True, **_rnn)
_add("attention", "MultiheadAttention", inferred=_from(("embed_dim", -1)), inputs=3, tuple_output=True)
_add("transformer", "TransformerEncoderLayer", inferred=_from(("d_model", -1)))
_add("transformer", "TransformerDecoderLayer", inferred=_from(("d_model", -1)), inputs=2)
_add("transformer", "Transformer", inferred=_from(("d_model", -1)), inputs=2, init="transformer",
     skip_args=("custom_encoder", "custom_decoder"))
_add("distance", "CosineSimilarity PairwiseDistance")

# shapecli's own glue layers (model/glue.py), documented in docs/spec.md; `export` names the glue
# rule of export/gluecode.py that writes each as plain PyTorch.
_add("glue", "Item", view=True, takes_tuple=True, export="item")
_add("glue", "Select", view=True, export="select")
_add("glue", "Permute", view=True, list_arg="dims", export="permute")
_add("glue", "Transpose", view=True, export="transpose")
_add("glue", "Reshape", view=True, list_arg="shape", export="reshape")
_add("glue", "Mean", export="mean")
_add("glue", "ClassToken", inferred=_from(("embed_dim", -1)), out_size=UNGUARDED, init=SCHEMES,
     init_schemes=(("token", "zeros", ()),), init_draws=False, export="class_token")
_add("glue", "PositionalEmbedding", inferred=_from(("embed_dim", -1), ("num_positions", -2)),
     loose=("num_positions",), init=SCHEMES, init_schemes=(("weight", "normal", (("std", 0.02),)),), init_draws=True,
     export="positional_embedding")
_add("glue", "SelfAttention", inferred=_from(("embed_dim", -1)), init="mha", init_draws=True, export="self_attention")
_add("glue", "CausalMask", out_size=UNGUARDED, batchless=True,  # [T, T] from [B, T, ...]: may be bigger than its input
     export="causal_mask")

# Containers: written with their own syntax (docs/spec.md), built by model/build.py's build().
CONTAINERS = ("Sequential", "Residual", "Concat", "Add", "Multiply")
MERGES = ("Residual", "Concat", "Add", "Multiply")  # containers whose output is a new tensor

ALIASES: dict[str, str] = {"Lazy" + n: n for n, lt in BUILTIN.items() if lt.lazy_alias}  # LazyLinear -> Linear

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
