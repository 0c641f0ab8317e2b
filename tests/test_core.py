"""The seed transcript, the API, and the d2l exercise (changing the input after materialization)."""
import json

import pytest
import torch
from torch import nn

import shapecli
from shapecli.errors import ShapeError, SpecError

from conftest import CONFIGS


def test_d2l_transcript():
    model, report = shapecli.materialize(CONFIGS / "mlp.yaml", ["2,20"])
    shapes = [(p.name, p.shape) for p in report.params]
    assert shapes == [("0.weight", [256, 20]), ("0.bias", [256]), ("2.weight", [10, 256]), ("2.bias", [10])]
    assert report.totals.params == 7946
    assert report.runs[0].output.shape == [2, 10]
    # a plain PyTorch model: real classes, no wrapper prefixes, trainable
    assert [type(m) for m in model] == [nn.Linear, nn.ReLU, nn.Linear]
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    loss = model(torch.randn(4, 20)).sum()
    loss.backward()
    assert model[0].weight.grad.shape == (256, 20)


def test_build_is_lazy_until_data_arrives():
    spec = shapecli.load_spec(CONFIGS / "mlp.yaml")
    model = shapecli.build(spec)
    assert list(model.parameters()) == []  # nothing exists before the data
    out = model(torch.randn(3, 20))
    assert out.shape == (3, 10)
    assert [tuple(p.shape) for p in model.parameters()] == [(256, 20), (256,), (10, 256), (10,)]
    assert isinstance(model[0], nn.Linear)


def test_seed_is_recorded_and_reproducible_and_global_rng_untouched():
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    _, a = shapecli.materialize(CONFIGS / "mlp.yaml", seed=7)
    _, b = shapecli.materialize(CONFIGS / "mlp.yaml", seed=7)
    _, c = shapecli.materialize(CONFIGS / "mlp.yaml", seed=8)
    assert torch.equal(before, torch.random.get_rng_state())
    assert a.seed == 7
    assert a.params[0].stats == b.params[0].stats
    assert a.params[0].stats != c.params[0].stats


def test_init_stats_are_the_real_default_init():
    torch.manual_seed(0)
    twin = nn.Linear(20, 256)  # the first parameter drawn after seeding, as in shapecli
    _, r = shapecli.materialize(CONFIGS / "mlp.yaml", seed=0)
    w = twin.weight.detach().double()
    assert r.params[0].stats.mean == pytest.approx(w.mean().item())
    assert r.params[0].stats.max == pytest.approx(w.max().item())
    assert r.params[0].stats.std == pytest.approx(w.std(correction=0).item())


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


def test_json_report_is_strict_and_has_documented_fields():
    r = shapecli.inspect(CONFIGS / "mlp.yaml")
    from shapecli.render import to_json

    d = json.loads(to_json(r))
    for key in ("schema_version", "inputs", "outputs", "layers", "params", "buffers", "totals", "seed", "torch_version"):
        assert key in d
    assert d["inputs"] == [{"shape": [2, 20], "dtype": "float32"}]
    assert d["outputs"] == {"shape": [2, 10], "dtype": "float32"}
    assert d["params"][0]["name"] == "0.weight" and set(d["params"][0]["stats"]) >= {"mean", "std", "min", "max"}
    assert d["totals"]["params"] == 7946 and d["totals"]["bytes"] == {"float32": 31784}


def test_one_element_parameter_std_is_not_nan():
    spec = shapecli.parse_spec("input: [2, 3]\nlayers:\n  - Linear: 1\n", "x.yaml")
    r = shapecli.inspect(spec)
    bias = r.params[1]
    assert bias.shape == [1] and bias.stats.std == 0.0


def test_spec_errors_are_collected():
    with pytest.raises(SpecError) as e:
        shapecli.parse_spec("input: [2, 3]\nlayers:\n  - Lineer: 3\n  - ReLU: {inplace: yes}\n  - Conv2d: {out_chanels: 3}\n", "x.yaml")
        shapecli.build(shapecli.parse_spec("", "x"))
    msgs = [str(p) for p in e.value.problems]
    assert any("x.yaml:3:5: error: unknown layer type 'Lineer' (did you mean Linear" in m for m in msgs)


def test_argument_problems_are_all_reported_with_positions():
    spec = shapecli.parse_spec("input: [2, 3]\nlayers:\n  - ReLU: {inplace: yes}\n  - Conv2d: {out_chanels: 3, kernel_size: 3}\n  - Linear: true\n", "x.yaml")
    with pytest.raises(SpecError) as e:
        shapecli.build(spec)
    msgs = [str(p) for p in e.value.problems]
    assert msgs[0] == "x.yaml:3:21: error: layer 0 (ReLU): inplace: expected bool, got the string 'yes' (YAML 1.2: write true or false)"
    assert any(m.startswith("x.yaml:4:14: error: layer 1 (Conv2d): Conv2d has no argument 'out_chanels' (did you mean out_channels") for m in msgs)
    assert any(m.startswith("x.yaml:4:5: error: layer 1 (Conv2d): Conv2d needs out_channels") for m in msgs)
    assert any("layer 2 (Linear): out_features: expected int, got the boolean true" in m for m in msgs)


def test_a_layer_that_would_blow_up_memory_is_shaped_on_meta_before_allocating():
    spec = shapecli.parse_spec("input: [1, 3, 32, 32]\nlayers:\n  - Upsample: {scale_factor: 1000}\n", "x.yaml")
    _, r = shapecli.materialize(spec)  # 3 x 32000 x 32000 floats = 11.4 GiB: never allocated
    assert r.device == "meta" and r.runs[0].output.shape == [1, 3, 32000, 32000]
    spec = shapecli.parse_spec("input: [1, 3, 224, 224]\nlayers:\n  - Conv2d: [100000, 3]\n", "x.yaml")
    _, r = shapecli.materialize(spec)  # 2.7M weights, but an 18 GiB output
    assert r.device == "meta" and r.runs[0].output.shape == [1, 100000, 222, 222]


def test_output_bound_is_exact_for_the_layers_it_guards():
    from shapecli.run.guard import _output_numel

    spec = shapecli.parse_spec("input: [1, 3, 32, 32]\nlayers:\n  - Upsample: {scale_factor: 2}\n"
                               "  - ConvTranspose2d: {out_channels: 4, kernel_size: 3, stride: 2}\n"
                               "  - ZeroPad2d: [[1, 2, 3, 4]]\n  - Conv2d: {out_channels: 5, kernel_size: 3, stride: 2, dilation: 2}\n"
                               "  - Conv2d: {out_channels: 2, kernel_size: 3, padding: same}\n  - Flatten\n  - Linear: 7\n", "x.yaml")
    model, _ = shapecli.materialize(spec)
    x = torch.randn(1, 3, 32, 32)
    for m in model:
        bound = _output_numel(m, x)
        x = m(x)
        assert bound is None or bound == x.numel()


def test_torch_errors_name_the_layer_and_its_input_shape():
    spec = shapecli.parse_spec("input: [2, 3, 8, 8]\nlayers:\n  - Conv2d: [4, 3]\n  - MaxPool2d: 2\n  - Conv2d: [4, 5]\n", "k.yaml")
    with pytest.raises(ShapeError) as e:
        shapecli.materialize(spec)
    p = e.value.problems[0]
    assert str(p).startswith("k.yaml:5:5: error: layer 2 (Conv2d): input [2, 4, 3, 3]: ")
    assert "Kernel size can't be greater than actual input size" in p.message


def test_statistics_measured_on_the_second_thread_are_the_tensors_own():
    """The measuring thread's figures are exactly measure()/histogram() of the final parameters,
    a failed run leaves no thread behind, and the caller's thread count is untouched."""
    import threading

    import torch

    from shapecli.analyses.init.stats import histogram, measure

    threads = torch.get_num_threads()
    model, report = shapecli.materialize(CONFIGS / "resnet18.yaml")
    assert report.device == "cpu" and torch.get_num_threads() == threads
    by_name = dict(model.named_parameters())
    for p in report.params:
        assert p.stats.source == "measured"
        m = measure(by_name[p.name])  # (the last bit of a float64 sum may depend on the thread count)
        assert (p.stats.min, p.stats.max) == (m.min, m.max), p.name
        assert (p.stats.mean, p.stats.std) == (pytest.approx(m.mean, rel=1e-12, abs=1e-15), pytest.approx(m.std, rel=1e-12)), p.name
        assert p.histogram == histogram(by_name[p.name]), p.name
    with pytest.raises(ShapeError):  # fails at its second layer, after the first was handed over
        shapecli.materialize(shapecli.parse_spec("input: [2, 3, 4]\nlayers: [Linear: 64, Conv2d: [2, 9]]\n"))
    assert not [t for t in threading.enumerate() if t.name == "shapecli-measure" and t.is_alive()]


def _leaf_outputs(spec) -> tuple[list, int]:
    """(path, shape, stride, dtype) of every leaf layer's output in a first pass on meta, and how
    many distinct cases the shape memo ran."""
    from shapecli.model import lazy as M
    from shapecli.fastmeta import fast_meta
    from shapecli.run.inputs import make_inputs

    ctx = M.BuildContext()
    net = M.build(spec, ctx)
    seen = []

    def desc(o):
        if isinstance(o, torch.Tensor):
            return (tuple(o.shape), o.stride(), o.dtype)
        return tuple(desc(x) for x in o) if isinstance(o, (tuple, list)) else o

    for n in spec.nodes():
        if n.path and not n.is_container:
            net.get_submodule(n.path).register_forward_hook(lambda m, i, o, p=n.path: seen.append((p, desc(o))))
    with torch.no_grad(), fast_meta():
        net(*make_inputs(spec.inputs, "meta", 0))
    return seen, len(ctx.memo)


@pytest.mark.parametrize("config", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_meta_shape_memo_changes_no_output(config, monkeypatch):
    """Each leaf's output (shape, strides, dtype) is the same whether the memo answers or the
    layer runs; for GPT-2's twelve identical blocks the memo runs each kind of layer once."""
    from shapecli.model import lazy as M

    spec = shapecli.load_spec(CONFIGS / config)
    memo, cases = _leaf_outputs(spec)
    monkeypatch.setattr("shapecli.model.lazy._memo_forward", lambda layer, xs: layer.real(*xs))
    plain, _ = _leaf_outputs(spec)
    assert memo == plain
    if config == "gpt2_small.yaml":
        assert cases < 15 < len(memo)
