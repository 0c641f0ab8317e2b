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
    from shapecli.analyses.estimate import DTYPE_BITS
    from shapecli.dtypes import parse_estimate as parse_dtypes
    from shapecli.run.inputs import _dtype

    assert spec.DTYPES == dtypes.INPUT
    assert schema.spec_schema()["definitions"]["dtype"]["enum"] == list(dtypes.INPUT_SPELLINGS)  # names, then aliases
    assert list(DTYPE_BITS) == list(dtypes.ESTIMATE) and all(DTYPE_BITS[n] == dtypes.BITS[n] for n in DTYPE_BITS)
    assert parse_dtypes(["fp32,bf16", "half", "i4"]) == ["float32", "bfloat16", "float16", "int4"]
    assert [_dtype(n) for n in dtypes.INPUT] == [getattr(torch, n) for n in dtypes.INPUT]
    with pytest.raises(KeyError):
        _dtype("float8_e4m3fn")  # not an input dtype


def test_one_parser_for_cli_and_api_spellings():
    from shapecli.errors import UsageError

    # estimates: --dtype's text, a list of texts, torch dtypes, mixed
    assert dtypes.parse_estimate("float32,bf16") == ["float32", "bfloat16"]
    assert dtypes.parse_estimate([torch.bfloat16, "FP16", "fp32, int8", "bfloat16"]) == \
        ["bfloat16", "float16", "float32", "int8"]
    assert dtypes.parse_estimate(torch.float8_e4m3fn) == ["float8_e4m3fn"]
    assert dtypes.parse_estimate(None) == [] and dtypes.parse_estimate([]) == []
    with pytest.raises(UsageError, match="--dtype 'complex64': choose from float64"):
        dtypes.parse_estimate(["complex64"])
    # inputs: every name and alias of an input dtype, and torch's own
    assert [dtypes.input_name(n) for n in ("bf16", "half", "double", "i8", "u8", torch.int64, "int64")] == \
        ["bfloat16", "float16", "float64", "int8", "uint8", "int64", "int64"]
    assert dtypes.input_name("fp8") is None and dtypes.input_name("int4") is None and dtypes.input_name(3) is None
    assert {dtypes.input_name(s) for s in dtypes.INPUT_SPELLINGS} == set(dtypes.INPUT)


def test_a_layers_dtype_and_a_tensors_dtype_take_the_aliases_input_takes():
    """`dtype: fp16` means float16 for a layer's own argument and for a Parameter:/Buffer:, as for --input
    (a layer's argument took torch's names only)."""
    import shapecli

    report = shapecli.inspect("input: [2, 4]\nlayers:\n  - Parameter: {shape: [4], dtype: bf16, init: zeros}\n"
                              "    name: p\n  - Linear: {out_features: 4, dtype: fp16}\n", device="meta")
    assert {p.name: p.dtype for p in report.params} == {"p": "bfloat16", "0.weight": "float16", "0.bias": "float16"}
    assert {lay.path: lay.args.get("dtype") for lay in report.layers} == {"p": "bfloat16", "0": "float16"}
    from shapecli.errors import SpecError
    from shapecli.model.args import bind_all

    with pytest.raises(SpecError) as e:
        bind_all(shapecli.parse_spec("input: [2, 4]\nlayers:\n  - Linear: {out_features: 4, dtype: fp17}\n", "x.yaml"))
    assert "unknown dtype 'fp17'" in str(e.value) and "fp16" in str(e.value)
