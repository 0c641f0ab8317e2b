"""spec/parts.py and the names each module holds: `inline:`, a Residual's parts and `after:`, merges' branches.

Paths are the model's state_dict keys; these tests parse specs (no torch) and read the Node tree.
"""
import pytest

from shapecli.errors import SpecError
from shapecli.spec.parser import parse_spec

BLOCKS = """
blocks:
  conv:
    params: {c: 4}
    inline: true
    layers:
      - Conv2d: {out_channels: $c, kernel_size: 3, padding: 1}
      - BatchNorm2d
      - ReLU
  basic:
    params: {c: 4, down: false}
    inline: true
    layers:
      - Residual:
          body:
            - Conv2d: {out_channels: $c, kernel_size: 3, padding: 1, bias: false}
              name: conv1
            - BatchNorm2d:
              name: bn1
            - ReLU
          shortcut:
            - Sequential: [Conv2d: {out_channels: $c, kernel_size: 1}, BatchNorm2d]
              name: downsample
              if: $down
          after: [ReLU]
        inline: true
"""


def paths(text: str) -> dict:
    spec = parse_spec("input: [1, 3, 8, 8]\n" + text)
    return {n.path: n for n in spec.nodes() if n.path}


def test_an_inline_block_numbers_on_in_the_enclosing_sequential():
    got = paths(BLOCKS + """layers:
  - Sequential:
      - conv: {c: 4}
      - MaxPool2d: 2
      - conv: {c: 8}
        repeat: 2
        inline: true
    name: features
""")
    assert [p for p in got if p.startswith("features.")] == [f"features.{i}" for i in range(10)]
    assert [got[f"features.{i}"].type for i in (0, 1, 2, 3, 4, 7)] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d",
                                                                     "Conv2d", "Conv2d"]
    assert got["features.7"].kwargs["out_channels"] == 8


def test_a_use_may_keep_the_level_with_inline_false():
    got = paths(BLOCKS + "layers:\n  - conv: {c: 4}\n    inline: false\n    name: stem\n  - conv: {c: 8}\n")
    assert [p for p in got] == ["stem", "stem.0", "stem.1", "stem.2", "0", "1", "2"][:4] + ["1", "2", "3"]
    assert got["stem"].block == "conv"


def test_an_inline_residual_holds_its_parts_items_by_name_and_index():
    got = paths(BLOCKS + """layers:
  - Sequential:
      - basic: {c: 8, down: "${j == 0}"}
        repeat: {times: 2, as: j}
        inline: true
    name: layer1
""")
    first, second = got["layer1.0"], got["layer1.1"]
    assert first.type == second.type == "Residual" and first.block == "basic"
    assert [c.key for c in first.children] == ["conv1", "bn1", "2", "downsample", "4"]
    assert first.parts == [["conv1", "bn1", "2"], ["downsample"], ["4"]]
    assert second.parts == [["conv1", "bn1", "2"], [], ["3"]]  # the shortcut's items left out: the identity
    assert got["layer1.0.downsample.1"].type == "BatchNorm2d"


def test_a_residual_without_inline_keeps_body_shortcut_and_after():
    got = paths("layers:\n  - Residual:\n      body: [Conv2d: [3, 1]]\n      after: [ReLU]\n")
    assert list(got) == ["0", "0.body", "0.body.0", "0.after", "0.after.0"]
    assert got["0"].parts == [["body"], [], ["after"]]


def test_a_named_use_of_an_inline_block_of_one_item_names_that_item():
    got = paths("""blocks:
  mix:
    inline: true
    layers:
      - Concat:
          branches:
            - Conv2d: [2, 1]
              name: branch1
            - Sequential: [Conv2d: [2, 1], ReLU]
              name: branch2
        inline: true
layers:
  - mix:
    name: inception3a
  - Concat: {from: inception3a.branch1}
""")
    mix = got["inception3a"]
    assert mix.type == "Concat" and mix.block == "mix" and mix.named
    assert mix.parts == [["branch1"], ["branch2"]]
    assert list(got) == ["inception3a", "inception3a.branch1", "inception3a.branch2", "inception3a.branch2.0",
                         "inception3a.branch2.1", "1"]
    assert got["1"].refs == ["inception3a.branch1"]


def test_from_reads_an_item_an_inline_block_put_in_place():
    got = paths("""blocks:
  pair:
    inline: true
    layers:
      - Conv2d: [3, 1]
        name: skip
      - ReLU
layers:
  - pair
  - Add: {from: skip}
""")
    assert list(got) == ["skip", "1", "2"] and got["2"].refs == ["skip"]


@pytest.mark.parametrize("layers, message", [
    ("  - Sequential: [Conv2d: [3, 1]]\n    inline: true\n    name: a\n", "cannot take `name:`"),
    ("  - Sequential: [Conv2d: [3, 1]]\n    inline: true\n    freeze: true\n", "put `freeze:` on the items inside it"),
    ("  - Conv2d: [3, 1]\n    inline: true\n", "Conv2d holds none"),
    ("  - Sequential: [Conv2d: [3, 1]]\n    inline: 1\n", "`inline:` must be true or false, got the number 1"),
    (("  - Residual:\n      body:\n        - ReLU:\n          name: a\n      after:\n        - ReLU:\n          name: a\n"
      "    inline: true\n"), "two items are named 'a' in layer 0 (the first at line 6)"),
    (("  - Sequential:\n      - ReLU:\n        name: a\n      - Sequential:\n          - ReLU:\n            name: a\n"
      "        inline: true\n"), "two items are named 'a' in layer 0 (the first at line 5)"),
])
def test_bad_names_are_errors_at_their_place(layers, message):
    with pytest.raises(SpecError) as e:
        parse_spec("input: [1, 3, 8, 8]\nlayers:\n" + layers, "s.yaml")
    assert message in str(e.value)
    assert str(e.value).startswith("s.yaml:")


def test_a_duplicate_from_two_inline_uses_points_at_the_second_use():
    with pytest.raises(SpecError) as e:
        parse_spec("input: [1, 3, 8, 8]\nblocks:\n  b:\n    inline: true\n    layers:\n      - ReLU:\n        name: act\n"
                   "layers:\n  - b\n  - b\n", "s.yaml")
    assert str(e.value).startswith("s.yaml:10:5: error: two items are named 'act' at the top level "
                                   "(the first at line 7, from the use at line 9)")
