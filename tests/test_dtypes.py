"""shapecli/dtypes.py: the one dtype table agrees with torch and with every stage that reads it."""
import pytest
import torch

from shapecli import dtypes


@pytest.mark.parametrize("name", [n for n in dtypes.BITS if n != "int4"])
def test_bits_are_torchs(name):
    assert dtypes.BITS[name] == getattr(torch, name).itemsize * 8


def test_the_sets_are_names_in_the_table():
    for group in (dtypes.INPUT, dtypes.ESTIMATE, dtypes.FLOATING):
        assert set(group) <= set(dtypes.BITS), group
    assert set(dtypes.FLOATING) == {n for n in dtypes.ESTIMATE if getattr(torch, n, torch.int8).is_floating_point}
    assert set(dtypes.ALIASES.values()) <= set(dtypes.ESTIMATE)
    assert dtypes.bits("bfloat16") == 16 and dtypes.bits("not_a_dtype") == 32 and dtypes.bits("x", 8) == 8


def test_every_stage_reads_the_table():
    from shapecli import schema, spec
    from shapecli.analyses.estimate import DTYPE_BITS, parse_dtypes
    from shapecli.run.inputs import _dtype

    assert spec.DTYPES == dtypes.INPUT
    assert schema.spec_schema()["definitions"]["dtype"]["enum"] == list(dtypes.INPUT)
    assert list(DTYPE_BITS) == list(dtypes.ESTIMATE) and all(DTYPE_BITS[n] == dtypes.BITS[n] for n in DTYPE_BITS)
    assert parse_dtypes(["fp32,bf16", "half", "i4"]) == ["float32", "bfloat16", "float16", "int4"]
    assert [_dtype(n) for n in dtypes.INPUT] == [getattr(torch, n) for n in dtypes.INPUT]
    with pytest.raises(KeyError):
        _dtype("float8_e4m3fn")  # not an input dtype
