"""shapecli/spec/expr.py: `${...}` expressions."""
from __future__ import annotations

import warnings

import pytest

from shapecli.spec.expr import ExprError, evaluate

_VARS = {"a": 3, "b": 2}


@pytest.mark.parametrize("text", ["3if 1 else 2", "1and 2", "0x1for a", ".5if a", "2or 3", "'\\d'", "a\\\n+1"])
def test_text_python_would_warn_about_is_refused_without_a_warning(text):
    """ast.parse prints `<unknown>:1: SyntaxWarning: invalid decimal literal` raw on stderr for these."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ExprError, match="is not a valid expression"):
            evaluate(text, _VARS.__getitem__)


@pytest.mark.parametrize("text, value", [("a * 2 + b", 8), ("0x1f", 31), ("1_000", 1000), ("2**3", 8),
                                         ("min(a, b)", 2), ("(a + 1) // b", 2)])
def test_numbers_and_names_still_evaluate(text, value):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert evaluate(text, _VARS.__getitem__) == value


def test_a_float_exponent_keeps_its_message():
    with pytest.raises(ExprError, match="the constant 0.0015 is not allowed"):
        evaluate("1.5e-3", _VARS.__getitem__)


def test_the_cli_prints_one_line_for_a_number_run_into_a_word(cli, tmp_path):
    spec = tmp_path / "w.yaml"
    spec.write_text("input: [2, 4]\nlayers:\n  - Linear: ${3if 1 else 2}\n")
    code, out, err = cli("inspect", str(spec), "--device", "meta")
    assert (code, out) == (2, "")
    assert err.splitlines() == [f"{spec}:3:5: error: layer 0 (Linear): '3if 1 else 2' is not a valid expression"
                                f" (in '${{3if 1 else 2}}')"]
