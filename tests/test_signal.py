"""Signal propagation at init (--activations), checked against a hand computation."""
import math

import pytest
import torch

import shapecli


def test_activation_stats_match_a_hand_computation():
    spec = shapecli.parse_spec(
        "input: [256, 4]\nlayers:\n"
        "  - Linear: 3\n    init: {weight: {constant: 0.5}, bias: {constant: 1.0}}\n"
        "  - ReLU\n", "t.yaml")
    _, r = shapecli.materialize(spec, seed=3, activations=True)
    # shapecli's sample input: standard normal from its own generator (seed + 1)
    x = torch.randn(256, 4, generator=torch.Generator().manual_seed(4)).double()
    y = 0.5 * x.sum(dim=1, keepdim=True).expand(256, 3) + 1.0  # every unit: 0.5 * sum(x) + 1
    z = y.clamp(min=0)
    lin, relu = r.layers
    assert lin.activation["mean"] == pytest.approx(y.mean().item(), rel=1e-6)
    assert lin.activation["std"] == pytest.approx(y.std(correction=0).item(), rel=1e-6)
    assert relu.activation["mean"] == pytest.approx(z.mean().item(), rel=1e-6)
    # and the theory: sum of 4 standard normals has std 2, so y has std ~ 1
    assert lin.activation["std"] == pytest.approx(1.0, abs=0.15)


def test_kaiming_keeps_the_scale_where_sigmoid_squashes_it(cli):
    from conftest import CONFIGS

    _, relu = shapecli.materialize(CONFIGS / "deep_relu_kaiming.yaml", activations=True)
    _, sig = shapecli.materialize(CONFIGS / "deep_sigmoid.yaml", activations=True)
    last = lambda r: [lay.activation["std"] for lay in r.layers if lay.activation and lay.type in ("ReLU", "Sigmoid")]
    relu_stds, sig_stds = last(relu), last(sig)
    assert len(relu_stds) == len(sig_stds) == 50
    assert 0.3 < relu_stds[-1] < 3          # He init: the scale survives 50 layers
    assert sig_stds[-1] < 0.15              # sigmoid + default init: squashed
    assert all(math.isfinite(s) for s in relu_stds + sig_stds)
    code, out, _ = cli("inspect", str(CONFIGS / "deep_sigmoid.yaml"), "--activations", "--no-params")
    assert code == 0 and "Activations at init" in out and "blocks.49.1" in out


def test_xavier_before_relu_in_a_deep_stack_is_linted(cli):
    text = "input: [8, 64]\ninit: {weight: xavier_uniform}\nlayers:\n  - Sequential: [Linear: 64, ReLU]\n    repeat: 10\n"
    code, out, err = cli("inspect", "-", "--json", "--strict", stdin=text)
    assert code == 1
    assert "[gain-mismatch] xavier_uniform before ReLU in 10 layers" in err
    code, _, _ = cli("inspect", "-", "--json", "--strict", stdin=text.replace("xavier_uniform", "{kaiming_uniform: {nonlinearity: relu}}"))
    assert code == 0


def test_lints_through_the_materializer_use_measured_stats():
    spec = shapecli.parse_spec("input: [2, 8]\nlayers:\n  - Linear: 4\n    init: {weight: zeros}\n"
                               "  - Linear: 4\n    init: {weight: {constant: 0.5}}\n  - Linear: 4\n", "t.yaml")
    _, r = shapecli.materialize(spec)
    codes = {(d.layer, d.code) for d in r.diagnostics}
    assert ("0", "zero-init") in codes and ("1", "constant-init") in codes
    assert not any(d.layer == "2" for d in r.diagnostics)
