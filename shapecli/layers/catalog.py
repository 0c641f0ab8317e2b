"""Every layer type a spec may name, declared in one place (no torch).

An inferred argument is one whose value comes from the data: `("in_features", -1)` reads it
from the input's last dimension; `("in_channels", "C")` from the channel dim of an N-d
conv input (works batched or unbatched).
"""
from __future__ import annotations

from shapecli.layers.record import LayerType

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
