"""shapecli/analyses/estimate.py: memory per dtype, training memory, FLOPs per layer; `inspect --dtype/--flops`."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import shapecli
from shapecli.errors import UsageError
from shapecli.analyses.estimate import count_flops, estimate
from shapecli.dtypes import parse_estimate as parse_dtypes

ROOT = Path(__file__).resolve().parent.parent
MLP = ROOT / "configs" / "mlp.yaml"

TIED = """
name: tiny_lm
input: {shape: [2, 8], dtype: int64}
layers:
  - Embedding: [100, 16]
    name: wte
  - Residual: [LayerNorm, SelfAttention: {num_heads: 2, causal: true}]
  - LayerNorm: {}
  - Linear: {out_features: 100, bias: false}
    tie: wte
"""

BN = """
input: [2, 3, 8, 8]
layers:
  - Conv2d: [4, 3]
  - BatchNorm2d
  - ReLU
  - Dropout: 0.5
  - Flatten
  - Linear: 5
"""


def _run(text, device="auto", **kw):
    spec = shapecli.parse_spec(text, "t.yaml")
    return shapecli.materialize(spec, device=device, **kw)


def test_parse_dtypes():
    assert parse_dtypes(["float32,bf16", "int8", "fp32"]) == ["float32", "bfloat16", "int8"]
    assert parse_dtypes(["fp16, int4"]) == ["float16", "int4"]
    with pytest.raises(UsageError, match="--dtype 'float13'"):
        parse_dtypes(["float13"])


def test_mlp_memory_and_flops_exact():
    model, report = shapecli.materialize(MLP)
    result = estimate(model, report, None, ["float32", "bfloat16", "int8", "int4"], flops=True, backward=True)
    est = result.summary
    P = 7946
    f32, bf16, i8, i4 = est["memory"]
    assert (f32["weights"], bf16["weights"], i8["weights"], i4["weights"]) == (4 * P, 2 * P, P, P // 2)
    t = f32["training"]
    assert (t["gradients"], t["adam_m"], t["adam_v"], t["master_weights_fp32"]) == (4 * P, 4 * P, 4 * P, 0)
    assert bf16["training"]["master_weights_fp32"] == 4 * P
    acts = 2 * 20 + 2 * 256 + 2 * 256 + 2 * 10  # input, Linear, ReLU, Linear outputs (elements)
    assert f32["activations"] == 4 * acts and bf16["activations"] == 2 * acts
    assert t["total"] == 4 * P * 4 + 4 * acts
    assert i8["training"] is None and i8["activations"] is None  # inference-only dtypes
    f = est["flops"]
    assert f["forward"] == 2 * 2 * (20 * 256 + 256 * 10)
    assert (f["backward"], f["train_step"]) == (2 * f["forward"], 3 * f["forward"])
    assert [result.layer_flops[lay.path] for lay in report.layers] == [2 * 2 * 20 * 256, 0, 2 * 2 * 256 * 10]
    assert [u["op"] for u in f["not_counted"]] == ["aten.relu"]  # listed, never dropped
    assert report.estimates is None and all(lay.flops is None for lay in report.layers)  # the report is not patched


def test_flops_off_leaves_layers_alone():
    model, report = shapecli.materialize(MLP)
    est = estimate(model, report, None, ["float32"], flops=False, backward=False)
    assert est.summary["flops"] is None and est.layer_flops is None


def test_tied_counted_once_and_cpu_attention_matches_meta():
    """The CPU run's attention kernel (_scaled_dot_product_flash_attention_for_cpu) is counted,
    and the same network counted on meta gives the same FLOPs, per layer too."""
    cpu_model, cpu = _run(TIED, device="cpu")
    meta_model, meta = _run(TIED, device="meta")
    rc = estimate(cpu_model, cpu, None, ["float32"], flops=True, backward=False)
    rm = estimate(meta_model, meta, None, ["float32"], flops=True, backward=False)
    ec, em = rc.summary, rm.summary
    P = 100 * 16 + (2 * 16) + (3 * 16 * 16 + 3 * 16 + 16 * 16 + 16) + 2 * 16  # head tied to wte
    assert ec["counts"]["params"] == P and ec["counts"]["tied"] == 1
    assert ec["memory"][0]["weights"] == 4 * P
    assert ec["flops"]["forward"] == em["flops"]["forward"] > 0
    assert rc.layer_flops == rm.layer_flops and set(rc.layer_flops) == {lay.path for lay in cpu.layers}
    B, T, d, V = 2, 8, 16, 100
    assert ec["flops"]["forward"] == 2 * B * T * (3 * d * d + d * d) + 4 * B * T * T * d + 2 * B * T * d * V


def test_counting_has_no_side_effects():
    model, report = _run(BN, device="cpu")
    bn = model[1]
    before = (bn.running_mean.clone(), bn.running_var.clone(), int(bn.num_batches_tracked))
    hooks = [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in model.modules()]
    rng = torch.get_rng_state()
    est = estimate(model, report, None, ["float32"], flops=True, backward=False).summary
    assert torch.equal(bn.running_mean, before[0]) and torch.equal(bn.running_var, before[1])
    assert int(bn.num_batches_tracked) == before[2]
    assert torch.equal(torch.get_rng_state(), rng)
    assert [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in model.modules()] == hooks
    f = est["flops"]
    assert f["forward"] == 2 * 2 * 4 * 3 * 9 * 36 + 2 * 2 * 144 * 5  # conv (with 36 = 6x6 outputs), linear
    names = {u["op"] for u in f["not_counted"]}
    assert "aten.relu" in names
    mem = est["memory"][0]
    assert mem["buffers"] == 4 * (4 + 4) + 8  # running mean/var in the dtype; num_batches_tracked stays int64


def test_given_tensors_are_used():
    model, report = shapecli.materialize(MLP)
    fc = count_flops(model, [torch.randn(5, 20)], [lay.path for lay in report.layers])
    assert fc["total"] == 2 * 5 * (20 * 256 + 256 * 10)


def test_cli_flags(cli):
    code, out, err = cli("inspect", str(MLP), "--flops", "--dtype", "float32,bf16", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["estimates"]["flops"]["forward"] == 30720
    assert [m["dtype"] for m in doc["estimates"]["memory"]] == ["float32", "bfloat16"]
    assert [lay["flops"] for lay in doc["layers"]] == [20480, 0, 10240]
    code, out, err = cli("inspect", str(MLP), "--json")
    assert json.loads(out)["estimates"] is None  # nothing asked, nothing computed
    code, out, err = cli("inspect", str(MLP), "-e")
    assert code == 0 and "Estimates" in out and "Backward" in out and "bfloat16" in out
    assert "Not counted (no formula): relu" in out
    code, out, err = cli("inspect", str(MLP), "--backward", "--format", "markdown")
    assert code == 0 and "#### Estimates" in out and "Backward" in out
    code, out, err = cli("inspect", str(MLP), "--dtype", "float99")
    assert code == 2 and "--dtype 'float99'" in err
