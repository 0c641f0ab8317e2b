"""Data flow beyond one tensor (spec/flow.py, model/flow.py): named inputs, `in:`, `out:`, merges of named
tensors, CausalMask; each checked against the same computation written in plain torch."""
import pytest
import torch
from conftest import ROOT
from torch import nn

import shapecli
from shapecli.errors import ShapeError, SpecError, UsageError
from shapecli.spec.inputs import parse_input_text

TWO = "input:\n  a: [2, 10]\n  b: {shape: [2, 10], dtype: float64}\nlayers:\n"


def build(text: str, **kw):
    return shapecli.materialize(shapecli.parse_spec(text, "x.yaml"), **kw)


def test_named_inputs_and_in_out_resolve_to_tape_keys():
    spec = shapecli.parse_spec(
        "input:\n  src: {shape: [2, 7], dtype: int64}\n  h0: [1, 2, 8]\nlayers:\n"
        "  - Embedding: [10, 4]\n    in: src\n"
        "  - GRU: {hidden_size: 8, batch_first: true}\n    in: [input, h0]\n    out: [_, h]\n"
        "  - Linear: 3\n    in: h\n", "x.yaml")
    assert [(i.name, i.shape, i.dtype) for i in spec.inputs] == [("src", [2, 7], "int64"), ("h0", [1, 2, 8], "float32")]
    nodes = {n.path: n for n in spec.nodes() if n.path}
    assert nodes["0"].ins == [":src"]
    assert nodes["1"].ins == ["input", ":h0"] and nodes["1"].outs == [(1, "h")]
    assert nodes["2"].ins == ["1:1"]


def test_gru_initial_state_is_what_torch_computes():
    model, report = build(
        "input:\n  x: [2, 5, 6]\n  h0: [1, 2, 8]\nlayers:\n"
        "  - GRU: {hidden_size: 8, batch_first: true}\n    in: [x, h0]\n  - Item: 1\n")
    x, h0 = torch.randn(2, 5, 6), torch.randn(1, 2, 8)
    with torch.no_grad():
        assert torch.equal(model(x, h0), model[0](x, h0)[1])
        assert not torch.equal(model(x, h0), model[0](x)[1])  # h0 reached it
    assert report.runs[0].output.shape == [1, 2, 8]


def test_attention_masks_by_keyword():
    model, _ = build(
        "input:\n  q: [2, 3, 8]\n  kv: [2, 5, 8]\n  pad: {shape: [2, 5], dtype: bool}\nlayers:\n"
        "  - MultiheadAttention: {num_heads: 2, batch_first: true}\n"
        "    in: {query: q, key: kv, value: kv, key_padding_mask: pad}\n  - Item: 0\n")
    q, kv = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    pad = torch.zeros(2, 5, dtype=torch.bool)
    pad[0, 3:] = True
    mha = model[0]
    with torch.no_grad():
        want = mha(q, kv, kv, key_padding_mask=pad)[0]
        assert torch.equal(model(q, kv, pad), want)
        assert not torch.allclose(model(q, kv, torch.zeros_like(pad)), want)


def test_repeated_decoder_layers_all_read_the_memory_and_the_causal_mask():
    model, _ = build(
        "input:\n  tgt: [2, 4, 8]\n  memory: [2, 6, 8]\nlayers:\n"
        "  - CausalMask:\n    name: mask\n    in: tgt\n"
        "  - TransformerDecoderLayer: {nhead: 2, dim_feedforward: 16, dropout: 0.0, batch_first: true}\n"
        "    repeat: 3\n    name: dec\n    in: {tgt: tgt, memory: memory, tgt_mask: mask}\n")
    tgt, mem = torch.randn(2, 4, 8), torch.randn(2, 6, 8)
    mask = nn.Transformer.generate_square_subsequent_mask(4)
    model.eval()
    with torch.no_grad():
        # every copy reads the input tgt here (in: names tgt, not input): the last copy's output is what counts
        assert torch.allclose(model(tgt, mem), model.dec[2](tgt, mem, tgt_mask=mask), atol=1e-6)
        assert not torch.allclose(model(tgt, mem), model.dec[2](tgt, mem), atol=1e-4)


def test_repeated_item_reading_input_chains_the_copies():
    model, _ = build(
        "input:\n  x: [2, 4, 8]\n  memory: [2, 6, 8]\nlayers:\n"
        "  - TransformerDecoderLayer: {nhead: 2, dim_feedforward: 16, dropout: 0.0, batch_first: true}\n"
        "    repeat: 2\n    name: dec\n    in: [x, memory]\n"
        "  - TransformerDecoderLayer: {nhead: 2, dim_feedforward: 16, dropout: 0.0, batch_first: true}\n"
        "    repeat: 2\n    name: dec2\n    in: [input, memory]\n")
    x, mem = torch.randn(2, 4, 8), torch.randn(2, 6, 8)
    model.eval()
    with torch.no_grad():
        y = model.dec[1](x, mem)
        want = model.dec2[1](model.dec2[0](y, mem), mem)
        assert torch.allclose(model(x, mem), want, atol=1e-6)


def test_causal_mask_is_torchs():
    model, report = build("input: {shape: [2, 5], dtype: int64}\nlayers:\n  - CausalMask\n")
    assert torch.equal(model(torch.zeros(2, 5, dtype=torch.long)), nn.Transformer.generate_square_subsequent_mask(5))
    assert report.runs[0].output.shape == [5, 5]


def test_merges_of_named_tensors_keep_the_order_of_in():
    model, report = build(TWO.replace("dtype: float64", "dtype: float32")
                          + "  - Concat: {dim: 1}\n    in: [b, a]\n  - Add:\n    in: [input, input]\n")
    a, b = torch.randn(2, 10), torch.randn(2, 10)
    assert torch.equal(model(a, b), 2 * torch.cat([b, a], dim=1))
    assert report.runs[0].output.shape == [2, 20]


def test_the_tape_is_empty_after_a_call_and_after_a_failing_one():
    model, _ = build(TWO.replace("dtype: float64", "dtype: float32") + "  - Add:\n    in: [a, b]\n")
    a = torch.randn(2, 10)
    model(a, a)
    tape = model._tape
    assert tape == {}
    with pytest.raises(ShapeError):
        model(a, torch.randn(2, 3))
    assert tape == {}


def test_reading_input_on_the_first_item_of_several_inputs_says_to_name_them():
    with pytest.raises(ShapeError) as e:
        build("input: [[2, 10], [2, 10]]\nlayers:\n  - Linear: 4\n    in: [input]\n")
    assert "it is the first item and gets 2 tensors; name the inputs and read them by name" in str(e.value)


def test_input_by_name_in_any_order_keeps_the_rest():
    spec = shapecli.parse_spec(TWO + "  - ReLU:\n    in: a\n", "x.yaml")
    got = parse_input_text("b=B,T=7; a=3,10", spec.inputs)
    assert [(i.name, i.shape, i.dtype) for i in got] == [("a", [3, 10], "float32"), ("b", [2, 7], "float64")]
    got = parse_input_text("b=4,10", spec.inputs)
    assert [(i.shape, i.dtype) for i in got] == [([2, 10], "float32"), ([4, 10], "float64")]
    with pytest.raises(UsageError) as e:
        parse_input_text("b=4,10;a=2,10;b=2,10", spec.inputs)
    assert "b is given twice" in str(e.value)
    assert [i.shape for i in parse_input_text("5,10;6,10", spec.inputs)] == [[5, 10], [6, 10]]  # in order


def test_api_takes_named_inputs_as_a_dict():
    path = str(ROOT / "configs" / "gru_seq2seq.yaml")
    report = shapecli.inspect(path, inputs={"tgt": (3, 4), "src": "3,5"}, stats=False)
    assert [(i.shape, i.dtype) for i in report.runs[0].inputs] == [([3, 5], "int64"), ([3, 4], "int64")]
    assert report.runs[0].output.shape == [3, 4, 1000]


def test_symbolic_pass_on_an_encoder_decoder():
    report = shapecli.inspect(str(ROOT / "configs" / "transformer_encdec.yaml"), "src=B,S=12;tgt=B,T=9",
                              stats=False)
    assert report.symbolic is not None
    layers = {lay.path: lay for lay in report.layers}
    assert layers["head"].symbolic.shape == ["B", "T", "1000"]
    assert not [d for d in report.diagnostics if d.code == "batch-folded"]  # the [T, T] mask has no batch by design
    assert layers["tgt_mask"].symbolic.shape == ["T", "T"]


def test_out_errors_are_at_the_item():
    with pytest.raises(ShapeError) as e:
        build("input: [2, 5, 16]\nlayers:\n  - GRU: {hidden_size: 8, batch_first: true}\n    out: [y, h, c]\n"
              "  - Linear: 4\n    in: c\n")
    assert [str(p) for p in e.value.problems] == ["x.yaml:3:5: error: layer 0 (GRU): `out:` names 3 outputs, but it returns 2"]
    with pytest.raises(SpecError) as e:
        shapecli.parse_spec("input: [2, 5]\nlayers:\n  - Linear: 4\n    out: y\n", "x.yaml")
    assert "Linear returns one tensor; name it with `name:`" in str(e.value)


def test_a_bare_layer_followed_by_in_says_to_add_a_colon():
    with pytest.raises(SpecError) as e:
        shapecli.parse_spec(TWO + "  - ReLU\n    in: a\n", "x.yaml")
    assert "write `- ReLU:` with a colon and `in: a` under it, aligned with `ReLU`" in str(e.value)
