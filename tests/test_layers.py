"""shapecli.layers: one record per layer type, read by every pass.

(a) every registered type has what each pass needs, a rule or an explicit marker, and the rules
    say true things about real instances; (b) a layer type added in one place (a record given to
    `layers.registered`) works in every pass: parse, build, guard, init expectation, estimate,
    symbolic.
"""
from __future__ import annotations

import inspect
import math
import threading

import pytest
import torch
from torch import nn

import shapecli
from shapecli import layers
from shapecli.analyses.estimate import estimate
from shapecli.analyses.init.predict import RULES as INIT_RULES
from shapecli.analyses.init.predict import Dist, expected
from shapecli.analyses.symbolic.layers import RULES as SYMBOLIC_RULES
from shapecli.analyses.symbolic.layers import _shape_models
from shapecli.errors import ShapeError
from shapecli.export.gluecode import RULES as EXPORT_RULES
from shapecli.model.fresh import Template, copy_of, recipe_of, replay
from shapecli.layers.record import (
    CHILDREN,
    NATIVE,
    NO_BIGGER,
    NO_PARAMS,
    NOT_EXPORTED,
    SCHEMES,
    TORCH_MODULE,
    UNGUARDED,
    Inferred,
    LayerType,
    missing,
)
from shapecli.run.guard import RULES as GUARD_RULES
from shapecli.run.guard import _output_numel

NAMES = sorted(layers.BUILTIN)

# ---------------------------------------------------------------------------- (a) complete records


@pytest.mark.parametrize("name", NAMES)
def test_every_record_names_a_rule_or_a_marker_for_every_pass(name):
    lt = layers.get(name)
    assert missing(lt) == []
    assert lt.out_size in (NO_BIGGER, UNGUARDED) or lt.out_size in GUARD_RULES
    assert lt.init in (NO_PARAMS, CHILDREN, SCHEMES) or lt.init in INIT_RULES
    assert lt.symbolic == NATIVE or lt.symbolic in SYMBOLIC_RULES
    assert lt.export in EXPORT_RULES if lt.glue else lt.export == TORCH_MODULE  # the exported file imports torch only
    assert lt.dtype == ("float" if lt.inferred else "ids" if lt.group == "embedding" else "any")


def test_missing_reports_each_gap():
    bare = LayerType("X", group="activation")
    assert missing(bare) == ["out_size", "init", "symbolic", "export", "gain"]
    glue = dict(group="glue", out_size=NO_BIGGER, symbolic=NATIVE, export="item")
    assert missing(LayerType("X", init=SCHEMES, init_draws=False, **glue)) == ["init_schemes"]
    assert missing(LayerType("X", init="linear", **glue)) == ["init_draws"]  # export keeps the drawing layers' order
    assert missing(LayerType("X", init=NO_PARAMS, **{**glue, "export": None})) == ["export"]
    assert missing(LayerType("X", init=NO_PARAMS, **glue)) == []


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
@pytest.mark.parametrize("name", [n for n in NAMES if layers.get(n).init != NO_PARAMS])
def test_init_draws_says_whether_constructing_draws_from_the_rng(name):
    """Two seeds give other initial values exactly when the record says its init draws."""
    a, b = list(_instance(name).parameters()), list(_instance(name, seed=1).parameters())
    assert bool(layers.get(name).init_draws) == any(not torch.equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("name", NAMES)
def test_declared_inputs_match_the_forward_signature(name):
    ps = list(inspect.signature(layers.cls(name).forward).parameters.values())[1:]
    need = sum(1 for p in ps if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty)
    assert layers.get(name).inputs == max(need, 1)


def test_table_args_are_the_first_positional_ones():
    for name in NAMES:
        lt = layers.get(name)
        if lt.table:
            assert [p.name for p in layers.signature(name).positional()][:len(lt.table)] == list(lt.table)


# Arguments the generic filler below cannot guess.
_KWARGS = {"FractionalMaxPool2d": {"output_size": 2}, "FractionalMaxPool3d": {"output_size": 2},
           "Fold": {"output_size": [4, 4], "kernel_size": 2}, "Unflatten": {"dim": 1, "unflattened_size": [2, 4]},
           "Upsample": {"scale_factor": 2.0}, "UpsamplingNearest2d": {"scale_factor": 2.0},
           "UpsamplingBilinear2d": {"scale_factor": 2.0}, "Item": {"index": 0}, "Permute": {"dims": [0, 1]},
           "Reshape": {"shape": [8]}, "Mean": {"dim": 1}, "Select": {"dim": 1, "index": 0}, "Transpose": {"dim0": 0, "dim1": 1},
           "Threshold": {"threshold": 0.1, "value": 0.0}, "LPPool1d": {"norm_type": 2.0}, "LPPool2d": {"norm_type": 2.0},
           "LPPool3d": {"norm_type": 2.0}, "ConstantPad1d": {"padding": 1, "value": 0.0},
           "ConstantPad2d": {"padding": 1, "value": 0.0}, "ConstantPad3d": {"padding": 1, "value": 0.0},
           "PositionalEmbedding": {"num_positions": 8}, "AdaptiveLogSoftmaxWithLoss": {}}


def _kwargs(name: str) -> dict:
    """A small instance's arguments: inferred sizes 8, other required ints 2, lists [2]."""
    kw = {}
    for p in layers.signature(name).params:
        if p.inferred:
            kw[p.name] = [8] if p.name == "normalized_shape" else 8
        elif p.required:
            kw[p.name] = 2 if "int" in p.types else [2] if "ints" in p.types else 2.0
    kw.update(_KWARGS.get(name, {}))
    return kw


def _instance(name: str, seed: int = 0) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return layers.cls(name)(**_kwargs(name))


def _state(m: nn.Module) -> dict:
    """Everything a layer holds: its plain attributes, and each parameter's and buffer's class, dtype,
    shape, strides, device, requires_grad, Python attributes and values."""
    tensors = {f"{kind}.{k}": None if t is None else (type(t), t.dtype, tuple(t.shape), t.stride(), t.device,
                                                      t.requires_grad, dict(vars(t)), t.tolist())
               for kind in ("_parameters", "_buffers") for k, t in getattr(m, kind).items()}
    return {**{k: v for k, v in vars(m).items() if k not in ("_parameters", "_buffers")}, **tensors}


_COPIED = [n for n in NAMES if layers.get(n).copies]


@pytest.mark.parametrize("name", _COPIED)
def test_a_copy_reset_is_the_layer_constructed_anew(name):
    """`copies` (model/fresh.py copy_of): a copy from a constructed layer's Template, every value first
    set to a sentinel, then reset_parameters(), holds what the constructor gives for the same seed,
    draws as much from the RNG, and shares nothing mutable with the layer it was copied from."""
    cls, kw = layers.cls(name), _kwargs(name)
    made_from = _instance(name, seed=0)
    assert not made_from._modules  # a copy has no children
    template = Template(made_from)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        made = cls(**kw)
        made_rng = torch.get_rng_state()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        copied = copy_of(template, torch.device("cpu"))
        with torch.no_grad():
            for t in [*copied.parameters(), *copied.buffers()]:  # what reset_parameters() leaves shows
                t.fill_(float("nan") if t.is_floating_point() else 7)
        if list(copied.parameters()) or list(copied.buffers()):
            copied.reset_parameters()
        copied_rng = torch.get_rng_state()
    assert type(copied) is cls and torch.equal(made_rng, copied_rng)
    assert _state(copied) == _state(made)
    shared = [k for k, v in vars(copied).items() if isinstance(v, (list, dict, set)) and v is vars(made_from)[k]]
    assert shared == []


@pytest.mark.parametrize("name", _COPIED)
def test_a_replayed_copy_is_the_layer_constructed_anew(name):
    """A copy whose template has a recipe (model/fresh.py recipe_of: what reset_parameters() writes,
    recorded on meta), every value first set to a sentinel, then the recipe replayed on a generator of
    its own, holds what the constructor gives with the global RNG at that generator's state, and
    advances the generator as far as the constructor advances the global RNG."""
    cls, kw = layers.cls(name), _kwargs(name)
    template = Template(_instance(name, seed=0))
    recipe = recipe_of(template)
    if recipe is None:
        pytest.skip(f"{name}: reset_parameters() does more than a recipe holds (reset by itself)")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        made = cls(**kw)
        made_rng = torch.get_rng_state()
    gen = torch.Generator().manual_seed(7)
    copied = copy_of(template, torch.device("cpu"))
    with torch.no_grad():
        for t in [*copied.parameters(), *copied.buffers()]:
            t.fill_(float("nan") if t.is_floating_point() else 7)
    replay(copied, recipe, gen)
    assert torch.equal(gen.get_state(), made_rng)
    assert _state(copied) == _state(made)


def test_copies_get_tensors_of_their_own_with_the_template_layers_strides():
    """copy_of makes each tensor with torch.empty_like of a one-element source expanded to its shape
    (model/fresh.py _sources): each copy's tensors own their storage, contiguous as the constructor's;
    a tensor without elements, or one the layer holds with other strides, is made by torch.empty."""
    cpu = torch.device("cpu")
    template = Template(nn.Linear(16, 8))
    one, two = copy_of(template, cpu), copy_of(template, cpu)
    for a, b in zip(one.parameters(), two.parameters()):
        assert a.untyped_storage().data_ptr() != b.untyped_storage().data_ptr()
        assert a.is_contiguous() and a.untyped_storage().nbytes() == a.numel() * 4
    sources = template.sources[cpu][0]
    assert [s.untyped_storage().nbytes() for s in sources] == [4, 4]  # one float each, not a layer's worth
    empty = copy_of(Template(nn.Linear(0, 4)), cpu)
    assert empty.weight.shape == (4, 0) and empty.weight.stride() == nn.Linear(0, 4).weight.stride()
    odd = nn.Linear(3, 5)
    odd.weight = nn.Parameter(torch.empty(3, 5).t())  # strides (1, 5): empty_like of a source would not keep them
    made = copy_of(Template(odd), cpu)
    assert made.weight.shape == (5, 3) and made.weight.is_contiguous()  # as torch.empty makes it
    assert copy_of(Template(nn.Linear(2, 2)), torch.device("meta")).weight.device.type == "meta"


def test_the_common_layers_have_recipes():
    """The layers a spec repeats most are replayed (model/lazy.py Deferred._replayed), not reset through
    nn.init: Linear and Conv2d draw uniform_, BatchNorm2d and LayerNorm fill, Embedding draws normal_; and
    what a recipe cannot hold (Embedding's padding row: a write into a view) has none."""
    ops = {n: [(s[1], s[2]) for s in recipe_of(Template(_instance(n)))] for n in
           ("Linear", "Conv2d", "BatchNorm2d", "LayerNorm", "Embedding")}
    assert ops == {"Linear": [("weight", "uniform_"), ("bias", "uniform_")],
                   "Conv2d": [("weight", "uniform_"), ("bias", "uniform_")],
                   "BatchNorm2d": [("running_mean", "zero_"), ("running_var", "fill_"), ("num_batches_tracked", "zero_"),
                                   ("weight", "fill_"), ("bias", "zero_")],
                   "LayerNorm": [("weight", "fill_"), ("bias", "zero_")],
                   "Embedding": [("weight", "normal_")]}
    assert recipe_of(Template(nn.Embedding(4, 3, padding_idx=0))) is None
    assert recipe_of(Template(nn.ReLU())) == ()


def test_types_with_children_or_hidden_state_are_constructed():
    """A layer with children (MultiheadAttention's out_proj) or state its __init__ derives beyond
    reset_parameters() (an RNN's _flat_weights list of its parameters) is never a copy."""
    for name in ("MultiheadAttention", "LSTM", "GRU", "RNN", "TransformerEncoderLayer", "Transformer"):
        assert not layers.get(name).copies
    assert not LayerType("X", group="activation").copies  # a record registered at run time: constructed unless it says


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
@pytest.mark.parametrize("name", NAMES)
def test_init_rule_predicts_every_parameter(name):
    """No silent fallback: a layer with parameters has a rule for each, and NO_PARAMS is true."""
    lt, m = layers.get(name), _instance(name)
    named = list(m.named_parameters())
    if lt.init == NO_PARAMS:
        assert named == []
    for local, prm in named:
        info = expected(m, local, list(prm.shape))
        assert info.expected is not None, f"{name}.{local}: {info.scheme}"
        assert info.scheme.startswith("default (")


@pytest.mark.parametrize("name", [n for n in NAMES if layers.get(n).out_size in GUARD_RULES])
def test_guard_rule_gives_the_real_output_size(name):
    m = _instance(name)
    lt = layers.get(name)
    if lt.dtype == "ids":
        x = torch.zeros(2, 3, dtype=torch.long)
    elif lt.group == "linear":
        x = torch.zeros(2, 8)
    else:  # conv, padding, upsampling: batched, 8 channels, 5 per spatial dim
        nd = lt.spatial or (int(name[-2]) if name[-2].isdigit() else 2)
        x = torch.zeros([2, 8] + [5] * nd)
    assert _output_numel(m, x) == m(x).numel()


def test_symbolic_table_holds_exactly_the_records_with_a_shape_rule():
    table = {c.__name__ for c in _shape_models()}
    assert table == {n for n in NAMES if layers.get(n).symbolic != NATIVE}


def test_gain_lint_reads_the_record():
    from shapecli.analyses.init.lints import _ideal_gains

    assert _ideal_gains("ReLU") == ("relu", (math.sqrt(2.0),))
    assert _ideal_gains("SELU") == ("linear", (1.0, 0.75))
    assert _ideal_gains("LayerNorm") is None and _ideal_gains("GELU") is None


# ---------------------------------------------------------------------------- (b) a new type, one place


class Tile(nn.Module):
    """x * weight, tiled `repeats` times along the last dim: its output can outgrow its input."""

    def __init__(self, num_features: int, repeats: int = 1):
        super().__init__()
        self.repeats = repeats
        self.weight = nn.Parameter(torch.empty(num_features).uniform_(0.5, 1.5))

    def forward(self, x):
        return (x * self.weight).repeat(*([1] * (x.dim() - 1)), self.repeats)


SHAPE_RULE_CALLS = []


def _tile_shape(self, x):  # the symbolic pass's shape-only forward
    SHAPE_RULE_CALLS.append(type(self).__name__)
    return x.new_empty([*x.shape[:-1], x.shape[-1] * self.repeats])


def _tile_init(module, rel, shape):
    return ("default (U(0.5, 1.5))", Dist("uniform", lo=0.5, hi=1.5), None) if rel == "weight" else None


TILE = LayerType(
    "Tile", group="custom", cls=Tile,
    inferred=(Inferred("num_features", -1, "features (last dim)"),), dtype="float",
    out_size=lambda m, shape: math.prod(shape) * m.repeats,
    init=_tile_init, init_draws=True, symbolic=_tile_shape, export=NOT_EXPORTED)

SPEC = """
name: tiled
input: [2, 8]
layers:
  - Linear: 8
  - Tile: {repeats: 3}
  - ReLU
"""


def test_a_registered_type_works_in_every_pass():
    with pytest.raises(shapecli.errors.SpecError, match="unknown layer type 'Tile'"):
        shapecli.parse_spec(SPEC, "t.yaml")
    with layers.registered(TILE):
        # parse and build: the size inferred from the data, refused in the record's words
        spec = shapecli.parse_spec(SPEC, "t.yaml")
        model, report = shapecli.materialize(spec)
        tile = next(lay for lay in report.layers if lay.type == "Tile")
        assert tile.inferred == {"num_features": 8} and tile.output_shapes[0].shape == [2, 24]
        with pytest.raises(ShapeError, match="has 8 features \\(last dim\\)"):
            shapecli.materialize(shapecli.parse_spec(SPEC.replace("{repeats: 3}", "{num_features: 5}"), "t.yaml"))
        # init: the record's rule gives the expected statistics, and the measured ones agree
        (w,) = [p for p in report.params if p.name == "1.weight"]
        assert w.init.scheme == "default (U(0.5, 1.5))"
        assert w.init.expected.mean == pytest.approx(1.0) and w.init.expected.std == pytest.approx(1 / math.sqrt(12))
        assert w.init.expected.min == 0.5 and w.init.expected.max == 1.5
        # estimate: Tile's output is new memory (not a view): input + Linear + Tile + ReLU outputs
        est = estimate(model, report, dtypes=["float32"])
        assert est.summary["memory"][0]["activations"] == (16 + 16 + 48 + 48) * 4
        # guard: a Tile whose output outgrows the activation budget is shaped on meta instead
        big = shapecli.parse_spec(SPEC.replace("repeats: 3", "repeats: 100000000"), "t.yaml")
        _, big_report = shapecli.materialize(big)
        assert big_report.device == "meta"
        # symbolic: the record's shape rule is traced, and the formula follows it
        SHAPE_RULE_CALLS.clear()
        _, sym = shapecli.materialize(spec, [shapecli.parse_input("B,8", spec)])
        tile = next(lay for lay in sym.layers if lay.type == "Tile")
        assert tile.symbolic.shape == ["B", "24"] and "Tile" in SHAPE_RULE_CALLS
        # export: the exported file imports torch only, so a class of the caller's is refused by name
        from shapecli.export import ExportError, export_code

        with pytest.raises(ExportError, match="1 \\(Tile\\): Tile is a layer type registered at run time"):
            export_code(spec)
    with pytest.raises(shapecli.errors.SpecError):
        shapecli.parse_spec(SPEC, "t.yaml")  # gone after the block


def test_a_registered_copies_type_without_reset_parameters_is_constructed():
    """A record registered with `copies=True` whose class has a parameter and no reset_parameters()
    (Tile draws its weight in __init__): every layer is constructed, as the same layers in order would be."""
    import dataclasses

    spec = "input: [2, 8]\nlayers:\n  - Tile: {repeats: 1}\n  - Tile: {repeats: 1}\n  - Tile: {repeats: 1}\n"
    torch.manual_seed(4)
    want = [Tile(8) for _ in range(3)]
    x = torch.randn(2, 8)
    with layers.registered(dataclasses.replace(TILE, copies=True)):
        torch.manual_seed(4)
        model = shapecli.build(spec)
        model(x)
    assert all(torch.equal(model[i].weight, want[i].weight) for i in range(3))
    mha = nn.MultiheadAttention(8, 2)
    assert Template(mha).usable is False and Template(nn.Linear(2, 2)).usable is True  # children: constructed


def test_registration_is_seen_only_by_its_own_context():
    seen = {}

    def other():
        seen["other"] = "Tile" in layers.REGISTRY

    with layers.registered(TILE):
        t = threading.Thread(target=other)
        t.start()
        t.join()
        seen["here"] = "Tile" in layers.REGISTRY and layers.of_class(Tile) is TILE
    assert seen == {"other": False, "here": True}
    assert layers.of_class(Tile) is None


def test_registration_refuses_clashes_and_incomplete_records():
    with pytest.raises(ValueError, match="already registered"):
        with layers.registered(LayerType("Linear", group="x", cls=Tile)):
            pass
    with pytest.raises(ValueError, match="lacks out_size, init, symbolic"):
        with layers.registered(LayerType("Tile", group="custom", cls=Tile)):
            pass
