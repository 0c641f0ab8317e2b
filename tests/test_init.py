"""Init schemes: parsing, applying, predicting (vs PyTorch's real initializers), measuring, flags, lints."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import shapecli
from shapecli.analyses import init as I
from shapecli.analyses.init.apply import apply_scheme
from shapecli.analyses.init.lints import _duplicate_rows, flag, lint_gain, lint_tensor
from shapecli.analyses.init.predict import GLUE_DEFAULTS, expected, fans
from shapecli.analyses.init.stats import histogram, measure, sampled_measure
from shapecli.errors import Loc, SpecError
from shapecli.report import Stats
from shapecli.spec.initschemes import (
    NONLINEARITIES,
    SCHEMES,
    InitScheme,
    calculate_gain,
    parse_init_map,
    parse_scheme,
    scheme_for,
    unmatched_keys,
)

ROOT = Path(__file__).resolve().parents[1]
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def S(value) -> InitScheme:
    return parse_scheme(value)


def check_against(info, tensor, k: float = 6.0):
    """The measured statistics of `tensor` agree with `info.expected` within sampling error."""
    assert info.expected is not None, info
    m = measure(tensor)
    flags = flag(m, info, tensor.numel(), dtype=str(tensor.dtype))
    assert flags == [], (info, m, flags)
    e = info.expected
    n = tensor.numel()
    if e.std and n >= 256:
        # Independently of flag(): the std within 6 standard errors (normal-like: σ/√(2n)).
        assert abs(m.std - e.std) <= k * e.std / math.sqrt(2 * n) + 1e-7, (info, m)
    if e.std == 0:
        assert m.min == m.max == pytest.approx(e.mean)
    return m


# ---------------------------------------------------------------------------------------------
# torch-free helpers agree with torch


def test_initschemes_does_not_import_torch():
    # torch made unimportable; the package shell stands in for shapecli/__init__.py
    code = (
        "import sys, types; sys.modules['torch'] = None; "
        f"pkg = types.ModuleType('shapecli'); pkg.__path__ = [{str(ROOT / 'shapecli')!r}]; "
        "sys.modules['shapecli'] = pkg; "
        "import shapecli.spec.initschemes as s; s.parse_init_map({'weight': 'kaiming_normal'})"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@FAST
@given(st.lists(st.integers(1, 7), min_size=2, max_size=5))
def test_fans_match_torch(shape):
    assert fans(shape) == nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


def test_fans_below_2d():
    assert fans([5]) == (None, None) and fans([]) == (None, None)


@pytest.mark.parametrize("nl", NONLINEARITIES)
def test_calculate_gain_matches_torch(nl):
    assert calculate_gain(nl) == pytest.approx(nn.init.calculate_gain(nl))
    if nl == "leaky_relu":
        for slope in (0, 0.2, 1, 3.5):
            assert calculate_gain(nl, slope) == pytest.approx(nn.init.calculate_gain(nl, slope))


# ---------------------------------------------------------------------------------------------
# Explicit schemes: formula vs torch.nn.init on many shapes

EXPLICIT = [
    "kaiming_uniform",
    "kaiming_normal",
    {"kaiming_uniform": {"mode": "fan_out", "nonlinearity": "relu"}},
    {"kaiming_normal": {"a": 0.2}},
    {"kaiming_normal": {"mode": "fan_out", "nonlinearity": "tanh"}},
    "xavier_uniform",
    {"xavier_normal": {"gain": 2.5}},
    "normal",
    {"normal": {"mean": -1, "std": 0.01}},
    "trunc_normal",
    {"trunc_normal": {"std": 0.02}},
    {"trunc_normal": {"mean": 0.3, "std": 1.5, "a": -0.5, "b": 0.1}},  # heavy truncation (p < 0.3 path)
    {"trunc_normal": {"mean": 1.8, "std": 0.5, "a": -1, "b": 2}},  # cut off on one side (p > 0.3 path)
    "uniform",
    {"uniform": {"a": -3, "b": -2.5}},
    "orthogonal",
    {"orthogonal": {"gain": 1.7}},
    "zeros",
    "ones",
    {"constant": -0.125},
]

shapes_2d_plus = st.lists(st.integers(1, 48), min_size=2, max_size=4).filter(lambda s: math.prod(s) <= 60_000)


@pytest.mark.parametrize("raw", EXPLICIT, ids=lambda r: S(r).describe())
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=shapes_2d_plus, seed=st.integers(0, 2**31 - 1))
def test_explicit_scheme_formula_matches_torch(raw, shape, seed):
    scheme = S(raw)
    t = torch.empty(shape)
    torch.manual_seed(seed)
    apply_scheme(t, scheme)
    info = expected(None, "weight", shape, scheme)
    assert info.scheme == scheme.describe()
    assert (info.fan_in, info.fan_out) == fans(shape)
    check_against(info, t)


@pytest.mark.parametrize("raw", EXPLICIT, ids=lambda r: S(r).describe())
def test_explicit_scheme_large_tensor_tight(raw):
    """On 250,000 values the std formula is checked to 1% (6 standard errors): a wrong constant would show."""
    scheme = S(raw)
    torch.manual_seed(1)
    t = torch.empty(500, 500)
    apply_scheme(t, scheme)
    e = expected(None, "weight", t.shape, scheme).expected
    m = measure(t)
    assert m.std == pytest.approx(e.std, rel=1e-2, abs=1e-9)
    assert m.mean == pytest.approx(e.mean, abs=6 * (e.std or 0) / 500 + 1e-9)


def test_explicit_1d_schemes_and_refusals():
    b = torch.empty(4000)
    for raw in ("normal", {"uniform": {"a": -1, "b": 1}}, {"trunc_normal": {"std": 0.5}}, "zeros", {"constant": 3}):
        torch.manual_seed(0)
        apply_scheme(b, S(raw))
        check_against(expected(None, "bias", b.shape, S(raw)), b)
    for raw in ("kaiming_normal", "kaiming_uniform", "xavier_uniform", "xavier_normal", "orthogonal"):
        with pytest.raises(ValueError, match="at least 2 dimensions"):
            apply_scheme(b, S(raw))
        assert expected(None, "bias", b.shape, S(raw)).expected is None


def test_apply_scheme_uses_the_global_rng_and_default_is_a_noop():
    a, b = torch.empty(64, 32), torch.empty(64, 32)
    torch.manual_seed(7)
    apply_scheme(a, S("kaiming_normal"))
    torch.manual_seed(7)
    apply_scheme(b, S("kaiming_normal"))
    assert torch.equal(a, b)
    before = a.clone()
    apply_scheme(a, InitScheme("default"))
    assert torch.equal(a, before)
    apply_scheme(torch.empty(0, 5), S("kaiming_normal"))  # zero-element: nothing, no warning
    apply_scheme(torch.empty(4, 5, device="meta"), S("orthogonal"))  # meta: nothing


def test_every_scheme_is_applied():
    for name in SCHEMES:
        raw = {"constant": 1.0} if name == "constant" else name
        t = torch.full((3, 4), float("nan"))
        apply_scheme(t, S(raw))
        if name == "default":  # the layer's own reset_parameters already ran: nothing to do
            assert t.isnan().all()
        else:  # every value drawn (or set), none left over
            assert t.isfinite().all(), name


# ---------------------------------------------------------------------------------------------
# PyTorch's defaults, per layer family, vs the layers' own reset_parameters

MODULES = {
    "Linear": lambda: nn.Linear(300, 70),
    "Linear-narrow": lambda: nn.Linear(3, 500),
    "Conv1d": lambda: nn.Conv1d(8, 32, 5),
    "Conv2d-groups": lambda: nn.Conv2d(16, 48, 3, groups=4),
    "Conv2d-depthwise": lambda: nn.Conv2d(32, 32, 5, groups=32),
    "Conv3d": lambda: nn.Conv3d(4, 8, (2, 3, 3)),
    "ConvTranspose2d": lambda: nn.ConvTranspose2d(16, 24, 4, groups=2),
    "ConvTranspose1d": lambda: nn.ConvTranspose1d(40, 6, 3),
    "Bilinear": lambda: nn.Bilinear(10, 20, 30),
    "LSTM-proj": lambda: nn.LSTM(20, 64, num_layers=2, proj_size=16, bidirectional=True),
    "GRU": lambda: nn.GRU(12, 40),
    "RNN": lambda: nn.RNN(12, 200, nonlinearity="relu"),
    "LSTMCell": lambda: nn.LSTMCell(10, 32),
    "GRUCell": lambda: nn.GRUCell(10, 32),
    "MHA": lambda: nn.MultiheadAttention(64, 4),
    "MHA-kv": lambda: nn.MultiheadAttention(32, 2, add_bias_kv=True, kdim=20, vdim=24),
    "MHA-nobias": lambda: nn.MultiheadAttention(48, 4, bias=False),
    "Embedding": lambda: nn.Embedding(500, 32),
    "Embedding-pad": lambda: nn.Embedding(20, 64, padding_idx=3),
    "EmbeddingBag": lambda: nn.EmbeddingBag(100, 16),
    "BatchNorm2d": lambda: nn.BatchNorm2d(16),
    "InstanceNorm1d": lambda: nn.InstanceNorm1d(8, affine=True),
    "LayerNorm": lambda: nn.LayerNorm([4, 8]),
    "GroupNorm": lambda: nn.GroupNorm(4, 16),
    "RMSNorm": lambda: nn.RMSNorm(32),
    "PReLU": lambda: nn.PReLU(8, init=0.1),
    "TransformerEncoderLayer": lambda: nn.TransformerEncoderLayer(32, 4, dim_feedforward=64),
    "TransformerDecoderLayer": lambda: nn.TransformerDecoderLayer(32, 4, dim_feedforward=64),
    "Transformer": lambda: nn.Transformer(32, 4, 1, 1, dim_feedforward=64, batch_first=True),
}


@pytest.mark.parametrize("name", list(MODULES))
def test_defaults_match_pytorch(name):
    for seed in range(3):  # flag() must never flag a real default init
        torch.manual_seed(seed)
        m = MODULES[name]()
        for pname, p in m.named_parameters():
            for scheme in (None, InitScheme("default")):
                info = expected(m, pname, p.shape, scheme)
                assert info.scheme.startswith("default ("), (pname, info)
                check_against(info, p.detach())


@pytest.mark.parametrize("name", list(MODULES))
def test_defaults_on_meta_are_the_same(name):
    torch.manual_seed(0)
    real = MODULES[name]()
    with torch.device("meta"):
        meta = MODULES[name]()
    metas = dict(meta.named_parameters())
    for pname, p in real.named_parameters():
        assert metas[pname].is_meta
        assert expected(meta, pname, metas[pname].shape, None) == expected(real, pname, p.shape, None)


def test_some_default_figures():
    lin = nn.Linear(100, 10)
    w = expected(lin, "weight", [10, 100]).expected
    assert (w.min, w.max) == pytest.approx((-0.1, 0.1)) and w.std == pytest.approx(0.1 / math.sqrt(3))
    assert expected(lin, "bias", [10]).fan_in == 100
    ct = nn.ConvTranspose2d(16, 24, 4, groups=2)  # weight [16, 12, 4, 4]: fan_in = 12·16
    assert expected(ct, "weight", ct.weight.shape).fan_in == 192
    assert expected(ct, "bias", ct.bias.shape).expected.max == pytest.approx(1 / math.sqrt(192))
    mha = nn.MultiheadAttention(64, 4)
    assert expected(mha, "in_proj_weight", [192, 64]).expected.max == pytest.approx(math.sqrt(6 / 256))
    assert expected(mha, "out_proj.bias", [64]).expected == Stats(0.0, 0.0, 0.0, 0.0, "analytic")
    assert expected(mha, "out_proj.weight", [64, 64]).expected.max == pytest.approx(1 / 8)
    lstm = nn.LSTM(20, 64)
    assert expected(lstm, "bias_hh_l0", [256]).expected.max == pytest.approx(1 / 8)
    emb = expected(nn.Embedding(10, 4, padding_idx=0), "weight", [10, 4]).expected
    assert emb.std == pytest.approx(math.sqrt(0.9)) and emb.min is None
    assert expected(nn.BatchNorm1d(3), "weight", [3]).expected.mean == 1.0
    assert expected(nn.PReLU(), "weight", [1]).expected.mean == 0.25


@FAST
@given(i=st.integers(1, 400), o=st.integers(1, 400), seed=st.integers(0, 1000))
def test_linear_default_any_size(i, o, seed):
    torch.manual_seed(seed)
    m = nn.Linear(i, o)
    check_against(expected(m, "weight", m.weight.shape), m.weight.detach())
    check_against(expected(m, "bias", m.bias.shape), m.bias.detach())


@FAST
@given(
    g=st.sampled_from([1, 2, 4]),
    cin=st.integers(1, 6),
    cout=st.integers(1, 6),
    k=st.integers(1, 4),
    transposed=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_conv_default_groups_and_transposed(g, cin, cout, k, transposed, seed):
    torch.manual_seed(seed)
    cls = nn.ConvTranspose2d if transposed else nn.Conv2d
    m = cls(cin * g, cout * g, k, groups=g)
    for pname, p in m.named_parameters():
        check_against(expected(m, pname, p.shape), p.detach())


def test_glue_defaults():
    torch.manual_seed(0)
    from shapecli.model.glue import ClassToken, PositionalEmbedding  # the real glue: records match classes, not names

    tok, pos = ClassToken(16), PositionalEmbedding(64, 197)
    assert expected(tok, "token", [1, 1, 16]).scheme == "default (zeros)"
    check_against(expected(tok, "token", [1, 1, 16]), tok.token.detach())
    info = expected(pos, "weight", [197, 64])
    assert info.scheme == "default (normal(std=0.02))" and info.expected.std == 0.02
    check_against(info, pos.weight.detach())
    # Nested: the rule is found by walking the local name down to the owning module.
    seq = nn.Sequential(tok, nn.Linear(16, 8))
    assert expected(seq, "0.token", [1, 1, 16]).scheme == "default (zeros)"


def test_unknown_module_type():
    class Mystery(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(3, 4))

    info = expected(Mystery(), "w", [3, 4], None)
    assert info.scheme == "default" and info.expected is None
    assert expected(None, "weight", [3, 4], None).expected is None
    assert expected(Mystery(), "w", [3, 4], S("zeros")).expected.mean == 0.0  # explicit: known


# ---------------------------------------------------------------------------------------------
# measure / sampled_measure / histogram


def test_measure_one_element_and_empty():
    assert measure(torch.tensor([3.5])) == Stats(3.5, 0.0, 3.5, 3.5, "measured")
    assert measure(torch.empty(0, 4)) == Stats(None, None, None, None, "measured")
    assert measure(torch.empty(3, device="meta")).mean is None


def test_measure_non_finite_does_not_crash():
    m = measure(torch.tensor([1.0, float("nan"), 3.0]))
    assert math.isnan(m.mean) and math.isnan(m.std) and (m.min, m.max) == (1.0, 3.0)
    m = measure(torch.tensor([1.0, float("inf")]))
    assert m.max == math.inf and not math.isfinite(m.std)
    m = measure(torch.full((4,), float("nan")))
    assert all(math.isnan(v) for v in (m.mean, m.std, m.min, m.max))
    assert flag(m, expected(None, "w", [4], S("zeros")), 4) == ["non-finite values (NaN or Inf)"]


@FAST
@given(
    st.lists(st.floats(-1e3, 1e3, allow_nan=False, width=32), min_size=1, max_size=300),
    st.sampled_from([torch.float32, torch.float64, torch.bfloat16]),
)
def test_measure_matches_float64_reference(values, dtype):
    t = torch.tensor(values, dtype=dtype)
    ref = t.double()
    m = measure(t)
    assert m.mean == pytest.approx(ref.mean().item(), rel=1e-9, abs=1e-9)
    assert m.std == pytest.approx(ref.std(correction=0).item(), rel=1e-7, abs=1e-9)
    assert (m.min, m.max) == (ref.min().item(), ref.max().item())


def test_measure_chunk_merge(monkeypatch):
    torch.manual_seed(0)
    t = torch.randn(10_007) * 3 + 5
    whole = measure(t)
    monkeypatch.setattr("shapecli.analyses.init.stats._CHUNK", 1000)
    chunked = measure(t)
    assert chunked.mean == pytest.approx(whole.mean, rel=1e-12)
    assert chunked.std == pytest.approx(whole.std, rel=1e-12)
    assert sum(histogram(t)) == t.numel()


def test_measure_integer_tensor():
    assert measure(torch.tensor([1, 2, 3])).mean == 2.0


def test_histogram():
    torch.manual_seed(0)
    t = torch.randn(1000)
    h = histogram(t, bins=8)
    assert len(h) == 8 and sum(h) == 1000
    assert h == [int(x) for x in torch.histc(t.double(), 8, t.min().item(), t.max().item()).tolist()]
    assert histogram(torch.full((5,), 2.0)) == [0, 0, 0, 0, 5, 0, 0, 0]
    assert histogram(torch.tensor([1.0, float("nan"), float("inf"), 2.0]), bins=2) == [1, 1]
    assert histogram(torch.full((3,), float("nan"))) == [0] * 8
    assert histogram(torch.empty(0)) == [0] * 8


def test_sampled_measure_on_a_huge_meta_layer():
    with torch.device("meta"):
        lin = nn.Linear(12288, 49152)  # 604M values: never materialized
    rng = torch.get_rng_state()
    s = sampled_measure(lin.weight.shape, lin, "weight", None, max_numel=200_000)
    assert torch.equal(rng, torch.get_rng_state())  # the seeded global stream is untouched
    assert s.source == "sampled"
    e = expected(lin, "weight", lin.weight.shape).expected
    assert s.std == pytest.approx(e.std, rel=0.01) and e.min - 1e-7 <= s.min and s.max <= e.max + 1e-7
    s2 = sampled_measure([4096, 4096], None, "weight", S({"trunc_normal": {"std": 0.02}}))
    assert s2.std == pytest.approx(0.02, rel=0.01)
    assert sampled_measure([3, 4], None, "weight", None) is None


# ---------------------------------------------------------------------------------------------
# flag()


def test_flag_allows_for_rounding_to_the_parameters_dtype_by_the_reports_dtype_names():
    """A float16 weight drawn within ±1/√20 holds values rounded past the bound by up to half a float16 step:
    not flagged, whether the dtype is named as the Report names it ("float16", what gather passes) or as
    torch prints it; the same excess in float32 is."""
    bound = 1 / math.sqrt(20)
    info = expected(nn.Linear(20, 64), "weight", [64, 20])
    rounded = torch.tensor([-bound, bound], dtype=torch.float16).float()  # each past the bound, by ~3e-5
    assert rounded[1] > bound and rounded[0] < -bound
    stats = Stats(0.0, info.expected.std, float(rounded[0]), float(rounded[1]))
    assert flag(stats, info, 1280, dtype="float16") == []
    assert flag(stats, info, 1280, dtype="torch.float16") == []
    assert any("below the bound" in f for f in flag(stats, info, 1280, dtype="float32"))


def test_flag_catches_wrong_inits():
    torch.manual_seed(0)
    lin = nn.Linear(512, 512)
    w = lin.weight.detach()
    info = expected(lin, "weight", w.shape)
    assert flag(measure(w), info, w.numel()) == []
    assert any(f.startswith("std") for f in flag(measure(w * 1.05), info, w.numel()))
    assert any(f.startswith("mean") for f in flag(measure(w + 0.002), info, w.numel()))
    assert any("above the bound" in f for f in flag(measure(w * 1.01), info, w.numel()))
    # xavier where kaiming(relu) was asked for: std too small by ~√2
    t = torch.empty(256, 256)
    apply_scheme(t, S("xavier_normal"))
    flags = flag(measure(t), expected(None, "weight", t.shape, S({"kaiming_normal": {"nonlinearity": "relu"}})), t.numel())
    assert any(f.startswith("std") for f in flags)
    # a normal with an outlier far beyond what n draws reach
    t = torch.randn(10_000)
    t[0] = 20.0
    assert any("beyond" in f for f in flag(measure(t), expected(None, "w", t.shape, S("normal")), t.numel()))
    # constant: any other value
    z = torch.zeros(8)
    z[3] = 1e-3
    assert flag(measure(z), expected(None, "bias", [8], S("zeros")), 8)


def test_flag_skips_tiny_and_unknown():
    info = expected(None, "w", [4], S("normal"))
    assert flag(measure(torch.tensor([5.0, 5.0, 5.0, 5.0])), info, 4) == []  # too few for mean/std
    assert flag(measure(torch.ones(3)), expected(None, "w", [3], None), 3) == []  # unknown: nothing


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_flag_allows_rounding_of_low_precision(dtype):
    torch.manual_seed(0)
    lin = nn.Linear(256, 128).to(dtype)
    for pname, p in lin.named_parameters():
        info = expected(lin, pname, p.shape)
        assert flag(measure(p), info, p.numel(), dtype=str(dtype)) == []


# ---------------------------------------------------------------------------------------------
# Lints


def codes(ds):
    return [d.code for d in ds]


def test_lint_tensor_each_code():
    torch.manual_seed(0)
    good = nn.Linear(16, 32).weight.detach()
    assert lint_tensor("weight", "0", good) == []
    d = lint_tensor("weight", "0", torch.zeros(4, 5))
    assert codes(d) == ["zero-init"] and "symmetry never breaks" in d[0].message
    assert (d[0].level, d[0].layer, d[0].param) == ("warning", "0", "weight")
    assert codes(lint_tensor("out_proj.weight", "attn", torch.full((4, 5), 0.3))) == ["constant-init"]
    dup = good.clone()
    dup[7] = dup[2]
    d = lint_tensor("weight_ih_l0", "0", dup)
    assert codes(d) == ["duplicate-rows"] and "rows 2 and 7" in d[0].message
    conv = torch.randn(8, 3, 3, 3)
    conv[5] = conv[1]
    assert codes(lint_tensor("weight", "c", conv)) == ["duplicate-rows"]
    bad = good.clone()
    bad[0, 0] = float("nan")
    bad[1, 1] = float("inf")
    d = lint_tensor("weight", "0", bad)
    assert codes(d) == ["non-finite"] and "1 NaN and 1 Inf" in d[0].message
    assert codes(lint_tensor("bias", "0", torch.tensor([0.0, float("nan")]))) == ["non-finite"]


def test_lint_tensor_quiet_cases():
    assert lint_tensor("bias", "0", torch.zeros(8)) == []  # zero biases are fine
    assert lint_tensor("weight", "norm", torch.ones(8)) == []  # 1-D weights (norm scales)
    assert lint_tensor("weight", "prelu", torch.full((4,), 0.25)) == []
    assert lint_tensor("token", "cls", torch.zeros(1, 1, 16)) == []  # a zero class token
    assert lint_tensor("weight", "0", torch.zeros(4, 5, device="meta")) == []
    assert lint_tensor("weight", "0", torch.empty(0, 5)) == []
    m = torch.randn(6, 4)
    m[2] = -0.0
    m[4] = 0.0
    assert codes(lint_tensor("weight", "0", m)) == ["duplicate-rows"]  # -0.0 == 0.0
    m[4, 0] = 1.0
    assert lint_tensor("weight", "0", m) == []


def _stack(n, scheme, act):
    return [(f"{i}", "Linear", scheme, act) for i in range(n)]


def test_lint_gain_deep_xavier_before_relu():
    d = lint_gain(_stack(10, S("xavier_uniform"), "ReLU"))
    assert codes(d) == ["gain-mismatch"] and d[0].layer == "0" and "vanish" in d[0].message
    assert lint_gain(_stack(7, S("xavier_uniform"), "ReLU")) == []  # shallow: fine
    assert lint_gain(_stack(12, S({"xavier_uniform": {"gain": 1.414}}), "ReLU")) == []
    assert lint_gain(_stack(12, S("xavier_normal"), "Sigmoid")) == []
    assert lint_gain(_stack(12, S("xavier_normal"), "BatchNorm1d")) == []  # normalized: fine
    assert lint_gain(_stack(12, None, "ReLU")) == []  # PyTorch's default is not linted
    assert lint_gain(_stack(12, S({"normal": {"std": 0.02}}), "ReLU")) == []


def test_lint_gain_kaiming_nonlinearity_mismatch():
    d = lint_gain([("0", "Linear", S({"kaiming_normal": {"nonlinearity": "relu"}}), "Tanh")])
    assert codes(d) == ["gain-mismatch"] and "nonlinearity: tanh" in d[0].message
    assert codes(lint_gain([("0", "Conv2d", S({"kaiming_normal": {"nonlinearity": "linear"}}), "ReLU")])) == ["gain-mismatch"]
    assert lint_gain([("0", "Linear", S({"kaiming_normal": {"nonlinearity": "relu"}}), "ReLU")]) == []
    assert lint_gain([("0", "Linear", S("kaiming_normal"), "LeakyReLU")]) == []
    assert lint_gain([("0", "Linear", S({"kaiming_normal": {"nonlinearity": "linear"}}), "SELU")]) == []
    assert lint_gain([("0", "Linear", S({"kaiming_normal": {"nonlinearity": "relu"}}), None)]) == []
    assert lint_gain([("0", "Linear", S({"kaiming_normal": {"nonlinearity": "relu"}}), "GELU")]) == []
    d = lint_gain(_stack(5, S({"kaiming_uniform": {"nonlinearity": "sigmoid"}}), "ReLU"))
    assert len(d) == 1 and "5 layers" in d[0].message  # grouped: one warning per (scheme, activation)


# ---------------------------------------------------------------------------------------------
# Parsing


@pytest.mark.parametrize(
    "raw, described",
    [
        ("kaiming_normal", "kaiming_normal"),
        ({"kaiming_normal": {"mode": "fan_out", "nonlinearity": "relu"}}, "kaiming_normal(mode=fan_out, nonlinearity=relu)"),
        ({"normal": {"std": 0.01}}, "normal(std=0.01)"),
        ({"normal": {"std": 1}}, "normal"),  # defaults dropped: equal schemes compare equal
        ({"normal": None}, "normal"),
        ({"constant": 0.5}, "constant(val=0.5)"),
        ({"constant": {"val": 2}}, "constant(val=2.0)"),
        ({"trunc_normal": {"b": 1, "std": 0.02}}, "trunc_normal(std=0.02, b=1.0)"),
        ({"kaiming_uniform": {"a": 2.23}}, "kaiming_uniform(a=2.23)"),
        ("default", "default"),
    ],
)
def test_parse_scheme_accepts(raw, described):
    s = parse_scheme(raw)
    assert s.describe() == described
    assert hash(s) == hash(parse_scheme(raw)) and s == parse_scheme(raw)
    assert set(s.args) == {k for k, a in SCHEMES[s.name].items()}


@pytest.mark.parametrize(
    "raw, message",
    [
        ("kaiming_norml", "did you mean kaiming_normal"),
        ("Xavier_Uniform", "did you mean xavier_uniform"),
        ({"normal": {"std": True}}, "std must be a number, got the boolean true"),
        ({"normal": {"std": "yes"}}, "got the string 'yes'"),
        ({"normal": {"std": "0.01"}}, "got the string '0.01'"),
        ({"normal": {"mean": float("nan")}}, "finite"),
        ({"uniform": {"b": float("inf")}}, "finite"),
        ({"normal": {"sdt": 0.1}}, "did you mean std"),
        ({"normal": {"std": 0}}, "std must be > 0"),
        ({"uniform": {"a": 1, "b": 1}}, "a must be less than b"),
        ({"trunc_normal": {"a": 2.5}}, "a must be less than b"),
        ({"trunc_normal": {"mean": 6, "std": 0.5, "b": 3}}, "more than 2 std outside [a, b]"),
        ({"trunc_normal": {"mean": 0.5, "std": 0.1, "a": 0.6, "b": 5}}, "would accept only 1.5%"),
        ({"kaiming_normal": {"mode": "fanout"}}, "did you mean fan_out"),
        ({"kaiming_normal": {"nonlinearity": "gelu"}}, "calculate_gain"),
        ({"kaiming_normal": {"nonlinearity": "Tanh"}}, "did you mean tanh"),
        ({"kaiming_normal": {"nonlinearity": "relu", "a": 0.1}}, "only with nonlinearity: leaky_relu"),
        ({"xavier_uniform": {"gain": -1}}, "gain must be > 0"),
        ({"constant": None}, "constant needs val"),
        ({"constant": True}, "the boolean true"),
        ({"zeros": 1}, "takes no arguments"),
        ({"normal": 0.1}, "are a mapping"),
        ({"normal": {}, "zeros": None}, "exactly one key"),
        (0.5, "{constant: 0.5}"),
        (True, "the boolean true"),
        (None, "got null"),
        ([1, 2], "got a list"),
    ],
)
def test_parse_scheme_rejects(raw, message):
    loc = Loc("net.yaml", 4, 13)
    with pytest.raises(SpecError) as e:
        parse_scheme(raw, loc)
    assert message in str(e.value)
    assert all(p.loc == loc for p in e.value.problems)


def test_parse_scheme_collects_every_problem():
    with pytest.raises(SpecError) as e:
        parse_scheme({"kaiming_normal": {"mode": "in", "nonlinearity": "rellu", "b": 1}})
    assert len(e.value.problems) == 3


def test_parse_init_map():
    m = parse_init_map({"weight": "kaiming_normal", "bias": "zeros", "out_proj.weight": {"normal": {"std": 0.02}}})
    assert m["weight"] == InitScheme("kaiming_normal") and m["bias"] == InitScheme("zeros")
    with pytest.raises(SpecError) as e:
        parse_init_map({"weight": "kaiming_nrmal", "bias": "xavier_uniform", "2 x": "zeros", 3: "ones"}, Loc("a.yaml", 2, 7))
    text = str(e.value)
    assert len(e.value.problems) == 4
    assert "init.weight: unknown init scheme" in text and "init.bias: xavier_uniform needs" in text
    for bad in ([], "zeros", {}):
        with pytest.raises(SpecError):
            parse_init_map(bad)


def test_scheme_for():
    m = parse_init_map({"weight": "kaiming_normal", "bias": "zeros", "out_proj.weight": "orthogonal"})
    kn, z, orth = InitScheme("kaiming_normal"), InitScheme("zeros"), InitScheme("orthogonal")
    assert scheme_for("weight", m) == kn
    assert scheme_for("weight_ih_l0", m) == kn
    assert scheme_for("in_proj_weight", m) == kn
    assert scheme_for("out_proj.weight", m) == orth  # exact wins
    assert scheme_for("out_proj.bias", m) == z
    assert scheme_for("bias_hh_l0", m) == z
    assert scheme_for("token", m) is None
    assert scheme_for("0.weight", m) == kn
    # An inherited init (top level, container) leaves 1-D weights (norm scales) alone; an own one does not.
    assert scheme_for("weight", m, ndim=1, own=False) is None
    assert scheme_for("norm1.weight", m, ndim=1, own=False) is None
    assert scheme_for("weight", m, ndim=1, own=True) == kn
    assert scheme_for("weight", m, ndim=2, own=False) == kn
    assert scheme_for("bias", m, ndim=1, own=False) == z
    assert scheme_for("weight", {}) is None


def test_unmatched_keys():
    m = parse_init_map({"weight": "zeros", "bias": "zeros", "token": "zeros", "in_proj_weight": "zeros"})
    assert unmatched_keys(m, ["weight", "bias"]) == ["token", "in_proj_weight"]
    assert unmatched_keys(m, ["in_proj_weight", "in_proj_bias", "token"]) == []


def test_init_scheme_of():
    assert InitScheme.of("normal", std=0.02) == GLUE_DEFAULTS["PositionalEmbedding"]["weight"]
    with pytest.raises(SpecError):
        InitScheme.of("normal", sd=1)


class _LocMap(dict):
    """Like yamlload.YMap: remembers where keys and values were written."""

    def __init__(self, data, key_locs, value_locs):
        super().__init__(data)
        self.key_locs, self.value_locs = key_locs, value_locs


def test_problems_point_at_the_argument_when_locations_are_known():
    f = "s.yaml"
    args = _LocMap({"std": "yes", "sdt": 1}, {"std": Loc(f, 3, 20), "sdt": Loc(f, 3, 30)}, {"std": Loc(f, 3, 25), "sdt": Loc(f, 3, 35)})
    scheme = _LocMap({"normal": args}, {"normal": Loc(f, 3, 10)}, {"normal": Loc(f, 3, 18)})
    top = _LocMap({"weight": scheme, "bias": "zeross"}, {"weight": Loc(f, 3, 2), "bias": Loc(f, 4, 2)}, {"weight": Loc(f, 3, 9), "bias": Loc(f, 4, 8)})
    with pytest.raises(SpecError) as e:
        parse_init_map(top, Loc(f, 2, 1))
    # std's bad value, sdt's key, bias's value: each problem where it was written
    assert sorted((p.loc.line, p.loc.col) for p in e.value.problems) == [(3, 25), (3, 30), (4, 8)]


def _dup_brute(m):
    """Reference for _duplicate_rows: rows equal to an earlier row, by plain Python."""
    rows = [tuple(r) for r in (m + 0.0).tolist()]
    n_dup = sum(1 for i, r in enumerate(rows) if r in rows[:i])
    return n_dup


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(2, 12), st.integers(1, 10), st.integers(0, 2**31 - 1), st.integers(1, 4))
def test_duplicate_rows_matches_brute_force(rows, cols, seed, levels):
    """Few distinct values make rows that start alike, share fingerprints or repeat exactly."""
    g = torch.Generator().manual_seed(seed)
    m = torch.randint(0, levels, (rows, cols), generator=g).float() - 1.0
    got = _duplicate_rows(m)
    want = _dup_brute(m)
    assert (got[0] if got else 0) == want
    if got:
        _, a, b = got
        assert a < b and torch.equal(m[a], m[b])


def test_duplicate_rows_same_first_column_different_rows():
    m = torch.randn(64, 16)
    m[:, 0] = 0.5  # every row starts alike: one big first-column group, no duplicate
    assert _duplicate_rows(m) is None
    m[40] = m[3]
    assert _duplicate_rows(m) == (1, 3, 40)


def test_look_is_measure_histogram_and_lint_at_once():
    torch.manual_seed(0)
    for t in (nn.Linear(20, 30).weight, torch.zeros(4, 5), torch.tensor([[1.0, float("nan")], [2.0, 3.0]]),
              torch.randn(8, 3, 3, 3), torch.empty(0, 3)):
        lk = I.look("weight", "0", t)
        assert lk.stats == measure(t)
        assert lk.histogram == histogram(t)
        assert codes(lk.lints) == codes(lint_tensor("weight", "0", t))
    assert I.look("weight", "0", torch.ones(3, 3), histograms=False, lint=False).histogram is None



def test_one_element_parameter_std_is_not_nan():
    spec = shapecli.parse_spec("input: [2, 3]\nlayers:\n  - Linear: 1\n", "x.yaml")
    r = shapecli.inspect(spec)
    bias = r.params[1]
    assert bias.shape == [1] and bias.stats.std == 0.0


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



@pytest.mark.parametrize("raw", ["kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform",
                                 {"normal": {"std": 0.02}}, {"uniform": {"a": -0.1, "b": 0.3}},
                                 {"trunc_normal": {"std": 1.0, "a": -2.0, "b": 2.0}}],
                         ids=lambda r: r if isinstance(r, str) else next(iter(r)))
def test_a_scheme_draws_the_shape_of_its_distribution(raw):
    """Mean and std do not tell the distributions apart (xavier_normal drawing xavier_uniform has both
    right); the extremes and the kurtosis do: a normal is unbounded (262,144 draws reach past 4 std)
    with kurtosis 3, a uniform fills exactly its predicted bounds with kurtosis 1.8."""
    scheme = parse_scheme(raw)
    layer = nn.Linear(512, 512)
    apply_scheme(layer.weight, scheme, torch.Generator().manual_seed(0))
    want = expected(layer, "weight", list(layer.weight.shape), scheme).expected
    x = layer.weight.detach().double().flatten()
    z = (x - x.mean()) / x.std()
    kurtosis = float((z ** 4).mean())
    lo, hi = float(x.min()), float(x.max())
    if want.min is None:  # a normal: no bound predicted
        assert float(z.abs().max()) > 4.0
        assert kurtosis == pytest.approx(3.0, abs=0.1)
    else:
        span = want.max - want.min
        assert want.min <= lo and hi <= want.max
        assert lo == pytest.approx(want.min, abs=0.01 * span) and hi == pytest.approx(want.max, abs=0.01 * span)
        if scheme.name.endswith("uniform"):
            assert kurtosis == pytest.approx(1.8, abs=0.05)


def _tensors_for_look_many():
    """Tensors look_many must measure exactly as look(): random, on bin edges, constant, zero, duplicate
    rows, -0.0 against 0.0, NaN and Inf, float64, alone of their shape, big."""
    g = torch.Generator().manual_seed(3)
    out = [torch.randn(16, 16, generator=g) * 0.1 for _ in range(5)]
    out += [torch.rand(16, generator=g) - 0.5 for _ in range(4)]  # biases
    out += [torch.arange(64, dtype=torch.float32).reshape(8, 8) / 7 for _ in range(2)]  # values on bin edges
    out += [torch.full((4, 6), 0.25), torch.zeros(4, 6), torch.full((4, 6), 0.25)]  # constant, zero-init
    dup = torch.randn(6, 5, generator=g)
    dup[4] = dup[1]
    out += [dup, torch.randn(6, 5, generator=g)]
    start = torch.randn(6, 5, generator=g)
    start[0, 0], start[3, 0] = 0.0, -0.0  # rows that start alike but differ later
    out += [start, torch.randn(6, 5, generator=g)]
    bad = torch.randn(6, 5, generator=g)
    bad[2, 2] = math.nan
    inf = torch.randn(6, 5, generator=g)
    inf[0, 1] = math.inf
    out += [bad, inf, torch.randn(6, 5, generator=g)]
    out += [torch.randn(3, 7, generator=g, dtype=torch.float64) for _ in range(3)]
    out += [torch.randn(2, 3, 3, 3, generator=g), torch.randn(2, 3, 3, 3, generator=g), torch.randn(9, 2, generator=g)]
    out += [torch.randint(0, 3, (8, 8), generator=g).float() for _ in range(2)]  # many equal values
    out += [torch.randn(1, 4, generator=g), torch.randn(1, 4, generator=g), torch.randn(1, generator=g)]
    return out


@pytest.mark.parametrize("histograms,batch", [(True, 1 << 18), (False, 1 << 18), (True, 64)])
def test_look_many_is_look_bit_for_bit(histograms, batch, monkeypatch):
    from shapecli.analyses.init import stats
    from shapecli.analyses.init.stats import look, look_many

    monkeypatch.setattr(stats, "_BATCH_NUMEL", batch)  # 64: every group measured in batches of two or three

    ts = _tensors_for_look_many()
    items = [(f"{i}.weight" if t.dim() > 1 else f"{i}.bias", str(i), t) for i, t in enumerate(ts)]
    many = look_many(items, histograms=histograms)
    for (name, layer, t), got in zip(items, many):
        want = look(name, layer, t, histograms=histograms)
        assert repr(got.stats) == repr(want.stats), name  # repr: NaN equals NaN
        assert got.histogram == want.histogram, name
        assert [(d.code, d.message) for d in got.lints] == [(d.code, d.message) for d in want.lints], name
    codes = {d.code for look_ in many for d in look_.lints}
    assert {"zero-init", "constant-init", "duplicate-rows", "non-finite"} <= codes  # the cases are there


def test_look_many_histograms_match_histc_on_many_random_tensors():
    from shapecli.analyses.init.stats import look_many

    g = torch.Generator().manual_seed(11)
    for dtype in (torch.float32, torch.float64):
        ts = [torch.randn(37, 11, generator=g, dtype=dtype) * (i + 1) for i in range(40)]
        for _ in range(200):  # values on and next to the bin edges, where the arithmetic's rounding decides
            lo, hi = sorted((torch.randn(2, generator=g, dtype=dtype) * 3).tolist())
            edges = torch.linspace(lo, hi, 9, dtype=dtype)
            near = torch.cat([edges, torch.nextafter(edges, edges + 1), torch.nextafter(edges, edges - 1)])
            ts.append(near.clamp(lo, hi).reshape(3, 9))
        many = look_many([("w", None, t) for t in ts], lint=False)
        for t, got in zip(ts, many):
            lo, hi = t.min().item(), t.max().item()
            assert got.histogram == [int(c) for c in torch.histc(t.reshape(-1), bins=8, min=lo, max=hi).tolist()]
