"""Owned tensors: `Parameter:`/`Buffer:` items (spec/tensors.py, model/owned.py), in the model, the
report, checkpoints and torchvision's ViT-B/16; and GPT-2's causal mask as a buffer."""
import json

import pytest
import torch
from conftest import ROOT

import shapecli
from shapecli.baseline.checkpoint import Entry, compare_checkpoint, expected_entries
from shapecli.errors import ShapeError
from shapecli.spec.parser import parse_spec

SPEC = """\
input: [2, 5, 8]
layers:
  - Linear: 8
  - Parameter: {shape: [1, 1, _], init: {normal: {std: 0.02}}}
    name: cls
  - Concat: {from: [cls, input]}
  - Sequential:
      - Parameter: {shape: [1, _, _]}
        name: pos
      - Add: {from: pos}
      - Buffer: {shape: [1, 6], dtype: int64, init: arange, persistent: false}
        name: ids
      - Buffer: {shape: [4], init: ones}
        name: table
      - Linear: 4
    name: enc
"""


def _spec(text=SPEC):
    return parse_spec(text, "t.yaml")


def test_a_tensor_item_takes_no_index_and_is_named_by_its_container():
    spec = _spec()
    nodes = {n.path: n for n in spec.nodes()}
    assert [c.key for c in spec.root.children] == ["0", "cls", "1", "enc"]
    assert [c.key for c in nodes["enc"].children] == ["pos", "0", "ids", "table", "1"]
    d = nodes["enc.ids"].tensor
    assert (d.kind, d.shape, d.dtype, d.fill, d.persistent) == ("Buffer", (1, 6), "int64", "arange", False)
    assert nodes["cls"].tensor.shape == (1, 1, None)
    assert nodes["cls"].tensor.init.describe() == "normal(std=0.02)"
    assert nodes["enc.pos"].tensor.describe() == "zeros"


def test_the_model_registers_them_first_on_their_container_with_sizes_from_the_data():
    model, _ = shapecli.materialize(_spec(), device="cpu")
    assert [(n, list(p.shape)) for n, p in model.named_parameters()] == [
        ("cls", [1, 1, 8]), ("0.weight", [8, 8]), ("0.bias", [8]), ("enc.pos", [1, 6, 8]),
        ("enc.1.weight", [4, 8]), ("enc.1.bias", [4])]
    assert [(n, list(b.shape), b.dtype) for n, b in model.named_buffers()] == [
        ("enc.ids", [1, 6], torch.int64), ("enc.table", [4], torch.float32)]
    assert "enc.ids" not in model.state_dict() and "enc.table" in model.state_dict()
    assert model.enc.ids.tolist() == [[0, 1, 2, 3, 4, 5]]
    assert torch.equal(model.enc.pos, torch.zeros(1, 6, 8)) and torch.equal(model.enc.table, torch.ones(4))
    assert model(torch.randn(3, 5, 8)).shape == (3, 6, 4)  # the class token is expanded over any batch
    assert all(getattr(m, "_build", None) is None for m in model.modules())  # no reference to the build


def test_normal_init_draws_with_the_seed_and_freeze_holds():
    text = SPEC.replace("name: cls\n", "name: cls\n    freeze: true\n")
    a, _ = shapecli.materialize(_spec(text), device="cpu", seed=1)
    b, _ = shapecli.materialize(_spec(text), device="cpu", seed=1)
    assert torch.equal(a.cls, b.cls) and not a.cls.requires_grad and a.enc.pos.requires_grad
    assert 0.0 < a.cls.std().item() < 0.05


def test_before_data_they_are_uninitialized_as_pytorchs_lazy_modules_show_theirs():
    model = shapecli.build(_spec())
    params = dict(model.named_parameters())
    assert isinstance(params["cls"], torch.nn.UninitializedParameter)
    assert isinstance(dict(model.named_buffers())["enc.ids"], torch.nn.UninitializedBuffer)
    with pytest.raises(ValueError):
        sum(p.numel() for p in model.parameters())


def test_the_report_lists_them_as_rows_with_their_shapes_and_a_buffers_persistence():
    report = shapecli.inspect(_spec(), device="cpu")
    rows = {lay.path: lay for lay in report.layers}
    assert (rows["cls"].type, rows["cls"].params, rows["cls"].output_shapes[0].shape) == ("Parameter", 8, [1, 1, 8])
    assert rows["cls"].inferred == {"shape": [1, 1, 8]}
    assert rows["enc"].params == 48 + 36
    assert [(b.name, b.layer, b.persistent) for b in report.buffers] == [("enc.ids", "enc.ids", False),
                                                                         ("enc.table", "enc.table", True)]
    cls = next(p for p in report.params if p.name == "cls")
    assert (cls.layer, cls.init.scheme) == ("cls", "normal(std=0.02)")
    doc = json.loads(json.dumps(report.to_dict()))
    assert doc["buffers"][0]["persistent"] is False
    text = str(report)
    assert "cls (Parameter)" in text and "ids (Buffer)" in text


def test_a_baseline_writes_persistent_false_and_check_sees_it_change(tmp_path):
    from shapecli.baseline.changes import compare
    from shapecli.baseline.document import INPUT_FROM_SPEC, from_report

    def document(report):
        return from_report(report, input_source=INPUT_FROM_SPEC, sets={}, spec_ref="t.yaml")

    old = document(shapecli.inspect(_spec(), device="meta"))
    assert [b.get("persistent", True) for b in old["buffers"]] == [False, True]
    assert "persistent" not in old["buffers"][1]  # written only where it is false: other baselines keep their bytes
    new = document(shapecli.inspect(_spec(SPEC.replace("persistent: false", "persistent: true")), device="meta"))
    changes = compare(old, new)
    assert [(c.path, [(d.what, d.old, d.new) for d in c.details]) for c in changes] == [
        ("enc.ids", [("ids", "not persistent", "persistent")])]


def test_a_checkpoint_check_expects_persistent_buffers_only():
    model, report = shapecli.materialize(_spec(), device="cpu")
    assert sorted(e[0] for e in expected_entries(report)) == sorted(model.state_dict())
    entries = [Entry(k, list(v.shape), str(v.dtype).replace("torch.", "")) for k, v in model.state_dict().items()]
    assert compare_checkpoint(report, entries) == []
    (change,) = compare_checkpoint(report, [e for e in entries if e.name != "cls"])
    assert (change.path, change.details[0].what, change.details[0].old) == ("cls", "cls", "missing")


def test_vit_b16_has_torchvisions_state_dict():
    ref = json.loads((ROOT / "tests" / "fixtures" / "torchvision-state-dicts" / "vit_b16.json").read_text())
    model, report = shapecli.materialize(ROOT / "configs" / "vit_b16.yaml", device="meta")
    got = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()]
    assert got == ref["state_dict"]
    assert report.totals.params == 86_567_656
    assert [p.name for p in report.params][:4] == ["class_token", "conv_proj.weight", "conv_proj.bias",
                                                   "encoder.pos_embedding"]


def test_gpt2s_causal_mask_is_a_non_persistent_buffer():
    model, report = shapecli.materialize(ROOT / "configs" / "gpt2_small.yaml", device="meta")
    masks = [(b.name, b.shape, b.dtype, b.persistent) for b in report.buffers]
    assert len(masks) == 12 and masks[0] == ("h.0.0.body.1.mask", [1024, 1024], "bool", False)
    assert not any(k.endswith(".mask") for k in model.state_dict())


def test_causal_attention_with_max_len_keeps_the_mask_and_refuses_longer_inputs():
    text = "input: [2, 6, 16]\nlayers:\n  - SelfAttention: {num_heads: 2, causal: true, max_len: 8}\n"
    model, _ = shapecli.materialize(parse_spec(text), device="cpu")
    x = torch.randn(2, 6, 16)
    ref = torch.nn.MultiheadAttention(16, 2, batch_first=True)
    ref.load_state_dict(model[0].state_dict())
    want = ref(x, x, x, need_weights=False, attn_mask=torch.ones(6, 6, dtype=torch.bool).triu(1))[0]
    assert torch.allclose(model(x), want)
    assert model[0].mask.shape == (8, 8) and "0.mask" not in model.state_dict()
    with pytest.raises(ShapeError, match="the causal mask covers 8"):
        shapecli.materialize(parse_spec(text), shapecli.parse_input("2,9,16"), device="cpu")
