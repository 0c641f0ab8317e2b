"""shapecli/model: a Spec built into a lazy nn.Module (argument binding, inferred sizes, the meta shape memo).

Every layer family whose size is inferred is checked against a hand-written explicit-size PyTorch twin, and
the model zoo (configs/*.yaml) against hand-written twins (tests/twins.py): every config must load, build
and materialize (a new config is picked up by the glob). Each config with a twin must produce the twin's
parameter names (in order), shapes, trainability and output shape, and the published parameter total where
there is one. Big networks are materialized on the meta device (shapes only) to keep the suite fast.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import shapecli
from shapecli.errors import ShapeError, SpecError

from conftest import CONFIGS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from twins import TWINS, param_total  # noqa: E402


def test_build_is_lazy_until_data_arrives():
    spec = shapecli.load_spec(CONFIGS / "mlp.yaml")
    model = shapecli.build(spec)
    # no values before the data: uninitialized parameters, as torch's lazy modules have (tests/test_plain.py)
    assert all(isinstance(p, nn.parameter.UninitializedParameter) for p in model.parameters())
    out = model(torch.randn(3, 20))
    assert out.shape == (3, 10)
    assert [tuple(p.shape) for p in model.parameters()] == [(256, 20), (256,), (10, 256), (10,)]
    assert isinstance(model[0], nn.Linear)


def test_exercise_batch_change_ok_feature_change_fails_in_spec_terms():
    _, r = shapecli.materialize(CONFIGS / "mlp.yaml", ["2,20", "5,20", "2,30"])
    assert [x.output.shape if x.output else None for x in r.runs] == [[2, 10], [5, 10], None]
    assert r.runs[2].error_layer == "0 (Linear)"
    assert r.runs[2].error == "was materialized for 20 input features (last dim); this input has 30"
    # per-layer outputs for each input
    first = r.layers[0]
    assert [o.shape if o else None for o in first.output_shapes] == [[2, 256], [5, 256], None]


def test_first_input_that_does_not_fit_is_a_shape_error():
    spec = shapecli.parse_spec("input: [2, 3, 8, 8]\nlayers:\n  - Flatten\n  - Conv2d: [4, 3]\n", "x.yaml")
    with pytest.raises(ShapeError) as e:
        shapecli.materialize(spec)
    p = e.value.problems[0]
    assert (p.loc.line, p.loc.col) == (4, 5)
    assert p.layer == "1 (Conv2d)"
    assert "expects a 4-D input [N, C, H, W]" in p.message and "[2, 192]" in p.message


def test_given_inferred_size_is_checked():
    spec = shapecli.parse_spec("input: [2, 20]\nlayers:\n  - Linear: {in_features: 30, out_features: 4}\n", "x.yaml")
    with pytest.raises(ShapeError, match=r"in_features=30 was given, but its input \[2, 20\] has 20"):
        shapecli.materialize(spec)
    spec = shapecli.parse_spec("input: [2, 20]\nlayers:\n  - Linear: {in_features: 20, out_features: 4}\n", "x.yaml")
    assert shapecli.inspect(spec).params[0].shape == [4, 20]


def test_argument_problems_are_all_reported_with_positions():
    spec = shapecli.parse_spec("input: [2, 3]\nlayers:\n  - ReLU: {inplace: yes}\n  - Conv2d: {out_chanels: 3, kernel_size: 3}\n  - Linear: true\n", "x.yaml")
    with pytest.raises(SpecError) as e:
        shapecli.build(spec)
    msgs = [str(p) for p in e.value.problems]
    assert msgs[0] == "x.yaml:3:21: error: layer 0 (ReLU): inplace: expected bool, got the string 'yes' (YAML 1.2: write true or false)"
    assert any(m.startswith("x.yaml:4:14: error: layer 1 (Conv2d): Conv2d has no argument 'out_chanels' (did you mean out_channels") for m in msgs)
    assert any(m.startswith("x.yaml:4:5: error: layer 1 (Conv2d): Conv2d needs out_channels") for m in msgs)
    assert any("layer 2 (Linear): out_features: expected int, got the boolean true" in m for m in msgs)


def _leaf_outputs(spec) -> tuple[list, int]:
    """(path, shape, stride, dtype) of every leaf layer's output in a first pass on meta, and how
    many distinct cases the shape memo ran."""
    from shapecli.model import lazy as M
    from shapecli.model.build import build
    from shapecli.fastmeta import fast_meta
    from shapecli.run.inputs import make_inputs

    ctx = M.BuildContext()
    net = build(spec, ctx)
    seen = []

    def desc(o):
        if isinstance(o, torch.Tensor):
            return (tuple(o.shape), o.stride(), o.dtype)
        return tuple(desc(x) for x in o) if isinstance(o, (tuple, list)) else o

    for n in spec.nodes():
        if n.path and not n.is_container and not n.is_tensor:  # a Parameter/Buffer item is no module
            net.get_submodule(n.path).register_forward_hook(lambda m, i, o, p=n.path: seen.append((p, desc(o))))
    with torch.no_grad(), fast_meta():
        net(*make_inputs(spec.inputs, "meta", 0))
    return seen, len(ctx.memo)


@pytest.mark.parametrize("config", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_meta_shape_memo_changes_no_output(config, monkeypatch):
    """Each leaf's output (shape, strides, dtype) is the same whether the memo answers or the
    layer runs; for GPT-2's twelve identical blocks the memo runs each kind of layer once."""
    spec = shapecli.load_spec(CONFIGS / config)
    memo, cases = _leaf_outputs(spec)
    monkeypatch.setattr("shapecli.model.lazy._memo_forward", lambda layer, xs: layer.real(*xs))
    plain, _ = _leaf_outputs(spec)
    assert memo == plain
    if config == "gpt2_small.yaml":
        assert cases < 15 < len(memo)


# (spec item, input shape(s), explicit-size twin)
CASES = [
    ("Linear: 7", [2, 5], lambda: nn.Linear(5, 7)),
    ("Linear: {out_features: 7, bias: false}", [2, 3, 5], lambda: nn.Linear(5, 7, bias=False)),
    ("LazyLinear: 7", [2, 5], lambda: nn.Linear(5, 7)),
    ("Bilinear: 4", [[2, 5], [2, 6]], lambda: nn.Bilinear(5, 6, 4)),
    ("Conv1d: [8, 3]", [2, 4, 16], lambda: nn.Conv1d(4, 8, 3)),
    ("Conv1d: [8, 3]", [4, 16], lambda: nn.Conv1d(4, 8, 3)),  # unbatched
    ("Conv2d: {out_channels: 8, kernel_size: 3, stride: 2, groups: 2}", [2, 4, 9, 9], lambda: nn.Conv2d(4, 8, 3, 2, groups=2)),
    ("Conv3d: [8, [1, 3, 3]]", [1, 3, 4, 8, 8], lambda: nn.Conv3d(3, 8, (1, 3, 3))),
    ("ConvTranspose1d: [8, 3]", [2, 4, 16], lambda: nn.ConvTranspose1d(4, 8, 3)),
    ("ConvTranspose2d: {out_channels: 6, kernel_size: 2, stride: 2, groups: 3}", [2, 3, 5, 5], lambda: nn.ConvTranspose2d(3, 6, 2, 2, groups=3)),
    ("ConvTranspose3d: [2, 3]", [1, 4, 4, 4, 4], lambda: nn.ConvTranspose3d(4, 2, 3)),
    ("LazyConv2d: [8, 3]", [2, 4, 9, 9], lambda: nn.Conv2d(4, 8, 3)),
    ("BatchNorm1d", [4, 6], lambda: nn.BatchNorm1d(6)),
    ("BatchNorm1d", [4, 6, 10], lambda: nn.BatchNorm1d(6)),
    ("BatchNorm2d", [2, 6, 4, 4], lambda: nn.BatchNorm2d(6)),
    ("BatchNorm3d", [2, 6, 2, 4, 4], lambda: nn.BatchNorm3d(6)),
    ("InstanceNorm1d: {affine: true}", [2, 6, 10], lambda: nn.InstanceNorm1d(6, affine=True)),
    ("InstanceNorm2d: {affine: true, track_running_stats: true}", [2, 6, 4, 4], lambda: nn.InstanceNorm2d(6, affine=True, track_running_stats=True)),
    ("InstanceNorm3d: {affine: true}", [2, 6, 2, 4, 4], lambda: nn.InstanceNorm3d(6, affine=True)),
    ("LayerNorm", [2, 7, 12], lambda: nn.LayerNorm(12)),
    ("LayerNorm: {normalized_shape: [7, 12]}", [2, 7, 12], lambda: nn.LayerNorm([7, 12])),
    ("RMSNorm", [2, 7, 12], lambda: nn.RMSNorm(12)),
    ("GroupNorm: 3", [2, 6, 4, 4], lambda: nn.GroupNorm(3, 6)),
    ("RNN: {hidden_size: 9, num_layers: 2, batch_first: true}", [2, 5, 4], lambda: nn.RNN(4, 9, 2, batch_first=True)),
    ("LSTM: {hidden_size: 9, bidirectional: true, proj_size: 3}", [5, 2, 4], lambda: nn.LSTM(4, 9, bidirectional=True, proj_size=3)),
    ("GRU: 9", [5, 2, 4], lambda: nn.GRU(4, 9)),
    ("RNNCell: 9", [2, 4], lambda: nn.RNNCell(4, 9)),
    ("LSTMCell: 9", [2, 4], lambda: nn.LSTMCell(4, 9)),
    ("GRUCell: 9", [2, 4], lambda: nn.GRUCell(4, 9)),
    ("MultiheadAttention: {num_heads: 2, batch_first: true}", [[2, 5, 8], [2, 5, 8], [2, 5, 8]], lambda: nn.MultiheadAttention(8, 2, batch_first=True)),
    ("TransformerEncoderLayer: {nhead: 2, dim_feedforward: 16, batch_first: true}", [2, 5, 8], lambda: nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)),
    ("TransformerDecoderLayer: {nhead: 2, dim_feedforward: 16}", [[5, 2, 8], [6, 2, 8]], lambda: nn.TransformerDecoderLayer(8, 2, 16)),
    ("Transformer: {nhead: 2, num_encoder_layers: 1, num_decoder_layers: 1, dim_feedforward: 16}", [[5, 2, 8], [6, 2, 8]],
     lambda: nn.Transformer(8, 2, 1, 1, 16)),
    ("Embedding: [100, 8]", "ids", lambda: nn.Embedding(100, 8)),
    ("PReLU: 1", [2, 3], lambda: nn.PReLU(1)),
]


def _inputs(shape):
    if shape == "ids":
        return [torch.zeros(2, 5, dtype=torch.long)], "input: {shape: [2, 5], dtype: int64}"
    shapes = shape if isinstance(shape[0], list) else [shape]
    return [torch.randn(s) for s in shapes], "input: " + (str(shapes) if len(shapes) > 1 else str(shapes[0]))


@pytest.mark.parametrize("item,shape,twin", CASES, ids=[c[0] for c in CASES])
def test_inferred_family_matches_explicit_twin(item, shape, twin):
    xs, input_line = _inputs(shape)
    spec = shapecli.parse_spec(f"{input_line}\nlayers:\n  - {item}\n", "t.yaml")
    model, report = shapecli.materialize(spec)
    ref = twin()
    assert [(n, list(p.shape)) for n, p in ref.named_parameters()] == \
        [(n[2:], list(p.shape)) for n, p in model.named_parameters()]
    assert [(n, list(b.shape)) for n, b in ref.named_buffers()] == [(b.name[2:], b.shape) for b in report.buffers]
    assert type(model[0]) is type(ref)
    with torch.no_grad():
        ref_out = ref.eval()(*xs) if not isinstance(ref, nn.Transformer) else ref(*xs)

    def shapes(o):
        return list(o.shape) if isinstance(o, torch.Tensor) else [shapes(x) for x in o]

    def reported(o):
        return o.shape if hasattr(o, "shape") else [reported(x) for x in o]

    assert reported(report.runs[0].output) == shapes(ref_out)
    assert report.totals.params == sum(p.numel() for p in ref.parameters())


def test_meta_device_gives_the_same_shapes():
    spec = shapecli.parse_spec("input: [2, 3, 32, 32]\nlayers:\n  - Conv2d: [8, 3]\n  - BatchNorm2d\n  - Flatten\n  - Linear: 10\n", "t.yaml")
    _, cpu = shapecli.materialize(spec, device="cpu")
    _, meta = shapecli.materialize(spec, device="meta")
    assert meta.device == "meta" and cpu.device == "cpu"
    assert [(p.name, p.shape) for p in cpu.params] == [(p.name, p.shape) for p in meta.params]
    assert [lay.output_shapes for lay in cpu.layers] == [lay.output_shapes for lay in meta.layers]
    assert all(p.stats is None or p.stats.source == "analytic" for p in meta.params)


ROOT = Path(__file__).resolve().parent.parent


ZOO = sorted((ROOT / "configs").glob("*.yaml"))


NAMES = [p.stem for p in ZOO]


WITH_TWIN = [n for n in NAMES if n in TWINS]


PUBLISHED = [n for n in WITH_TWIN if TWINS[n].published is not None]


BIG = 10_000_000  # materialize networks above this many parameters on "meta"


@functools.lru_cache(maxsize=None)
def twin(name: str) -> nn.Module:
    return TWINS[name].make("meta")


def device_for(name: str) -> str:
    """meta for big twins (fast CI); configs without a twin get the automatic engine."""
    if name not in TWINS:
        return "auto"
    return "meta" if param_total(twin(name)) > BIG else "cpu"


@functools.lru_cache(maxsize=None)
def built(name: str):
    """(spec, model, report) for configs/<name>.yaml, materialized once per test session."""
    spec = shapecli.load_spec(str(ROOT / "configs" / f"{name}.yaml"))
    model, report = shapecli.materialize(spec, inputs=None, seed=0, device=device_for(name))
    return spec, model, report


def twin_params(name: str, remove_duplicate: bool = True) -> list:
    return [(n, list(p.shape), p.requires_grad)
            for n, p in twin(name).named_parameters(remove_duplicate=remove_duplicate)]


def report_params(report, counted_only: bool = False) -> list:
    return [(p.name, list(p.shape), p.trainable)
            for p in report.params if not (counted_only and p.shared_with)]


def test_api_functions_survive_first_call():
    """The documented API can be called more than once in a process (a submodule named like an
    API function would replace it on first import)."""
    path = str(ROOT / "configs" / "mlp.yaml")
    for _ in range(2):
        assert callable(shapecli.materialize) and callable(shapecli.build)
        model, report = shapecli.materialize(shapecli.load_spec(path))
        assert report.totals.params == 7_946
        assert shapecli.inspect(path).totals.params == 7_946


def test_zoo_is_complete():
    assert ZOO, "no configs/*.yaml found"
    missing = sorted(set(TWINS) - set(NAMES))
    assert not missing, f"twins without a config: {missing}"


@pytest.mark.parametrize("name", list(NAMES))
def test_config_loads_and_materializes(name):
    spec, model, report = built(name)
    assert isinstance(model, nn.Module)
    assert report.runs and report.runs[0].error is None, report.runs[0].error
    assert report.runs[0].output is not None
    params = list(model.parameters())
    assert params, "the network has no parameters"
    assert not any(isinstance(p, nn.parameter.UninitializedParameter) for p in params), "left uninitialized"
    assert not any(isinstance(m, nn.modules.lazy.LazyModuleMixin) for m in model.modules()), "a lazy module is left"
    assert report.totals.params == sum(p.numel() for p in params)
    assert report.device == device_for(name) or device_for(name) == "auto"


@pytest.mark.parametrize("name", list([n for n in NAMES if device_for(n) == "cpu"]))
def test_materialized_model_runs(name):
    """The returned model is a working nn.Module: a fresh sample gives the reported output."""
    spec, model, report = built(name)
    out_info = report.runs[0].output
    if not hasattr(out_info, "shape"):
        pytest.skip("the network returns a tuple")
    g = torch.Generator().manual_seed(1)
    xs = []
    for t in report.runs[0].inputs:
        if t.dtype.startswith("int"):
            xs.append(torch.randint(0, 2, t.shape, generator=g, dtype=getattr(torch, t.dtype)))
        else:
            xs.append(torch.randn(t.shape, generator=g, dtype=getattr(torch, t.dtype)))
    model.eval()
    with torch.no_grad():
        out = model(*xs)
    assert list(out.shape) == list(out_info.shape)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(TWINS))
def test_twin_is_self_consistent(name):
    """Pure torch: the twin's own output shape, and the published total where there is one."""
    t = TWINS[name]
    m = twin(name)
    assert tuple(m(*t.sample("meta")).shape) == t.output
    if t.published is not None:
        assert param_total(m) == t.published


@pytest.mark.parametrize("name", list(WITH_TWIN))
def test_parameters_match_twin(name):
    """Names in named_parameters() order, shapes and trainability, as the twin has them."""
    _, model, report = built(name)
    # the model itself: named_parameters() lists a tied parameter once
    got = [(n, list(p.shape), p.requires_grad) for n, p in model.named_parameters()]
    assert got == twin_params(name)
    # the report: every parameter name, tied ones too (marked shared_with); counted once in totals
    assert report_params(report) == twin_params(name, remove_duplicate=False)
    assert report_params(report, counted_only=True) == twin_params(name)


@pytest.mark.parametrize("name", list(WITH_TWIN))
def test_input_and_output_match_twin(name):
    _, _, report = built(name)
    t = TWINS[name]
    assert [(list(i.shape), i.dtype) for i in report.runs[0].inputs] == \
        [(list(s), str(d).removeprefix("torch.")) for s, d in t.inputs]
    assert list(report.runs[0].output.shape) == list(t.output)


@pytest.mark.parametrize("name", list(WITH_TWIN))
def test_totals_match_twin(name):
    _, _, report = built(name)
    m = twin(name)
    assert report.totals.params == param_total(m)
    assert report.totals.trainable == sum(p.numel() for p in m.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", [n for n in WITH_TWIN if TWINS[n].same_outputs])
def test_outputs_and_buffers_match_twin(name):
    """The twin with the spec model's weights loaded (strict: the same names) computes the same outputs."""
    _, model, _ = built(name)
    t = TWINS[name]
    twin_model = t.make("cpu")
    assert [(n, list(b.shape)) for n, b in model.named_buffers()] == \
        [(n, list(b.shape)) for n, b in twin_model.named_buffers()]
    twin_model.load_state_dict(model.state_dict(), strict=True)
    g = torch.Generator().manual_seed(3)
    xs = [torch.randint(0, 50, shape, generator=g, dtype=dtype) for shape, dtype in t.inputs]
    model.eval()
    twin_model.eval()
    with torch.no_grad():
        got, want = model(*xs), twin_model(*xs)
    assert got.shape == want.shape == t.output
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert not torch.equal(got[:, 0], got[:, 1])  # positions differ: the test can tell a wrong wiring


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_published_total(name):
    _, _, report = built(name)
    assert report.totals.params == TWINS[name].published


def test_mlp_is_the_spec_example():
    """docs/spec.md's first example, exactly."""
    _, _, report = built("mlp")
    assert [(p.name, list(p.shape)) for p in report.params] == [
        ("0.weight", [256, 20]), ("0.bias", [256]), ("2.weight", [10, 256]), ("2.bias", [10])]
    assert report.totals.params == 7_946
    assert list(report.runs[0].output.shape) == [2, 10]


def test_gpt2_head_is_tied_to_wte():
    _, model, report = built("gpt2_small")
    assert model.get_submodule("head").weight is model.get_submodule("wte").weight
    head = next(p for p in report.params if p.name == "head.weight")
    assert head.shared_with == "wte.weight"
    assert report.totals.params == 124_439_808  # 163,037,184 if the head were counted again


def test_lstm_embedding_is_frozen():
    _, model, report = built("lstm_classifier")
    assert not model.get_submodule("embed").weight.requires_grad
    assert report.totals.trainable == report.totals.params - 10_000 * 128


def test_unet_skips_concatenate():
    """dec3's first conv sees up3's 64 channels plus enc3's 64."""
    _, model, _ = built("unet")
    assert model.get_submodule("dec3.0").weight.shape == (64, 128, 3, 3)
    assert model.get_submodule("dec1.0").weight.shape == (16, 32, 3, 3)


def test_from_input_puts_the_merges_own_input_where_the_list_does():
    """`Concat: {from: [enc1, input]}` is torch.cat([enc1, x]); without `input` x comes first, as before."""
    head = ("input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 1}\n    name: enc1\n"
            "  - Conv2d: {out_channels: 2, kernel_size: 1}\n    name: mid\n")
    x = torch.randn(1, 3, 8, 8)
    for merge, order in [("Concat: {from: [enc1, input]}", ("enc1", "mid")), ("Concat: {from: enc1}", ("mid", "enc1"))]:
        model, report = shapecli.materialize(shapecli.parse_spec(head + f"  - {merge}\n", "x.yaml"))
        assert report.runs[0].output.shape == [1, 6, 8, 8]
        enc = model.enc1(x)
        parts = {"enc1": enc, "mid": model.mid(enc)}
        assert torch.equal(model(x), torch.cat([parts[k] for k in order], dim=1))
    with pytest.raises(SpecError) as e:
        shapecli.parse_spec(head + "  - Add: {from: input}\n", "x.yaml")
    assert [str(p) for p in e.value.problems] == [
        "x.yaml:7:5: error: layer 2 (Add): Add needs at least two inputs (branches, or x and `from:` outputs)"]


def test_an_inline_residual_runs_its_parts_by_name():
    """after(body(x) + shortcut(x)) with the parts' layers the Residual's own children (spec/parts.py)."""
    spec = shapecli.parse_spec(
        "input: [2, 4]\nlayers:\n  - Residual:\n      body:\n        - Linear: 4\n          name: fc1\n"
        "        - Tanh\n      shortcut:\n        - Linear: 4\n          name: proj\n      after: [ReLU]\n"
        "    inline: true\n    name: block\n  - Add: {from: [block.fc1, block]}\n")
    model, _ = shapecli.materialize(spec)
    block = model.block
    assert list(block._modules) == ["fc1", "1", "proj", "3"]
    x = torch.randn(2, 4)
    with torch.no_grad():
        fc1 = block.fc1(x)
        want = torch.relu(torch.tanh(fc1) + block.proj(x))
        assert torch.equal(model(x), want + fc1 + want)  # the Add: its input, then fc1's output, then block's


DROPOUT_SPEC = ("input: [4, 8]\nlayers:\n  - Linear: 16\n  - Dropout: 0.5\n  - Linear: 12\n"
                "  - RReLU\n  - Linear: 4\n")


def test_initial_values_do_not_depend_on_what_the_first_forward_draws():
    """Dropout's masks and RReLU's slopes in the materializing (training-mode) pass draw from the
    global RNG; initial values have their own stream (model/lazy.py:init_stream), so a layer after
    them is initialized as the same layers constructed in order would be, whatever the input."""
    torch.manual_seed(0)
    want = [nn.Linear(8, 16), nn.Dropout(0.5), nn.Linear(16, 12), nn.RReLU(), nn.Linear(12, 4)]
    for inputs in (["4,8"], ["64,8"], ["1,3,8"]):
        model, _ = shapecli.materialize(DROPOUT_SPEC, inputs)
        for i in (0, 2, 4):
            assert torch.equal(model[i].weight, want[i].weight) and torch.equal(model[i].bias, want[i].bias), (inputs, i)
    state = torch.random.get_rng_state()
    torch.manual_seed(0)
    net = shapecli.build(DROPOUT_SPEC)  # the library's lazy model, seeded by its user, fed by a generator
    net(torch.randn(32, 8, generator=torch.Generator().manual_seed(5)))
    assert torch.equal(net[4].weight, want[4].weight)
    torch.random.set_rng_state(state)


def test_equal_layers_made_as_copies_hold_what_constructing_them_gives():
    """A repeat's copies after the first are copies of it, reset (model/fresh.py; the record's `copies`),
    and equal items elsewhere too: every value, buffer and requires_grad is what the same layers
    constructed in order give, under `.eval()` too, and no two layers share a tensor."""
    spec = ("input: [4, 6]\nlayers:\n  - Sequential: [Linear: 6, BatchNorm1d, ReLU]\n    repeat: 3\n"
            "  - Linear: {out_features: 6, bias: false}\n  - Linear: {out_features: 6, bias: false}\n")
    torch.manual_seed(3)
    want = [m for _ in range(3) for m in (nn.Linear(6, 6), nn.BatchNorm1d(6), nn.ReLU())]
    want += [nn.Linear(6, 6, bias=False), nn.Linear(6, 6, bias=False)]
    x = torch.randn(4, 6)
    torch.manual_seed(3)
    model = shapecli.build(spec)
    model.eval()
    model(x)
    got = [m for block in model[0] for m in block] + [model[1], model[2]]
    assert [type(m) for m in got] == [type(m) for m in want]
    for g, w in zip(got, want):
        assert not g.training
        gs, ws = g.state_dict(keep_vars=True), w.state_dict(keep_vars=True)
        assert gs.keys() == ws.keys()
        for k in ws:
            assert torch.equal(gs[k], ws[k]) and gs[k].requires_grad == ws[k].requires_grad, k
    tensors = [t for m in got for t in [*m.parameters(), *m.buffers()]]
    assert len({id(t) for t in tensors}) == len(tensors)


def test_a_copy_takes_the_default_dtype_its_constructor_would():
    """A copy is made only from a template built under the same default dtype (model/lazy.py _new_layer):
    equal placeholders called one by one, torch's default dtype changed in between, get what
    constructing them would give."""
    model = shapecli.build("input: [2, 4]\nlayers:\n  - Linear: 4\n  - Linear: 4\n")
    model[0](torch.randn(2, 4))
    old = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch.float64)
        model[1](torch.randn(2, 4))
    finally:
        torch.set_default_dtype(old)
    assert model[0].real.weight.dtype == torch.float32 and model[1].real.weight.dtype == torch.float64


def test_equal_items_given_other_inputs_read_their_own_sizes():
    """Equal items share a reading of their input only for inputs of one shape, dtype and device
    (model/reading.py read): each reads its own in_features, and a wrong input is refused at its own item."""
    model, _ = shapecli.materialize("input: [2, 6]\nlayers:\n  - Linear: 4\n  - Linear: 4\n  - Linear: 4\n", ["2,6"])
    assert [tuple(model[i].weight.shape) for i in range(3)] == [(4, 6), (4, 4), (4, 4)]
    with pytest.raises(ShapeError, match=r"6:5: error: layer 3 \(Conv2d\): expects a 4-D input"):
        conv = "  - Conv2d: {out_channels: 3, kernel_size: 1}\n"
        shapecli.inspect(f"input: [2, 3, 8, 8]\nlayers:\n{conv}{conv}  - Flatten\n{conv}", ["2,3,8,8"])


def test_placeholders_and_sequentials_have_nn_modules_own_state():
    """Deferred and the builder's nn.Sequential take nn.Module.__init__'s attributes without the call
    (model/fresh.py module_state): the same names and kinds of value as a real nn.Module() of this torch,
    a container of their own each, and a Sequential that behaves as one made by its constructor."""
    from collections import OrderedDict

    from shapecli.model.fresh import module_state
    from shapecli.model.build import _sequential
    from shapecli.model.lazy import Deferred

    want = vars(nn.Module())
    a, b = module_state(), module_state()
    assert list(a) == list(want) and all(type(a[k]) is type(want[k]) for k in want)  # its names in its order
    from shapecli.model import fresh
    proto = fresh._STATE[0]  # the prototype module_state copies: none of its containers is handed out
    assert all(a[k] is not b[k] and a[k] is not proto[k] for k in a if isinstance(a[k], (dict, set)))
    model = shapecli.build("input: [2, 4]\nlayers:\n  - Sequential: [Linear: 3, ReLU]\n  - Linear: 2\n")
    seq, placeholder = model[0], model[1]
    assert type(seq) is nn.Sequential and type(placeholder) is Deferred
    assert set(want) <= set(vars(seq)) and set(want) <= set(vars(placeholder))
    made = _sequential([("0", nn.Linear(4, 3)), ("1", nn.ReLU())])
    real = nn.Sequential(OrderedDict([("0", nn.Linear(4, 3)), ("1", nn.ReLU())]))
    assert repr(made) == repr(real) and list(made.state_dict()) == list(real.state_dict())
    assert made(torch.zeros(2, 4)).shape == (2, 3) and isinstance(made[1], nn.ReLU) and len(made) == 2
    made.append(nn.Tanh())
    assert len(made) == 3 and len(real) == 2  # containers of their own


# ---------------------------------------------------------------------------- model/calls.py

def test_forward_of_is_forward_only_where_nn_module_call_would_call_it_at_once(monkeypatch):
    """model/calls.py forward_of: `m.forward` for a module nn.Module.__call__ would pass straight on to
    forward; the module itself (its __call__, hooks and all) where a hook of its own or a global one is
    registered, its class has a __call__ of its own, or nn.Module.__call__ was replaced."""
    from shapecli.model.calls import forward_of

    lin = nn.Linear(2, 2)
    assert forward_of(lin) == lin.forward
    h = lin.register_forward_pre_hook(lambda m, i: None)
    assert forward_of(lin) is lin
    h.remove()
    g = nn.modules.module.register_module_forward_hook(lambda m, i, o: None)
    try:
        assert forward_of(lin) is lin
    finally:
        g.remove()
    assert forward_of(lin) == lin.forward

    class Own(nn.Linear):
        def __call__(self, *a):
            return super().__call__(*a)
    own = Own(2, 2)
    assert forward_of(own) is own
    monkeypatch.setattr(nn.Module, "__call__", lambda self, *a, **k: self._call_impl(*a, **k))
    assert forward_of(lin) is lin


def test_global_hooks_see_every_call_of_a_lazy_models_first_pass():
    """Placeholders (Deferred.__call__) and the chains that call their children directly go through
    nn.Module.__call__ where a global hook is registered: it sees every placeholder, every real layer
    it builds and every container, as for a model of torch's own layers."""
    seen: list = []
    model = shapecli.build(shapecli.load_spec(CONFIGS / "mlp.yaml"))
    g = nn.modules.module.register_module_forward_hook(lambda m, i, o: seen.append(type(m).__name__))
    try:
        model(torch.randn(3, 20))
    finally:
        g.remove()
    kinds = {k: seen.count(k) for k in set(seen)}
    assert kinds == {"Network": 1, "Deferred": 3, "Linear": 2, "ReLU": 1}
