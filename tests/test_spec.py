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


def test_a_name_from_the_file_name_is_escaped_in_table_and_markdown(cli, tmp_path):
    """issue 17: `\\x1b[2J.yaml` without `name:` must not reach a terminal raw."""
    f = tmp_path / "x\x1b[2Jy.yaml"
    f.write_text("input: [2, 8]\nlayers:\n  - Linear: 4\n")
    for args in ([], ["-f", "markdown"]):
        code, out, err = cli("inspect", str(f), *args)
        assert code == 0, err
        assert "\x1b" not in out and "x\\x1b[2Jy" in out
