"""shapecli/errors.py: one-line problems, safe echoing of user text, one wording for a wrong value."""
import pytest

from shapecli.errors import Collector, Loc, Problem, ShapeError, SpecError, did_you_mean, literal, what


@pytest.mark.parametrize("value,text", [
    (None, "null"), (True, "the boolean true"), (False, "the boolean false"), (3, "the number 3"),
    (1.5, "the number 1.5"), ("abc", "the string 'abc'"), ([1], "a list"), ((1,), "a list"), ({"a": 1}, "a mapping"),
    (object(), "object"),
])
def test_what_names_a_wrong_value(value, text):
    assert what(value) == text


def test_what_echoes_strings_safely():
    assert what("a\nb\x1b[31m") == "the string 'a\\nb\\x1b[31m'"
    long = what("x" * 100)
    assert long.startswith("the string 'xxx") and long.endswith("…'") and len(long) == len("the string ''") + 40
    assert what(None, null="nothing (null)") == "nothing (null)"


def test_literal_and_did_you_mean():
    assert literal("tab\there") == "tab\\there" and literal("\u202e") == "\\u202e" and literal("é") == "é"
    assert literal("y" * 100, 10) == "y" * 9 + "…"
    assert did_you_mean("Lineer", ["Linear", "Conv2d"]) == " (did you mean Linear?)"
    assert did_you_mean("linear", ["Linear"]) == " (did you mean Linear?)"
    assert did_you_mean("zzz", ["Linear"]) == ""


def test_problems_are_one_line_each_and_collected():
    p = Problem("unknown layer type 'X'", Loc("a.yaml", 3, 5), "encoder.0 (Conv2d)")
    assert str(p) == "a.yaml:3:5: error: layer encoder.0 (Conv2d): unknown layer type 'X'"
    c = Collector()
    c.raise_if_any()  # nothing collected: no error
    c.add("first", Loc("a.yaml", 1, 1))
    c.add("second")
    with pytest.raises(ShapeError) as e:
        c.raise_if_any(ShapeError)
    assert str(e.value) == "a.yaml:1:1: error: first\nerror: second" and e.value.exit_code == 2
    assert [q.message for q in SpecError("one").problems] == ["one"]
