"""Symbolic shapes: formulas checked against real CPU forwards at many sizes.

The small networks are written by hand with plain torch.nn, so these tests do not depend on the
spec builder. The ResNet-50 speed check only prints its figure.
"""
from __future__ import annotations

import time

import pytest
import sympy
import torch
import torch.nn as nn
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from shapecli.errors import UsageError
from shapecli.analyses.symbolic import Dim, SymbolicResult, layer_outputs, parse_dims, symbolic_pass, unify_dims

# ---------------------------------------------------------------------------------------------
# Small hand-written networks
# ---------------------------------------------------------------------------------------------


class Concat(nn.Module):
    """Branches on the same input, concatenated along dim 1."""

    def __init__(self, *branches):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        return torch.cat([b(x) for b in self.branches], 1)


class Cat2(nn.Module):
    """A long skip: concatenates two tensors (the U-Net decoder's merge)."""

    def forward(self, a, b):
        return torch.cat([a, b], 1)


class UNet(nn.Module):
    def __init__(self, depth=3, c=4):
        super().__init__()
        self.inc = nn.Conv2d(3, c, 3, padding=1)
        self.downs = nn.ModuleList([nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(c, c, 3, padding=1)) for _ in range(depth)])
        self.ups = nn.ModuleList([nn.Upsample(scale_factor=2) for _ in range(depth)])
        self.cats = nn.ModuleList([Cat2() for _ in range(depth)])
        self.convs = nn.ModuleList([nn.Conv2d(2 * c, c, 3, padding=1) for _ in range(depth)])
        self.out = nn.Conv2d(c, 2, 1)

    def forward(self, x):
        x = self.inc(x)
        skips = []
        for d in self.downs:
            skips.append(x)
            x = d(x)
        for up, cat, conv, skip in zip(self.ups, self.cats, self.convs, reversed(skips)):
            x = conv(cat(up(x), skip))
        return self.out(x)


class Residual(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
        )
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)) if stride != 1 or cin != cout else nn.Identity()
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.body(x) + self.shortcut(x))


class Fold(nn.Module):
    """Folds the batch into the rows: [B, C, H, W] -> [B*H*W, C] (a classic bug)."""

    def forward(self, x):
        return x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])


class Reshape(nn.Module):
    """Like the spec's Reshape: every dim but the batch."""

    def __init__(self, *shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


class Item(nn.Module):
    def __init__(self, i):
        super().__init__()
        self.i = i

    def forward(self, x):
        return x[self.i]


class NeedsValue(nn.Module):
    """Uses a size as a Python number through a tensor: symbolic shapes cannot follow it."""

    def forward(self, x):
        h = int(torch.tensor(x.shape[2]).item())
        return x.flatten(1)[:, :h]


class DataDependent(nn.Module):
    """The output size depends on the values (boolean mask)."""

    def forward(self, x):
        return x[x > 0]


def resnet50_like(device="cpu"):
    """ResNet-50's layout (bottlenecks 3-4-6-3), written out by hand."""

    class Bottleneck(nn.Module):
        def __init__(self, cin, c, stride):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(cin, c, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                nn.Conv2d(c, c, 3, stride, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                nn.Conv2d(c, 4 * c, 1, bias=False), nn.BatchNorm2d(4 * c),
            )
            self.shortcut = (
                nn.Sequential(nn.Conv2d(cin, 4 * c, 1, stride, bias=False), nn.BatchNorm2d(4 * c))
                if stride != 1 or cin != 4 * c
                else nn.Identity()
            )
            self.act = nn.ReLU()

        def forward(self, x):
            return self.act(self.body(x) + self.shortcut(x))

    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for c, n, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
        blocks = []
        for i in range(n):
            blocks.append(Bottleneck(cin, c, stride if i == 0 else 1))
            cin = 4 * c
        layers.append(nn.Sequential(*blocks))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000)]
    with torch.device(device):
        return nn.Sequential(*layers)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def run_symbolic(model, text, dtype=torch.float32, **kw) -> SymbolicResult:
    return symbolic_pass(model, [(parse_dims(text), dtype)], dict(model.named_modules()), **kw)


def evaluate(formula: str, sizes: dict) -> int:
    """A formula string at concrete sizes (they are sympy-parseable: floor, ceil, max, min, %)."""
    names = {k: sympy.Symbol(k, integer=True, positive=True) for k in sizes}
    expr = sympy.sympify(formula, locals={**names, "floor": sympy.floor, "ceil": sympy.ceiling, "max": sympy.Max, "min": sympy.Min})
    value = expr.subs({names[k]: v for k, v in sizes.items()})
    assert value.is_Integer, (formula, sizes, value)
    return int(value)


def concrete_shapes(model, shape, dtype=torch.float32):
    """Real CPU forward: layer path -> nested output shapes, and the final output."""
    out = {}
    handles = []

    def shape_of(x):
        if isinstance(x, torch.Tensor):
            return list(x.shape)
        if isinstance(x, (tuple, list)):
            return [shape_of(v) for v in x]
        return None

    def hook(path):
        def record(mod, args, output):
            out.setdefault(path, shape_of(output))  # returns None: the output is kept

        return record

    for path, mod in model.named_modules():
        handles.append(mod.register_forward_hook(hook(path)))
    try:
        x = torch.randn(shape) if dtype.is_floating_point else torch.zeros(shape, dtype=dtype)
        with torch.no_grad():
            y = model(x)
    finally:
        for h in handles:
            h.remove()
    return out, shape_of(y)


def formula_at(formula, sizes):
    if formula is None:
        return None
    if isinstance(formula, list) and all(isinstance(f, str) for f in formula):
        return [evaluate(f, sizes) for f in formula]
    return [formula_at(f, sizes) for f in formula]


def assert_formulas_match(model, result, sizes: dict, shape, dtype=torch.float32):
    got, final = concrete_shapes(model, shape, dtype)
    for path, formula in result.outputs.items():
        assert formula_at(formula, sizes) == got[path], (path, formula, sizes)
    assert formula_at(result.output, sizes) == final


def messages(result):
    return [c["message"] for c in result.constraints]


# ---------------------------------------------------------------------------------------------
# parse_dims
# ---------------------------------------------------------------------------------------------


def test_parse_dims_forms():
    dims = parse_dims("B,3,H=224,W=32..1024")
    assert dims == [Dim("B", 2), Dim(None, 3), Dim("H", 224), Dim("W", 32, 32, 1024)]
    assert parse_dims(" [B, 3, H, W] ") == [Dim("B", 2), Dim(None, 3), Dim("H", 32), Dim("W", 32)]
    # defaults: the spec's own sample input
    assert parse_dims("B,3,H,W", defaults=[4, 3, 224, 192]) == [Dim("B", 4), Dim(None, 3), Dim("H", 224), Dim("W", 192)]
    # a range takes the default when it lies inside, else a power of two >= max(lo, 32)
    assert parse_dims("B,T=16..512", defaults=[2, 100])[1] == Dim("T", 100, 16, 512)
    assert parse_dims("B,T=16..512", defaults=[2, 1000])[1] == Dim("T", 32, 16, 512)
    assert parse_dims("B,W=4..20")[1] == Dim("W", 20, 4, 20)
    assert parse_dims("B,H=40..")[1] == Dim("H", 64, 40, None)
    assert parse_dims("B,H=..100")[1] == Dim("H", 32, None, 100)
    # one name, one size: the explicit sample is shared by every occurrence
    assert parse_dims("N,N=8") == [Dim("N", 8), Dim("N", 8)]
    assert str(parse_dims("H=32..64")[0]) == "H=32..64"
    assert parse_dims("B,H=224@32..1024") == [Dim("B", 2), Dim("H", 224, 32, 1024)]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty"),
        ("B,,3", "item 2 is empty"),
        ("B,0,H", "positive integer"),
        ("B,-3", "not a name"),
        ("B,3H", "not a name"),
        ("B,for", "not a name"),
        ("B,H=1", "at least 2"),
        ("B,H=", "nothing after"),
        ("B,H=abc", "bad value"),
        ("B,H=..", "at least one end"),
        ("B,H=64..32", "empty range"),
        ("B,H=2,H=3", "two samples"),
        ("B,H=8..16,H=8..32", "two different ranges"),
        ("B,H=100,H=8..16", "outside its range"),
        ("B,H=99999999999999", "too large"),
        ("B,H=16@32..64", "outside the range"),
        ("B,H=²", "bad value"),
    ],
)
def test_parse_dims_errors(text, fragment):
    with pytest.raises(UsageError) as e:
        parse_dims(text)
    assert fragment in str(e.value)


def test_unify_dims_across_inputs():
    a, b = unify_dims([parse_dims("B,T=7,4"), parse_dims("B,T,5")])
    assert a == [Dim("B", 2), Dim("T", 7), Dim(None, 4)] and b == [Dim("B", 2), Dim("T", 7), Dim(None, 5)]
    a, b = unify_dims([parse_dims("B,T=4..64"), parse_dims("B,T,5")])
    assert a[1] == b[1] == Dim("T", 32, 4, 64)
    m = nn.Bilinear(4, 5, 6)
    r = symbolic_pass(m, [(parse_dims("B,T=7,4"), torch.float32), (parse_dims("B,T,5"), torch.float32)], {"": m})
    assert r.method == "symbolic" and r.output == ["B", "T", "6"] and r.inputs == [["B", "T", "4"], ["B", "T", "5"]]
    assert r.batch_ok and r.constraints == []


def test_inconsistent_names_across_inputs():
    m = nn.Bilinear(4, 5, 6)
    with pytest.raises(UsageError):
        symbolic_pass(m, [(parse_dims("B=2,4"), torch.float32), (parse_dims("B=3,5"), torch.float32)], {})


# ---------------------------------------------------------------------------------------------
# Conv / pool stacks: exact human formulas, constraints, and a property test
# ---------------------------------------------------------------------------------------------


def test_conv_pool_stack_formulas():
    m = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.MaxPool2d(3, 2, 1), nn.Conv2d(8, 16, 5, dilation=2), nn.AvgPool2d(2))
    r = run_symbolic(m, "B,3,H=64,W=48")
    assert r.method == "symbolic", r.note
    assert r.inputs == [["B", "3", "H", "W"]]
    assert r.outputs["0"] == ["B", "8", "floor((H - 1)/2) + 1", "floor((W - 1)/2) + 1"]
    assert r.outputs["2"] == ["B", "8", "floor((H - 1)/4) + 1", "floor((W - 1)/4) + 1"]
    assert r.output == ["B", "16", "floor((H - 37)/8) + 1", "floor((W - 37)/8) + 1"]
    assert "H must be ≥ 37 (layers 3: Conv2d; 4: AvgPool2d)" in messages(r)
    assert all(c["dims"] in (["H"], ["W"]) for c in r.constraints)
    assert r.batch_ok and r.batch_issue is None
    for h, w in [(37, 37), (38, 100), (64, 48), (255, 41)]:
        assert_formulas_match(m, r, {"B": 3, "H": h, "W": w}, (3, 3, h, w))
    with pytest.raises(RuntimeError):  # the constraint is real
        m(torch.randn(1, 3, 36, 48))


layer_spec = st.one_of(
    st.tuples(st.just("conv"), st.integers(1, 5), st.integers(1, 3), st.integers(0, 2), st.integers(1, 2)),
    st.tuples(st.just("max"), st.integers(2, 3), st.integers(1, 3), st.integers(0, 1), st.booleans()),
    st.tuples(st.just("avg"), st.integers(2, 3), st.integers(1, 2), st.integers(0, 1), st.booleans()),
)


def build_stack(spec):
    layers, c = [], 3
    for kind, k, s, p, extra in spec:
        if kind == "conv":
            layers.append(nn.Conv2d(c, 4, k, stride=s, padding=p, dilation=extra))
            c = 4
        elif kind == "max":
            layers.append(nn.MaxPool2d(k, s, min(p, k // 2), ceil_mode=extra))
        else:
            layers.append(nn.AvgPool2d(k, s, min(p, k // 2), ceil_mode=extra))
    return nn.Sequential(*layers)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=st.lists(layer_spec, min_size=1, max_size=4), sizes=st.lists(st.integers(2, 90), min_size=6, max_size=6))
def test_property_conv_pool_stacks(spec, sizes):
    """For random stacks: every size that runs matches the formulas; every size that fails is
    covered by a constraint on that dimension."""
    m = build_stack(spec)
    try:
        m(torch.randn(1, 3, 64, 48))
    except RuntimeError:
        assume(False)  # the sample itself does not fit this stack
    r = run_symbolic(m, "B,3,H=64,W=48")
    assert r.method == "symbolic", r.note
    constrained = {d for c in r.constraints for d in c["dims"]}
    for h, w in zip(sizes[::2], sizes[1::2]):
        try:
            got, final = concrete_shapes(m, (2, 3, h, w))
        except RuntimeError:
            assert constrained & {"H", "W"}, (spec, h, w, r.constraints)
            continue
        for path, formula in r.outputs.items():
            assert formula_at(formula, {"B": 2, "H": h, "W": w}) == got[path], (spec, path, formula, h, w)


# ---------------------------------------------------------------------------------------------
# U-Net: divisibility from Concat, exact division in the formulas
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def unet_result():
    torch.manual_seed(0)
    m = UNet(depth=3)
    return m, run_symbolic(m, "B,3,H=64,W=48")


def test_unet_divisibility(unet_result):
    m, r = unet_result
    assert r.method == "symbolic", r.note
    msgs = messages(r)
    assert "H must be a multiple of 8 (layers cats.0, cats.1, cats.2: Cat2)" in msgs
    assert "W must be a multiple of 8 (layers cats.0, cats.1, cats.2: Cat2)" in msgs
    # exact where the constraint makes the division exact
    assert r.outputs["downs.0"] == ["B", "4", "H/2", "W/2"]
    assert r.outputs["downs.2"] == ["B", "4", "H/8", "W/8"]
    assert r.outputs["cats.0"] == ["B", "8", "H/4", "W/4"]
    assert r.output == ["B", "2", "H", "W"]
    with pytest.raises(RuntimeError):
        m(torch.randn(1, 3, 68, 48))  # 68 is not a multiple of 8: the concat fails


@settings(max_examples=15, deadline=None)
@given(h=st.integers(1, 12), w=st.integers(1, 12), b=st.integers(2, 3))
def test_property_unet(unet_result, h, w, b):
    m, r = unet_result
    assert_formulas_match(m, r, {"B": b, "H": 8 * h, "W": 8 * w}, (b, 3, 8 * h, 8 * w))


def test_unet_nested_16():
    m = UNet(depth=4, c=2)
    r = run_symbolic(m, "B,3,H=64,W=32")
    assert any(msg.startswith("H must be a multiple of 16") for msg in messages(r))
    assert r.outputs["downs.3"] == ["B", "2", "H/16", "W/16"]


# ---------------------------------------------------------------------------------------------
# ResNet-ish blocks, heads, reshapes
# ---------------------------------------------------------------------------------------------


@settings(max_examples=10, deadline=None)
@given(h=st.integers(2, 70), w=st.integers(2, 70))
def test_property_resnet_block(h, w):
    m = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), Residual(8, 16, 2), Residual(16, 16, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5))
    r = _cached(m, "resblock", "B,3,H=32,W=40")
    assert r.method == "symbolic" and r.constraints == [] and r.batch_ok
    assert r.outputs["1"] == ["B", "16", "floor((H - 1)/2) + 1", "floor((W - 1)/2) + 1"]
    assert r.output == ["B", "5"]
    assert_formulas_match(_MODELS["resblock"], r, {"B": 2, "H": h, "W": w}, (2, 3, h, w))


_MODELS: dict = {}
_RESULTS: dict = {}


def _cached(model, key, text):
    if key not in _RESULTS:
        _MODELS[key] = model
        _RESULTS[key] = run_symbolic(model, text)
    return _RESULTS[key]


def test_flatten_linear_fixes_the_size():
    m = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 32 * 24, 10))
    r = run_symbolic(m, "B,3,H=64,W=48")
    assert r.method == "symbolic", r.note
    (c,) = r.constraints
    assert c["layer"] == "3" and c["dims"] == ["H", "W"]
    assert c["message"].startswith("H and W are fixed by layer 3 (Linear: in_features 3072): ")
    assert "4*floor(H/2)*floor(W/2) must equal 3072" in c["message"]
    assert r.outputs["2"] == ["B", "4*floor(H/2)*floor(W/2)"]
    assert r.output == ["B", "10"]
    # other sizes with the same product do run; others do not
    assert list(m(torch.randn(2, 3, 32, 96)).shape) == [2, 10]
    with pytest.raises(RuntimeError):
        m(torch.randn(2, 3, 64, 50))


def test_single_dim_fixed_by_layernorm():
    m = nn.Sequential(nn.Conv2d(3, 4, 1), nn.LayerNorm(48))
    r = run_symbolic(m, "B,3,H=8,W=48")
    assert messages(r) == ["W is fixed at 48 by layer 1 (LayerNorm: normalized_shape [48])"]
    assert r.outputs["0"] == ["B", "4", "H", "W"]
    assert r.output == ["B", "4", "H", "48"]


def test_reshape_divisibility():
    m = nn.Sequential(nn.Conv2d(3, 3, 1), Reshape(16, -1))
    r = run_symbolic(m, "B,3,H=64,W=48")
    assert r.method == "symbolic", r.note
    assert messages(r) == ["3*H*W must be a multiple of 16 (layer 1: Reshape)"]
    assert r.output == ["B", "16", "3*H*W/16"]
    assert r.batch_ok
    for h, w in [(16, 5), (4, 4), (32, 7)]:
        assert_formulas_match(m, r, {"B": 2, "H": h, "W": w}, (2, 3, h, w))


# ---------------------------------------------------------------------------------------------
# Batch independence
# ---------------------------------------------------------------------------------------------


def test_batch_fold_is_flagged():
    m = nn.Sequential(nn.Conv2d(3, 4, 1), Fold(), nn.Linear(4, 5))
    r = run_symbolic(m, "B,3,H=8,W=6")
    assert not r.batch_ok
    assert r.batch_issue.startswith("layer 1 (Fold) folds the batch dimension B")
    assert r.outputs["1"] == ["B*H*W", "4"]
    assert_formulas_match(m, r, {"B": 3, "H": 5, "W": 7}, (3, 3, 5, 7))


def test_batch_fold_with_a_fixed_batch():
    m = nn.Sequential(nn.Conv2d(3, 4, 1), Fold())
    r = run_symbolic(m, "2,3,H=8,W=6")
    assert not r.batch_ok and "layer 1 (Fold) folds the batch dimension" in r.batch_issue
    assert r.outputs["1"] == ["2*H*W", "4"]  # formulas show the fixed batch size


def test_batch_kept_through_lstm_and_tuples():
    m = nn.Sequential(nn.LSTM(16, 32, batch_first=True), Item(0), nn.Linear(32, 4))
    r = run_symbolic(m, "B,T=50,16")
    assert r.method == "symbolic", r.note
    assert r.outputs["0"] == [["B", "T", "32"], [["1", "B", "32"], ["1", "B", "32"]]]
    assert r.output == ["B", "T", "4"]
    assert r.batch_ok and r.constraints == []
    got, final = concrete_shapes(m, (3, 7, 16))
    assert formula_at(r.outputs["0"], {"B": 3, "T": 7}) == got["0"]


def test_batch_mean_over_batch_is_flagged():
    class BatchMean(nn.Module):
        def forward(self, x):
            return x.mean(0)

    r = run_symbolic(nn.Sequential(nn.Linear(4, 4), BatchMean()), "B,4")
    assert not r.batch_ok and "drops the batch dimension B" in r.batch_issue


def test_batch_dim_one_for_sequence_first():
    m = nn.Sequential(nn.GRU(16, 32), Item(0))
    r = symbolic_pass(m, [(parse_dims("T=20,B=4,16"), torch.float32)], dict(m.named_modules()), batch_dim=1)
    assert r.batch_ok, r.batch_issue
    assert r.output == ["T", "B", "32"]


# ---------------------------------------------------------------------------------------------
# Transformers, embeddings, ranges, meta models
# ---------------------------------------------------------------------------------------------


def test_transformer_and_embedding():
    m = nn.Sequential(nn.Embedding(100, 16), nn.TransformerEncoderLayer(16, 4, 32, batch_first=True, dropout=0.0), nn.Linear(16, 3))
    r = run_symbolic(m, "B,T=12", dtype=torch.int64)
    assert r.method == "symbolic", r.note
    assert r.output == ["B", "T", "3"] and r.batch_ok and r.constraints == []
    assert_formulas_match(m, r, {"B": 2, "T": 5}, (2, 5), torch.int64)


def test_a_position_table_bounds_the_sequence_far_from_the_sample():
    """`T <= 1024` is broken only at 1025, far from a sample of 12: the bound is still found (GPT-2's wpe)."""
    from shapecli.model.glue import PositionalEmbedding

    m = nn.Sequential(nn.Embedding(100, 16), PositionalEmbedding(16, num_positions=1024))
    r = run_symbolic(m, "B,T=12", dtype=torch.int64)
    assert r.method == "symbolic", r.note
    assert [c["message"] for c in r.constraints] == ["T must be ≤ 1024 (layer 1: PositionalEmbedding)"]


def test_user_range_that_includes_failing_sizes():
    m = nn.Sequential(nn.Conv2d(3, 4, 7), nn.MaxPool2d(2))
    r = run_symbolic(m, "B,3,H=32..1024,W=4..64")
    assert r.method == "symbolic", r.note
    (c,) = r.constraints
    assert c["dims"] == ["W"]
    assert c["message"].startswith("W must be ≥ 8 (layers 0: Conv2d; 1: MaxPool2d)")
    assert "your range 4..64 for W includes sizes that do not fit" in c["message"]


def test_meta_model():
    m = resnet50_like("meta")
    r = run_symbolic(m, "B,3,H=224,W=224")
    assert r.method == "symbolic", r.note
    assert r.outputs["0"] == ["B", "64", "floor((H - 1)/2) + 1", "floor((W - 1)/2) + 1"]
    assert r.outputs["4"] == ["B", "256", "floor((H - 1)/4) + 1", "floor((W - 1)/4) + 1"]
    assert r.outputs["7"] == ["B", "2048", "floor((H - 1)/32) + 1", "floor((W - 1)/32) + 1"]
    assert r.output == ["B", "1000"] and r.batch_ok and r.constraints == []


def test_the_model_is_left_as_it_was():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), NeedsValue())
    before = {k: v.clone() for k, v in m.state_dict().items()}
    run_symbolic(m, "B,3,H=16,W=12")  # falls back to probes (NeedsValue): real runs happen
    after = m.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN running stats untouched
    for mod in m.modules():
        assert "forward" not in mod.__dict__
        assert not mod._forward_hooks and not mod._forward_pre_hooks
    assert m.training


# ---------------------------------------------------------------------------------------------
# Falling back to probes
# ---------------------------------------------------------------------------------------------


def test_fallback_to_probes_when_a_size_is_needed_as_a_number():
    m = nn.Sequential(nn.Conv2d(3, 4, 3, 2, 1), NeedsValue())
    r = run_symbolic(m, "B,3,H=64,W=48")
    assert r.method == "probes"
    assert "layer 1 (NeedsValue) needs the concrete value of H" in r.note
    assert "fitted from" in r.note
    assert r.batch_ok
    for h, w in [(64, 48), (65, 48), (128, 50)]:
        assert_formulas_match(m, r, {"B": 2, "H": h, "W": w}, (2, 3, h, w))


def test_fallback_for_data_dependent_sizes():
    m = nn.Sequential(nn.Conv2d(3, 4, 3), DataDependent())
    r = run_symbolic(m, "B,3,H=16,W=12")
    assert r.method == "probes"
    assert "depends on the data" in r.note
    assert r.outputs["0"] == ["B", "4", "H - 2", "W - 2"]  # layers before it are still fitted
    assert r.output == ["?"]


def test_probe_constraints_guess_the_rule():
    class MustBe16(nn.Module):
        def forward(self, x):
            h = int(torch.tensor(x.shape[2]).item())
            if h % 16:
                raise RuntimeError("H must be a multiple of 16")
            return x

    r = run_symbolic(nn.Sequential(nn.Conv2d(3, 4, 1), MustBe16()), "B,3,H=64,W=48")
    assert r.method == "probes"
    assert any(m.startswith("H probably must be a multiple of 16 (layer 1: MustBe16") for m in messages(r))


# ---------------------------------------------------------------------------------------------
# Report wiring and speed
# ---------------------------------------------------------------------------------------------


def test_layer_outputs_and_the_report_block():
    from shapecli.report import LayerInfo, TensorInfo

    m = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1))
    r = run_symbolic(m, "B,3,H=32,W=32")
    layers = [
        LayerInfo(path="", type="Sequential", depth=0, args={}, inferred={}, output_shapes=[TensorInfo([2, 8, 16, 16], "float32")]),
        LayerInfo(path="0", type="Conv2d", depth=0, args={}, inferred={}, output_shapes=[TensorInfo([2, 8, 16, 16], "float32")]),
    ]
    out = layer_outputs(r, layers)
    assert out["0"] == TensorInfo(["B", "8", "floor((H - 1)/2) + 1", "floor((W - 1)/2) + 1"], "float32")
    d = r.to_dict()
    assert d["method"] == "symbolic" and d["inputs"] == [["B", "3", "H", "W"]]
    assert "outputs" not in d


def test_resnet50_speed(capsys):
    """Prints the figure; no assertion on time (machines differ)."""
    symbolic_pass(nn.Conv2d(3, 4, 3), [(parse_dims("B,3,H,W"), torch.float32)], {})  # first-use imports
    m = resnet50_like("cpu")
    t = time.perf_counter()
    r = run_symbolic(m, "B,3,H=224,W=224")
    dt = time.perf_counter() - t
    with capsys.disabled():
        print(f"\n[symbolic] ResNet-50 (hand-written, {sum(1 for _ in m.modules())} modules): {dt:.2f} s, method={r.method}")
    assert r.method == "symbolic" and r.output == ["B", "1000"]


# ---------------------------------------------------------------------------------------------
# The words for sets of sizes
# ---------------------------------------------------------------------------------------------


def test_describe_sets():
    from shapecli.analyses.symbolic.constraints import _describe_set
    from shapecli.analyses.symbolic.context import _Var

    v = _Var("H", 64, None, None)
    win = list(v.window())
    assert _describe_set(v, win) is None
    assert _describe_set(v, [x for x in win if x >= 7]) == "H must be ≥ 7"
    assert _describe_set(v, [64]) == "H is fixed at 64"
    assert _describe_set(v, [x for x in win if x % 16 == 0]) == "H must be a multiple of 16"
    assert _describe_set(v, [x for x in win if x % 16 == 0 and x >= 48]) == "H must be a multiple of 16, ≥ 48"
    assert _describe_set(v, [x for x in win if x % 32 == 1]) == "H must be 1 more than a multiple of 32"
    assert _describe_set(v, [x for x in win if x % 16 < 8]) == "H mod 16 must be between 0 and 7"
    assert _describe_set(v, [x for x in win if 224 <= x <= 255]) == "H must be between 224 and 255"
    assert _describe_set(v, []).startswith("no value of H")
    bounded = _Var("W", 32, 4, 64)
    assert _describe_set(bounded, list(range(8, 65))) == "W must be ≥ 8"
    assert _describe_set(bounded, list(range(4, 33))) == "W must be ≤ 32"


def test_combined_rule_names_every_layer_that_fails_first():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 3, 33), UNet(depth=3))  # H - 32 must be a multiple of 8
    r = run_symbolic(m, "B,3,H=96,W=96")
    assert messages(r)[0] == "H must be a multiple of 8, ≥ 40 (layers 0: Conv2d; 1.cats.0, 1.cats.1, 1.cats.2: Cat2)"
    assert r.outputs["1.downs.0"] == ["B", "4", "H/2 - 16", "W/2 - 16"]
    assert_formulas_match(m, r, {"B": 2, "H": 48, "W": 56}, (2, 3, 48, 56))


def test_other_dim_types_and_a_batch_sample_of_one():
    """The spec's own Dim type works too, and a batch sample of 1 (`input: [1, 3, 64, 64]`)
    is traced as 2 so that B stays a name."""
    from dataclasses import dataclass as dc

    @dc
    class SpecDim:
        name: str | None
        size: int
        lo: int | None = None
        hi: int | None = None

    m = nn.Sequential(nn.Conv2d(3, 4, 3, 2, 1), Fold())
    dims = [SpecDim("B", 1), SpecDim(None, 3), SpecDim("H", 64), SpecDim("W", 48)]
    r = symbolic_pass(m, [(dims, torch.float32)], dict(m.named_modules()))
    assert r.method == "symbolic", r.note
    assert r.outputs["0"] == ["B", "4", "floor((H - 1)/2) + 1", "floor((W - 1)/2) + 1"]
    assert not r.batch_ok and "folds the batch dimension B" in r.batch_issue
    assert dims[0].size == 1  # the caller's dims are not modified
