"""The model zoo (configs/*.yaml) against hand-written twins (tests/twins.py).

Every config must load, build and materialize (a new config is picked up by the glob). Each
config with a twin must produce the twin's parameter names (in order), shapes, trainability and
output shape, and the published parameter total where there is one. Big networks are
materialized on the meta device (shapes only) to keep the suite fast.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import shapecli

sys.path.insert(0, str(Path(__file__).resolve().parent))
from twins import TWINS, param_total  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))

NAMES = [p.stem for p in CONFIGS]
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


# ---------------------------------------------------------------------------- every config


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
    assert CONFIGS, "no configs/*.yaml found"
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


# ---------------------------------------------------------------------------- the twins alone


@pytest.mark.parametrize("name", sorted(TWINS))
def test_twin_is_self_consistent(name):
    """Pure torch: the twin's own output shape, and the published total where there is one."""
    t = TWINS[name]
    m = twin(name)
    assert tuple(m(*t.sample("meta")).shape) == t.output
    if t.published is not None:
        assert param_total(m) == t.published


# ---------------------------------------------------------------------------- spec vs twin


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


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_published_total(name):
    _, _, report = built(name)
    assert report.totals.params == TWINS[name].published


# ---------------------------------------------------------------------------- specific features


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
