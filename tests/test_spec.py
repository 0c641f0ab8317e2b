"""shapecli/spec: parsing a spec into the Spec dataclasses (no torch)."""
import pytest

import shapecli
from shapecli.errors import SpecError


def test_spec_errors_are_collected():
    with pytest.raises(SpecError) as e:
        shapecli.parse_spec("input: [2, 3]\nlayers:\n  - Lineer: 3\n  - ReLU: {inplace: yes}\n  - Conv2d: {out_chanels: 3}\n", "x.yaml")
    msgs = [str(p) for p in e.value.problems]
    assert any("x.yaml:3:5: error: unknown layer type 'Lineer' (did you mean Linear" in m for m in msgs)
    with pytest.raises(SpecError) as e:  # (was a dead line after the raising call above)
        shapecli.parse_spec("", "x")
    assert str(e.value) == "x: error: the spec is empty"


def _problems(text, overrides=None):
    """Every problem of a spec: the parser's, then (when it parsed) its arguments bound to their constructors."""
    from shapecli.model.args import bind_all

    with pytest.raises(SpecError) as e:
        bind_all(shapecli.parse_spec(text, "x.yaml", overrides))
    return [str(p) for p in e.value.problems]


def test_yaml_mistakes_say_what_to_write():
    msgs = _problems("input: [2, 20]\nlayers:\n  - Linear\n    out_features: 10\n")
    assert msgs == ["x.yaml:3:11: error: invalid YAML: `- Linear` takes no keys; to give it the argument `out_features:`, "
                    "write `- Linear:` with a colon and `out_features: 10` indented under `Linear`"]
    msgs = _problems("input: [2, 20]\nvars: {d: 2}\nlayers: [Linear: [${d}, 3]]\n")
    assert msgs == ['x.yaml:3:19: error: invalid YAML: `${d}` inside {...} or [...] must be quoted: write "${d}"']
    # other YAML errors keep YAML's own words
    assert _problems("input: [2, 20]\nlayers: [Linear: 4\n") == ["x.yaml:3:1: error: invalid YAML: expected ',' or ']', but got '<stream end>'"]


def test_repeated_copies_are_reported_once_with_their_paths():
    from shapecli.errors import Loc, Problem
    from shapecli.spec.problems import condense

    loc = Loc("x.yaml", 3, 5)
    ps = [Problem("bad", loc, f"a.{i}.b (Linear)") for i in (0, 2, 5)] + [Problem("other", loc, "c (ReLU)")]
    assert [str(p) for p in condense(ps)] == [
        "x.yaml:3:5: error: layer a.{0,2,5}.b (Linear): bad (reported once for 3 repeated copies)",
        "x.yaml:3:5: error: layer c (ReLU): other"]
    msgs = _problems("input: [2, 4]\nvars: {d: 4}\nlayers:\n  - Linear: $d\n    repeat: 3\n", {"d": 0})
    assert msgs == ["x.yaml:4:5: error: layer 0.{0..2} (Linear): out_features: must be at least 1, got 0 "
                    "(from --set d=0; reported once for 3 repeated copies)"]
    # a value written in the file is not blamed on --set
    assert _problems("input: [2, 4]\nvars: {d: 4}\nlayers:\n  - Linear: 0\n", {"d": 0}) == [
        "x.yaml:4:5: error: layer 0 (Linear): out_features: must be at least 1, got 0"]


def test_input_without_a_dtype_keeps_the_specs_dtype():
    from shapecli.spec.inputs import parse_input_text

    spec = shapecli.parse_spec("input: {shape: [1, 64], dtype: int64}\nlayers:\n  - Embedding: [10, 4]\n", "x.yaml")
    assert [(i.shape, i.dtype) for i in parse_input_text("2,32", spec.inputs)] == [([2, 32], "int64")]
    assert [i.dtype for i in parse_input_text("2,32:float16", spec.inputs)] == ["float16"]
    # a second tensor the spec does not have is float32
    assert [i.dtype for i in parse_input_text("2,32;2,8", spec.inputs)] == ["int64", "float32"]


def test_pytorch_argument_order_is_named_only_where_it_does_not_bind():
    msgs = _problems("input: [2, 20]\nlayers:\n  - Linear: [256, 0.5]\n")
    assert msgs == ["x.yaml:3:19: error: layer 0 (Linear): bias: expected bool, got the number 0.5"]
    spec = shapecli.parse_spec("input: [2, 20]\nlayers:\n  - Linear: [256, false]\n", "x.yaml")
    assert spec.root.children[0].args == [256, False]
