"""The model shapecli hands back is plain PyTorch, and the lazy one behaves like torch's lazy modules.

Over the zoo's small configs (and shrunk GPT-2 / ViT for attention, tying and class tokens):
materialize() returns a model with no shapecli hook, attribute or placeholder; it deep-copies,
saves and loads (whole and as a state dict), exports (torch.export) and traces (torch.jit) to the
same outputs; its BatchNorm statistics are a fresh model's. Before materialization, build()'s
model lists its parameters as UninitializedParameter under the real names, a count raises, and
load_state_dict of a materialized state dict gives those shapes and, after the first input, the
loaded values. (The forward's cost against hand-written layers is a benchmark target:
bench/forward.py, run by bench/run.py.)
"""
from __future__ import annotations

import copy
import io
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

import shapecli
from shapecli.errors import ShapeError
from shapecli.model.lazy import BuildContext, Deferred
from shapecli.model.placeholder import Slot

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["mlp", "lenet5", "unet", "audio_conv1d", "conv3d", "lstm_classifier", "mobilenet_v2", "inception"]
SHRUNK = {"gpt2_small": {"d": 32, "heads": 2, "vocab": 50, "ctx": 64, "n_layer": 2},
          "vit_b16": {"d": 32, "heads": 2, "mlp": 64}}
CASES = SMALL + list(SHRUNK)
HOOKS = ("_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_forward_pre_hooks",
         "_forward_pre_hooks_with_kwargs", "_backward_hooks", "_backward_pre_hooks", "_state_dict_hooks",
         "_state_dict_pre_hooks", "_load_state_dict_pre_hooks", "_load_state_dict_post_hooks")


def spec_of(name: str):
    return shapecli.load_spec(ROOT / "configs" / f"{name}.yaml", SHRUNK.get(name))


def sample(spec) -> tuple:
    torch.manual_seed(1)
    xs = []
    for i in spec.inputs:
        shape = i.shape
        if i.dtype == "float32":
            xs.append(torch.randn(shape))
        else:
            xs.append(torch.randint(0, 10, shape, dtype=getattr(torch, i.dtype)))
    return tuple(xs)


_MODELS: dict = {}


def materialized(name: str):
    """(a fresh materialized model in eval mode, its input, its output); built once per test session."""
    if name not in _MODELS:
        spec = spec_of(name)
        model, _ = shapecli.materialize(spec, stats=False)
        _MODELS[name] = (model, spec)
    model, spec = _MODELS[name]
    model = copy.deepcopy(model).eval()
    xs = sample(spec)
    with torch.no_grad():
        out = model(*xs)
    return model, xs, out


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and torch.allclose(a, b, atol=1e-5)
    return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))


# ---------------------------------------------------------------------------- a plain model


@pytest.mark.parametrize("name", CASES)
def test_materialized_model_has_no_hook_attribute_or_placeholder(name):
    spec = spec_of(name)
    model, _ = shapecli.materialize(spec, stats=False)
    for path, m in model.named_modules():
        assert not isinstance(m, (Deferred, Slot)), path
        assert type(m).__module__.startswith(("torch.nn", "shapecli.model.glue", "shapecli.model.flow")) or type(m).__name__ == "Network", path
        for attr in HOOKS:
            assert not getattr(m, attr, None), f"{path or '<root>'}.{attr}"
        for k, v in vars(m).items():
            assert not isinstance(v, BuildContext), f"{path}.{k}"
        assert not hasattr(m, "_ctx")
    tapes = [m._tape for m in model.modules() if hasattr(m, "_tape")]
    assert all(t == {} for t in tapes)  # no activation kept between calls


@pytest.mark.parametrize("name", CASES)
def test_deepcopy_and_save_load_whole_module(name):
    model, xs, out = materialized(name)
    twin = copy.deepcopy(model)
    with torch.no_grad():
        assert same(twin(*xs), out)
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    with torch.no_grad():
        assert same(loaded(*xs), out)


@pytest.mark.parametrize("name", CASES)
def test_state_dict_round_trip_into_a_fresh_model(name):
    model, xs, out = materialized(name)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    other, _ = shapecli.materialize(spec_of(name), seed=7, stats=False)
    other.eval()
    with torch.no_grad():
        assert not same(other(*xs), out)  # another seed: other values
    other.load_state_dict(state, strict=True)
    with torch.no_grad():
        assert same(other(*xs), out)


@pytest.mark.parametrize("name", CASES)
def test_torch_export(name):
    model, xs, out = materialized(name)
    ep = torch.export.export(model, xs)
    with torch.no_grad():
        assert same(ep.module()(*xs), out)


@pytest.mark.parametrize("name", CASES)
def test_torch_jit_trace(name):
    model, xs, out = materialized(name)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarning: a Python bool in a shape check
        traced = torch.jit.trace(model, xs, check_trace=False)
        assert same(traced(*xs), out)


@pytest.mark.parametrize("name", ["unet", "mobilenet_v2", "inception", "conv3d"])
def test_batchnorm_statistics_are_a_fresh_models(name):
    model, _ = shapecli.materialize(spec_of(name), stats=False)
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert norms
    for m in norms:
        fresh = type(m)(m.num_features, eps=m.eps, momentum=m.momentum, affine=m.affine)
        for (n, b), (_, f) in zip(m.named_buffers(), fresh.named_buffers()):
            assert torch.equal(b, f), n
        assert int(m.num_batches_tracked) == 0


def test_batchnorm_statistics_fresh_after_several_samples():
    model, report = shapecli.materialize(spec_of("unet"), ["1,3,64,64", "2,3,32,32"], stats=False)
    assert len(report.runs) == 2 and all(r.error is None for r in report.runs)
    bn = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert int(bn.num_batches_tracked) == 0 and torch.equal(bn.running_mean, torch.zeros_like(bn.running_mean))


def test_the_run_still_checks_while_it_lasts():
    """The recorder's and the guard's hooks worked during the run, and are gone after it."""
    with pytest.raises(shapecli.errors.UsageError):  # the guard: an output over the activation budget
        shapecli.materialize(spec_of("mlp"), ["600000,20"], device="cpu")
    model, _ = shapecli.materialize(spec_of("mlp"), stats=False)
    with torch.no_grad():
        assert model(torch.zeros(600_000, 20)).shape == (600_000, 10)  # no budget left on the model


def test_from_references_work_without_hooks():
    spec = shapecli.parse_spec("input: [2, 4]\nlayers:\n  - Linear: 4\n    name: a\n  - ReLU\n"
                               "  - Sequential:\n      - Linear: 4\n        name: b\n      - Tanh\n"
                               "  - Add: {from: [a, b]}\n")
    model, _ = shapecli.materialize(spec, stats=False)
    x = torch.randn(2, 4)
    a = model.a(x)
    b = model[2].b(torch.relu(a))
    with torch.no_grad():
        assert torch.allclose(model(x), torch.tanh(b) + a + b)
    assert model._tape == {}


# ---------------------------------------------------------------------------- the lazy model


@pytest.mark.parametrize("name", CASES)
def test_lazy_parameters_are_uninitialized_with_the_real_names(name):
    spec = spec_of(name)
    lazy = shapecli.build(spec)
    model, _ = shapecli.materialize(spec, stats=False)
    lazy_params = list(lazy.named_parameters())
    assert [n for n, _ in lazy_params] == [n for n, _ in model.named_parameters()]
    assert all(isinstance(p, nn.parameter.UninitializedParameter) for _, p in lazy_params)
    assert [p.requires_grad for _, p in lazy_params] == [p.requires_grad for _, p in model.named_parameters()]
    assert [n for n, _ in lazy.named_buffers()] == [n for n, _ in model.named_buffers()]
    assert list(lazy.state_dict()) == list(model.state_dict())
    with pytest.raises(ValueError, match="uninitialized parameter"):
        sum(p.numel() for p in lazy.parameters())


@pytest.mark.parametrize("name", CASES)
def test_lazy_model_loads_a_materialized_state_dict(name):
    spec = spec_of(name)
    model, xs, out = materialized(name)
    lazy = shapecli.build(spec)
    lazy.load_state_dict(model.state_dict(), strict=True)
    want = {n: list(t.shape) for n, t in model.state_dict().items()}
    assert {n: list(t.shape) for n, t in lazy.state_dict().items()} == want
    assert sum(p.numel() for p in lazy.parameters()) == sum(p.numel() for p in model.parameters())
    lazy.eval()  # kept by the layers the first input builds
    with torch.no_grad():
        assert same(lazy(*xs), out)
    assert not any(isinstance(m, Deferred) for m in lazy.modules())
    assert not any(getattr(m, "_forward_hooks", None) for m in lazy.modules())


def test_lazy_load_is_strict():
    spec = spec_of("mlp")
    model, _ = shapecli.materialize(spec, stats=False)
    state = model.state_dict()
    state.pop(next(iter(state)))
    with pytest.raises(RuntimeError, match="Missing key"):
        shapecli.build(spec).load_state_dict(state)
    state = dict(model.state_dict(), extra=torch.zeros(1))
    with pytest.raises(RuntimeError, match="Unexpected key"):
        shapecli.build(spec).load_state_dict(state)


def test_loaded_shapes_must_fit_the_input():
    spec = spec_of("mlp")
    model, _ = shapecli.materialize(spec, ["2,30"], stats=False)  # first Linear built for 30 features
    lazy = shapecli.build(spec)
    lazy.load_state_dict(model.state_dict())
    with pytest.raises(ShapeError, match=r"loaded weight is \[\d+, 30\], but this input makes it \[\d+, 20\]"):
        lazy(torch.zeros(2, 20))


def test_lazy_tied_parameters_share_one_placeholder():
    lazy = shapecli.build(spec_of("gpt2_small"))
    params = dict(lazy.named_parameters(remove_duplicate=False))
    assert params["head.weight"] is params["wte.weight"]
    assert "head.weight" not in dict(lazy.named_parameters())  # counted once, as torch does


def test_lazy_model_still_materializes_from_data():
    spec = spec_of("lenet5")
    lazy = shapecli.build(spec)
    torch.manual_seed(0)
    out = lazy(*sample(spec))
    assert out.shape == (2, 10)
    assert all(not isinstance(p, nn.parameter.UninitializedParameter) for p in lazy.parameters())
    assert sum(p.numel() for p in lazy.parameters()) == 61_706
