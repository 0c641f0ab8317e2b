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
