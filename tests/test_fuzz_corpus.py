"""Replay the committed fuzz corpus (tests/fuzz/corpus/<target>/) through its target and check the contract.

Every file must either return a value of the target's kind or raise the target's own error type (a printable
ShapeCliError; ExprError for the expression evaluator), within the target's per-input time bound. The long
coverage-guided runs are `python tests/fuzz/run.py fuzz TARGET` (docs/reliability.md); this keeps what they
found from regressing, in a few seconds.
"""
from __future__ import annotations

import pytest
from fuzz.targets import TARGETS, ContractViolation, Target
from fuzz_support import ROOT, Hang, time_limit

from shapecli.errors import ShapeCliError, SpecError


def _files(t: Target) -> list:
    d = t.corpus()
    return sorted(p for p in d.iterdir() if p.is_file()) if d.is_dir() else []


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_corpus_keeps_the_contract(name):
    t = TARGETS[name]
    files = _files(t)
    assert files, f"no corpus for {name} in {t.corpus()}"
    failures, returned, refused = [], 0, 0
    for p in files:
        try:
            with time_limit(t.timeout):
                value = t.run_one(p.read_bytes())
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt):
                raise
            failures.append(f"{p.name}: {type(e).__name__}: {str(e)[:200]}")
            continue
        if isinstance(value, t.errors()):
            refused += 1
        else:
            returned += 1
    assert not failures, f"{len(failures)} of {len(files)} {name} inputs break the contract:\n" + "\n".join(failures)
    # A corpus that only ever hits one side proves little: it must reach both the value and the error paths.
    assert returned and refused, f"{name}: {returned} inputs returned a value, {refused} raised the target's error"


def test_the_corpus_stays_small():
    sizes = {n: sum(p.stat().st_size for p in _files(t)) for n, t in TARGETS.items()}
    assert sum(sizes.values()) < 400 * 1024, f"the committed fuzz corpus is {sizes} bytes; run `run.py merge`"
    for n, t in TARGETS.items():
        too_long = [p.name for p in _files(t) if p.stat().st_size > t.max_len]
        assert not too_long, f"{n}: files longer than its max_len {t.max_len}: {too_long[:5]}"


# ---------------------------------------------------------------------------- the contract check can fail

def _target(call, check=None) -> Target:
    return Target("probe", "a probe", call, lambda: (ShapeCliError,), check=check, timeout=1)


def _raise(e):
    def call(data):
        raise e
    return call


@pytest.mark.parametrize("exc", [KeyError("x"), TypeError("y"), RecursionError(), MemoryError(), ValueError("z"),
                                 UnicodeEncodeError("ascii", "→", 0, 1, "no")])
def test_an_exception_of_another_type_escapes(exc):
    with pytest.raises(type(exc)):
        _target(_raise(exc)).run_one(b"x")


def test_an_error_the_cli_cannot_print_is_a_violation():
    with pytest.raises(ContractViolation, match="no problem"):
        _target(_raise(SpecError([]))).run_one(b"x")
    with pytest.raises(ContractViolation, match="empty message"):
        _target(_raise(SpecError("   "))).run_one(b"x")
    e = SpecError("bad")
    assert _target(_raise(e)).run_one(b"x") is e


def test_a_bad_value_is_a_violation():
    def check(v):
        if v != 1:
            raise ContractViolation(f"got {v}")

    with pytest.raises(ContractViolation, match="got 2"):
        _target(lambda data: 2, check).run_one(b"x")
    assert _target(lambda data: 1, check).run_one(b"x") == 1


def test_a_hang_is_stopped_by_the_time_bound():
    def spin(data):
        while True:
            pass

    t = _target(spin)
    with pytest.raises(Hang), time_limit(0.2):
        t.run_one(b"x")


@pytest.mark.parametrize("name, data", [
    ("spec", b"input: [2, 20]\nlayers: [Linear: 8, ReLU]\n"), ("yaml", b"a: [1, 2]\n"), ("expr", b"${a * 2}"),
    ("input", b"B,3,H=8,W=8"), ("baseline", (ROOT / "configs" / "mlp.shapes.json").read_bytes())])
def test_each_target_reads_valid_input(name, data):
    """The targets call the real readers: a valid input gives a value (not a swallowed error)."""
    v = TARGETS[name].run_one(data)
    assert not isinstance(v, BaseException), v
    if name == "expr":
        assert v == 6
    if name == "input":
        assert [d.size for d in v[0].dims] == [2, 3, 8, 8]


def test_a_warning_is_a_violation():
    import warnings

    def warn(data):
        warnings.warn("invalid decimal literal", SyntaxWarning)
        return 1

    with pytest.raises(ContractViolation, match="SyntaxWarning: invalid decimal literal"):
        _target(warn).run_one(b"x")
