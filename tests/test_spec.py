"""shapecli/spec: parsing a spec into the Spec dataclasses (no torch)."""
import re

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


def test_a_name_from_the_file_name_is_escaped_in_table_and_markdown(cli, tmp_path):
    """issue 17: `\\x1b[2J.yaml` without `name:` must not reach a terminal raw."""
    f = tmp_path / "x\x1b[2Jy.yaml"
    f.write_text("input: [2, 8]\nlayers:\n  - Linear: 4\n")
    for args in ([], ["-f", "markdown"]):
        code, out, err = cli("inspect", str(f), *args)
        assert code == 0, err
        assert "\x1b" not in out and "x\\x1b[2Jy" in out


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


@pytest.mark.parametrize("text", [
    # a failing expression in a long repeat; in a block copied by a repeat; in a spliced (inline) repeat
    "input: [2, 4]\nlayers:\n  - Linear: '${nope}'\n    repeat: 5000\n",
    "input: [2, 4]\nblocks:\n  b: [ReLU, {Linear: '${1 +}'}]\nlayers:\n  - Linear: 4\n  - b: {}\n    repeat: 400\n",
    "input: [2, 4]\nlayers:\n  - ReLU\n  - Sequential:\n      - Linear: '${d}'\n    repeat: 300\n    inline: true\n  - Linear: '${e}'\n",
])
def test_a_failing_repeat_parses_two_copies_and_tells_the_same(text, monkeypatch):
    """Every copy of a repeat without an index variable fails alike: after two, the rest are told, not
    parsed (a `repeat: 9233` of a bad expression took 1-3 s); the messages are those of parsing every copy."""
    from shapecli.spec import items

    calls = []
    item = items.Items.item
    monkeypatch.setattr(items.Items, "item", lambda self, *a: calls.append(1) or item(self, *a))
    told = _problems(text)
    assert len(calls) < 20 and "repeated copies" in told[0]
    monkeypatch.setattr(items, "_like_copies", lambda *a: None)  # every copy parsed
    calls.clear()
    assert _problems(text) == told and len(calls) > 300


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


def test_expressions_for_loops_and_choices_stay_data():
    from shapecli.spec.expr import ExprError, evaluate

    env = {"d": [1, 2, 4, 8], "i": 2, "first": True}.__getitem__
    assert [evaluate(t, env) for t in ("d[i]", "d[i] * 2", "len(d)", "d[-1]", "[3, 5][1]", "i > 0 and d[i] == 4",
                                       "2 if first else 1", "not first", "1 < i <= 2")] == [4, 8, 4, 8, 5, True, 2, False, True]
    for text, msg in [("d[9]", "index 9 is out of range for 'd' (4 items)"),
                      ("d + 1", "variable 'd' is list [1, 2, 4, 8]; arithmetic takes integers"),
                      ("i[0]", "'i' is int 2, not a list"), ("not i", "'i' is int 2, not a condition"),
                      ("d[1:2]", "a slice is not allowed"), ("d < 3", "< <= > >= take integers"),
                      ("__import__('os')", "a call (only min, max and len are allowed)"),
                      ("d.pop()", "is not allowed in an expression")]:
        with pytest.raises(ExprError, match=re.escape(msg)):
            evaluate(text, env)


def test_repeat_with_an_index_and_if_items():
    spec = shapecli.parse_spec(
        "input: [2, 8, 100]\nvars: {dil: [1, 2, 4]}\nlayers:\n"
        "  - Conv1d: {out_channels: 8, kernel_size: 3, dilation: \"${dil[i]}\", padding: \"${dil[i]}\"}\n"
        "    repeat: {times: \"${len(dil)}\", as: i}\n    name: tcn\n"
        "  - BatchNorm1d:\n    if: ${len(dil) > 5}\n  - ReLU\n", "x.yaml")
    tcn, relu = spec.root.children
    assert [(c.path, c.kwargs["dilation"], c.kwargs["padding"]) for c in tcn.children] == [
        ("tcn.0", 1, 1), ("tcn.1", 2, 2), ("tcn.2", 4, 4)]
    assert (relu.path, relu.type) == ("1", "ReLU")  # numbered as if the left-out item were never written
    msgs = _problems("input: [2, 4]\nvars: {w: [4, 8]}\nlayers:\n  - Linear: ${w[i]}\n    repeat: {times: 3, as: i}\n"
                     "  - ReLU:\n    if: 1\n")
    assert msgs == ["x.yaml:4:5: error: layer 0.2 (Linear): index 2 is out of range for 'w' (2 items) (in '${w[i]}')",
                    "x.yaml:7:9: error: `if:` takes a condition such as ${i > 0} (true or false), got the number 1"]
    assert _problems("input: [2, 4]\nlayers:\n  - Linear: 4\n    repeat: {time: 3, as: 1}\n") == [
        "x.yaml:4:14: error: layer 0 (Linear): `repeat:` unknown key 'time' (did you mean times?); "
        "write `repeat: N` or `repeat: {times: N, as: i}`",
        "x.yaml:4:13: error: layer 0 (Linear): `repeat:` needs `times:`, e.g. `repeat: {times: 4, as: i}`"]


def test_module_attribute_names_cover_torch_and_the_containers():
    """The parser's list of taken names (no torch) is every attribute name of nn.Module, nn.Sequential and
    shapecli's containers on the installed torch: a name it misses would reach add_module's KeyError."""
    import re
    from collections import OrderedDict

    from torch import nn

    from shapecli.model import glue
    from shapecli.model.flow import Chain, Network
    from shapecli.spec.moduleattrs import MODULE_ATTRS

    made = [nn.Module(), nn.Sequential(), Chain(OrderedDict(), {}, {}, {}, ()), Network(OrderedDict(), {}, {}, {}, [], ()),
            glue.Residual(OrderedDict(), [], {}, {}), glue.Concat(OrderedDict(), [], [], {}, {}),
            glue.Add(OrderedDict(), [], [], {}, {}), glue.Multiply(OrderedDict(), [], [], {}, {})]
    names = {n for m in made for n in dir(m) if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n)}
    assert names - MODULE_ATTRS == set()


def test_a_taken_name_the_list_misses_is_still_a_spec_error(monkeypatch):
    """The builder turns add_module's refusal into a located spec error (exit 2), whatever torch adds."""
    from shapecli.spec import items

    monkeypatch.setattr(items, "MODULE_ATTRS", frozenset())
    spec = shapecli.parse_spec("input: [2, 4]\nlayers:\n  - Sequential:\n      - Linear: 4\n        name: forward\n", "x.yaml")
    with pytest.raises(SpecError) as e:
        shapecli.inspect(spec)
    assert str(e.value) == ("x.yaml:3:5: error: layer 0 (Sequential): attribute 'forward' already exists: "
                            "choose another `name:` for the item")


@pytest.mark.parametrize("config", ["resnet18.yaml", "inception.yaml", "gpt2_small.yaml", "unet.yaml"])
def test_walk_is_pre_order(config):
    """Node.walk (a stack, not nested generators) hands up every node once, parents before children, in
    the order of a recursive pre-order walk."""
    from pathlib import Path

    def recursive(node):
        yield node
        for c in node.children:
            yield from recursive(c)

    spec = shapecli.load_spec(str(Path(__file__).parent.parent / "configs" / config))
    assert [id(n) for n in spec.nodes()] == [id(n) for n in recursive(spec.root)]
    assert len(list(spec.nodes())) > 10


_REPEATS = {
    "plain": "input: [2, 8]\nlayers:\n  - Sequential: [Linear: 8, ReLU]\n    repeat: 4\n  - Linear: 2\n",
    "nested": ("input: [2, 8]\nlayers:\n  - Sequential:\n      - Sequential: [{Linear: {out_features: 8, bias: false}}, Tanh]\n"
               "        repeat: 2\n      - LayerNorm\n    repeat: 3\n    init: {weight: xavier_uniform}\n    freeze: true\n"),
    "block": ("blocks:\n  mlp:\n    params: [w]\n    layers: [Linear: $w, GELU]\ninput: [2, 8]\nlayers:\n"
              "  - mlp: {w: 8}\n    repeat: 3\n"),
    "named": "input: [2, 8]\nlayers:\n  - Sequential: [{Linear: 8, name: fc}, ReLU]\n    repeat: 3\n",
    "from": ("input: [2, 8]\nlayers:\n  - Sequential:\n      - Linear: 8\n        name: a\n      - Add: [[ReLU], [Tanh]]\n"
             "    repeat: 3\n"),
    "index": "input: [2, 8]\nlayers:\n  - Linear: $i\n    repeat: {times: 3, as: i}\n",
    "a layer": "input: [2, 8]\nlayers:\n  - Linear: 8\n    repeat: 5\n",
    "inline": "input: [2, 8]\nlayers:\n  - Sequential: [Linear: 8, ReLU]\n    repeat: 3\n    inline: true\n",
    "failing": "input: [2, 8]\nlayers:\n  - Sequential: [Linear: {out_features: 8, nope: 1}, ReLU]\n    repeat: 4\n",
}


def _parsed(text: str):
    try:
        return shapecli.parse_spec(text, "r.yaml"), None
    except SpecError as e:
        return None, [str(p) for p in e.problems]


@pytest.mark.parametrize("case", [*_REPEATS, "resnet18.yaml", "gpt2_small.yaml", "mobilenet_v2.yaml", "transformer_encdec.yaml"])
def test_repeat_copies_moved_are_the_copies_parsed(case, monkeypatch):
    """A `repeat:` copy that names and reads nothing by path is the first copy moved (Node.moved): the
    spec, every node's fields and the problems are those that parsing each copy gives."""
    from pathlib import Path

    from shapecli.spec.nodes import Node

    text = _REPEATS.get(case) or (Path(__file__).parent.parent / "configs" / case).read_text()
    moved_spec, moved_problems = _parsed(text)
    monkeypatch.setattr(Node, "reads_paths", lambda self: True)  # every copy parsed
    parsed_spec, parsed_problems = _parsed(text)
    assert moved_problems == parsed_problems
    if parsed_spec is not None:
        assert [n.path for n in moved_spec.nodes()] == [n.path for n in parsed_spec.nodes()]
        assert moved_spec == parsed_spec


def test_a_repeat_is_parsed_once_where_its_copies_are_alike(monkeypatch):
    """10,000 copies of `[Linear, ReLU]` cost one parse (spec/items.py): the items parsed are the first
    copy's three and the rest, whatever the count; a copy that names an item is parsed each time."""
    from shapecli.spec.items import Items

    seen, item = [], Items._item
    monkeypatch.setattr(Items, "_item", lambda self, raw, *a: seen.append(raw) or item(self, raw, *a))
    for n in (10, 1000):
        seen.clear()
        spec = shapecli.parse_spec(_REPEATS["plain"].replace("repeat: 4", f"repeat: {n}"), "r.yaml")
        assert len(seen) == 5 and len(list(spec.nodes())) == 3 * n + 3
    seen.clear()
    shapecli.parse_spec(_REPEATS["named"], "r.yaml")
    assert len(seen) == 1 + 3 * 3


def test_moved_copies_share_no_container():
    """Node.moved: a copy's lists and dicts are its own (changing one copy's arguments leaves the others)."""
    spec = shapecli.parse_spec(_REPEATS["nested"], "r.yaml")
    copies = spec.root.children[0].children
    first, second = copies[0], copies[1]
    for a, b in zip(first.walk(), second.walk()):
        for name, value in vars(a).items():
            if isinstance(value, (list, dict)):
                assert value is not vars(b)[name], (a.path, name)
