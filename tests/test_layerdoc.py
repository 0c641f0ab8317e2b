"""layerdoc: each layer type's detail (PyTorch's defaults, allowed values, where inferred arguments come from,
PyTorch's help, an example item) as plain data, and `shapecli layers [NAME]` built on it."""
import json

import pytest

import shapecli
from shapecli import layerdoc
from shapecli import layers as registry
from shapecli.model.args import bind_all
from shapecli.render.layers import detail_text

ALL = sorted(registry.REGISTRY)


def test_pytorch_defaults_not_none_for_callables():
    for name in ("TransformerEncoderLayer", "TransformerDecoderLayer", "Transformer"):
        act = next(a for a in layerdoc.detail(name).args if a.name == "activation")
        assert act.default == "relu" and act.choices == ["relu", "gelu"]
        assert "activation='relu'" in layerdoc.detail(name).signature


def test_tuple_defaults_are_lists_and_every_default_is_json():
    for d in layerdoc.details():
        json.dumps(d.as_dict())  # no function, dtype or tuple objects leak out
    eps = next(a for a in layerdoc.detail("LayerNorm").args if a.name == "eps")
    assert eps.default == 1e-05


def test_signature_marks_inferred_arguments_and_shows_defaults():
    assert layerdoc.detail("Linear").signature == "Linear(*in_features, out_features, bias=True, dtype=None)"
    assert layerdoc.detail("LazyConv2d").name == "Conv2d"  # aliases resolve
    assert layerdoc.detail("Conv2d").aliases == ["LazyConv2d"]


@pytest.mark.parametrize("name, arg, where", [
    ("Linear", "in_features", "the input's last dimension (dim -1)"),
    ("Conv2d", "in_channels", "the channel dimension (dim -3): C of [N, C, H, W], or of [C, H, W] unbatched"),
    ("Conv1d", "in_channels", "the channel dimension (dim -2): C of [N, C, W], or of [C, W] unbatched"),
    ("BatchNorm2d", "num_features", "dim 1 of the input (C of [N, C, ...])"),
    ("Bilinear", "in2_features", "the last dimension of input 1"),
    ("PositionalEmbedding", "num_positions", "dim -2 of the input (N of [B, N, D]); may be given larger (the table's size)"),
])
def test_inferred_arguments_say_which_dimension(name, arg, where):
    a = next(a for a in layerdoc.detail(name).args if a.name == arg)
    assert a.inferred and not a.required and a.inferred_from == where


def test_descriptions_come_from_pytorchs_docstrings():
    d = layerdoc.detail("Conv2d")
    assert d.summary == "Applies a 2D convolution over an input signal composed of several input planes."
    helps = {a.name: a.description for a in d.args}
    assert helps["out_channels"] == "Number of channels produced by the convolution"
    assert helps["padding_mode"] == "'zeros', 'reflect', 'replicate' or 'circular'. Default: 'zeros'"
    lstm = layerdoc.detail("LSTM")  # its docstring opens with a call signature: skipped
    assert lstm.summary.startswith("Apply a multi-layer long short-term memory (LSTM) RNN")
    assert {a.name: a.description for a in lstm.args}["hidden_size"] == "The number of features in the hidden state h"
    # SelfAttention (glue) inherits MultiheadAttention's argument help
    assert "split across num_heads" in {a.name: a.description for a in layerdoc.detail("SelfAttention").args}["num_heads"]


def test_parse_docstring_cleans_rst():
    summary, args = layerdoc.parse_docstring(
        "Applies :math:`y = x` to :attr:`input`.\n\n    Args:\n        p (float, optional): the ``p``, see\n"
        "            :ref:`this<target>`. Default: ``0.5``\n        q: other\n\n    Shape:\n        - Input: x\n")
    assert summary == "Applies y = x to input."
    assert args == {"p": "the p, see this. Default: 0.5", "q": "other"}


def test_every_layer_has_a_summary_where_pytorch_gives_one():
    missing = [d.name for d in layerdoc.details() if not d.summary]
    assert missing == ["CrossMapLRN2d"]  # torch.nn.CrossMapLRN2d has no docstring


@pytest.mark.parametrize("name", ALL)
def test_example_item_parses_and_binds(name):
    d = layerdoc.detail(name)
    assert d.example.startswith(f"- {name}")
    spec = shapecli.parse_spec(f"input: [2, 3, 8, 8]\nlayers:\n  {d.example}\n", "example.yaml")
    assert list(bind_all(spec)) == ["0"]


def test_string_choices_are_complete_and_accepted_by_torch():
    """Every `str` argument lists its values, and torch builds the layer with each of them."""
    from torch import nn

    required = {"out_channels": 4, "kernel_size": 3, "num_embeddings": 10, "embedding_dim": 4, "hidden_size": 4,
                "input_size": 4, "in_channels": 4, "d_model": 8, "nhead": 2}
    for d in layerdoc.details():
        for a in d.args:
            if a.type.split(" | ").count("str") and not a.choices:
                pytest.fail(f"{d.name}.{a.name} takes a string but lists no allowed values")
            if d.glue or not a.choices:
                continue
            cls = getattr(nn, d.name)
            base = {x.name: required[x.name] for x in d.args if (x.required or x.inferred) and x.name in required}
            for value in a.choices:
                if a.name == "padding" and value == "same":
                    base = {**base, "stride": 1}
                cls(**base, **{a.name: value})  # raises if torch refuses the value


def test_unknown_choice_is_refused_by_torch():
    """The check above can fail: torch does refuse a value outside the list."""
    from torch import nn

    with pytest.raises(ValueError):
        nn.Conv2d(4, 4, 3, padding_mode="mirror")


def test_detail_text_shows_everything(cli):
    code, out, err = cli("layers", "TransformerEncoderLayer")
    assert code == 0, err
    assert "Signature: TransformerEncoderLayer(*d_model, nhead, dim_feedforward=2048, dropout=0.1, activation='relu'," in out
    assert "  d_model (int): inferred from the input's last dimension (dim -1)\n" in out
    assert "  activation (str): default 'relu'\n      one of: relu, gelu\n" in out
    assert "Example:\n  - TransformerEncoderLayer: 4\n" in out
    assert out == detail_text(layerdoc.detail("TransformerEncoderLayer"), 100)


def test_listing_shows_pytorchs_defaults(cli):
    code, out, _ = cli("layers")
    assert code == 0
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("TransformerEncoderLayer "))
    assert "activation='relu'" in line and "activation=None" not in line


def test_json_is_the_same_data(cli):
    code, out, _ = cli("layers", "Conv2d", "--json")
    assert code == 0
    (row,) = json.loads(out)
    assert row == layerdoc.detail("Conv2d").as_dict()
    pm = next(a for a in row["args"] if a["name"] == "padding_mode")
    assert pm["default"] == "zeros" and pm["choices"] == ["zeros", "reflect", "replicate", "circular"]
    code, out, _ = cli("layers", "--json")
    assert [r["name"] for r in json.loads(out)] == [d.name for d in layerdoc.details()]


def test_unknown_and_container_names(cli):
    code, _, err = cli("layers", "Conv2")
    assert code == 2 and "did you mean Conv2d" in err
    code, out, _ = cli("layers", "Residual")
    assert code == 0 and out == "Residual: a container; see docs/spec.md\n"
    with pytest.raises(KeyError):
        layerdoc.detail("Residual")
