"""shapecli.baseline.checkpoint: checkpoint files read header-only and compared with a spec's Report."""
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

import shapecli
from shapecli.baseline.checkpoint import (
    Entry,
    compare_checkpoint,
    non_persistent_buffers,
    read_checkpoint,
)
from shapecli.errors import BaselineError

FIXTURES = ROOT / "tests" / "fixtures" / "torchvision-state-dicts"
CODES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16", "int64": "I64", "float64": "F64"}
SIZES = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8, "F64": 8}


def key_list(model: str) -> list:
    return json.loads((FIXTURES / f"{model}.json").read_text())["state_dict"]


def sparse_safetensors(path: Path, entries: list) -> int:
    """A valid .safetensors file for [(name, shape, dtype)] whose data is a hole: header bytes only on disk."""
    header, offset = {}, 0
    for name, shape, dtype in entries:
        code = CODES[dtype]
        n = SIZES[code]
        for d in shape:
            n *= d
        header[name] = {"dtype": code, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
    os.truncate(path, 8 + len(raw) + offset)
    return 8 + len(raw) + offset


def test_alexnet_matches_torchvision(tmp_path):
    pytest.importorskip("safetensors")
    f = tmp_path / "alexnet.safetensors"
    sparse_safetensors(f, key_list("alexnet"))
    ck = read_checkpoint(str(f))
    assert sorted((e.name, e.shape, e.dtype) for e in ck.entries) == sorted(tuple(x) for x in key_list("alexnet"))
    report = shapecli.inspect(ROOT / "configs" / "alexnet.yaml", device="meta")
    assert compare_checkpoint(report, ck.entries) == []


def test_resnet18_names_differ_from_torchvision(tmp_path):
    pytest.importorskip("safetensors")
    f = tmp_path / "resnet18.safetensors"
    sparse_safetensors(f, key_list("resnet18"))
    report = shapecli.inspect(ROOT / "configs" / "resnet18.yaml", device="meta")
    changes = compare_checkpoint(report, read_checkpoint(str(f)).entries)
    text = [c.message() for c in changes]
    by_path = {c.path: c for c in changes}
    conv = by_path["layer1.0.0.body.0"]
    assert conv.type == "Conv2d" and conv.line == 10  # its line inside the block definition
    assert [(d.what, d.old, d.new) for d in conv.details] == [("weight", "missing", "[64, 64, 3, 3]")]
    assert text[0].startswith("layer layer1.0 (basic): ") and "conv1.weight [64, 64, 3, 3] -> not in spec" in text[0]
    assert not any(c.path in ("conv1", "bn1", "fc") for c in changes)  # these names already match
    from shapecli.baseline.results import Result
    from shapecli.render import diff

    r = Result("configs/resnet18.yaml", str(f), "changed", changes=changes)
    for render in (diff.render_json, diff.render_markdown, diff.render_github):
        assert "layer1.0.0.body.0" in render([r])


def test_shape_and_dtype_mismatches_name_the_layer(tmp_path):
    report = shapecli.inspect(ROOT / "configs" / "mlp.yaml")
    entries = [Entry("0.weight", [256, 21], "float32"), Entry("0.bias", [256], "float16"),
               Entry("2.weight", [10, 256], "float32"), Entry("2.bias", [10], "float32")]
    (c,) = compare_checkpoint(report, entries)
    assert (c.path, c.type, c.line) == ("0", "Linear", 6)
    assert c.message() == "layer 0 (Linear): weight [256, 21] -> [256, 20]; bias dtype float16 -> float32"


def test_a_tied_weight_stored_once_is_not_missing():
    spec = shapecli.parse_spec("input: {shape: [2, 5], dtype: int64}\nlayers:\n"
                               "  - Embedding: [11, 6]\n    name: emb\n"
                               "  - Linear: {out_features: 11, bias: false}\n    name: head\n    tie: emb\n")
    report = shapecli.inspect(spec)
    assert compare_checkpoint(report, [Entry("emb.weight", [11, 6], "float32")]) == []
    assert compare_checkpoint(report, [Entry("head.weight", [11, 6], "float32")]) == []


def test_torch_state_dicts_wrapped_or_not(tmp_path):
    import torch

    model, report = shapecli.materialize(ROOT / "configs" / "resnet18.yaml", device="meta")
    sd = {k: torch.zeros(v.shape, dtype=v.dtype) for k, v in model.state_dict().items()}
    torch.save(sd, tmp_path / "plain.pt")
    torch.save({"epoch": 3, "state_dict": sd}, tmp_path / "wrapped.pth")
    for name in ("plain.pt", "wrapped.pth"):
        ck = read_checkpoint(str(tmp_path / name))
        assert len(ck.entries) == len(sd)
        assert compare_checkpoint(report, ck.entries, non_persistent_buffers(model)) == []
    assert read_checkpoint(str(tmp_path / "wrapped.pth")).wrapper == "state_dict"
    sd["fc.weight"] = torch.zeros(10, 512)
    (c,) = compare_checkpoint(report, read_checkpoint(_save(sd, tmp_path / "bad.bin")).entries)
    assert c.message() == "layer fc (Linear): weight [10, 512] -> [1000, 512]"


def _save(obj, path):
    import torch

    torch.save(obj, path)
    return str(path)


class _Payload:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_a_pickle_payload_is_refused_and_runs_nothing(tmp_path):
    import torch

    marker = tmp_path / "pwned"
    torch.save({"weight": torch.zeros(2), "x": _Payload(str(marker))}, tmp_path / "evil.pt")
    assert not marker.exists()
    with pytest.raises(BaselineError, match="refused"):
        read_checkpoint(str(tmp_path / "evil.pt"))
    assert not marker.exists()


def test_bad_files_are_input_errors(tmp_path):
    (tmp_path / "junk.safetensors").write_bytes(b"\xff" * 16)
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    for name in ("junk.safetensors", "junk.pt", "missing.pt"):
        with pytest.raises(BaselineError):
            read_checkpoint(str(tmp_path / name))


def test_without_safetensors_the_message_names_the_extra(tmp_path):
    code = ("import sys; sys.modules['safetensors'] = None\n"
            "from shapecli.baseline.checkpoint import read_checkpoint\n"
            f"read_checkpoint({str(tmp_path / 'x.safetensors')!r})")
    (tmp_path / "x.safetensors").write_bytes(b"\0" * 16)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert "shapecli[checkpoints]" in p.stderr


def test_a_1gb_safetensors_checks_fast_and_small(tmp_path):
    pytest.importorskip("safetensors")
    entries = [(f"layers.{i}.weight", [1024, 1024], "float32") for i in range(256)]  # 256 x 4 MiB = 1 GiB
    f = tmp_path / "big.safetensors"
    assert sparse_safetensors(f, entries) > 1 << 30
    code = ("import resource, time, torch, safetensors; t = time.perf_counter()  # imports not timed\n"
            "from shapecli.baseline.checkpoint import read_checkpoint\n"
            f"ck = read_checkpoint({str(f)!r}); assert len(ck.entries) == 256\n"
            # VmHWM, not ru_maxrss: a forked child's ru_maxrss starts from its parent's (pytest's) peak
            "hwm = next(int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM'))\n"
            "print(time.perf_counter() - t, hwm)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    seconds, rss_kib = p.stdout.split()
    assert float(seconds) < 10 and int(rss_kib) < 512 * 1024


def test_torch_load_warnings_stay_off_stderr(tmp_path):
    """Found by fuzzing (tests/fuzz, target `checkpoint`): a .pt whose pickle claims protocol 36 made torch.load
    warn "Detected pickle protocol 36 in the checkpoint ..." raw on stderr; the file is read or refused, silently."""
    import io
    import warnings

    import torch

    buf = io.BytesIO()
    torch.save({"w": torch.ones(2)}, buf)
    data = buf.getvalue()
    at = data.index(b"\x80\x02", data.index(b"data.pkl"))  # the pickle's PROTO opcode
    (tmp_path / "odd.pt").write_bytes(data[: at + 1] + b"\x24" + data[at + 2:])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            got = read_checkpoint(str(tmp_path / "odd.pt"))
        except BaselineError as e:
            got = e
    assert not caught, [str(w.message) for w in caught]
    assert isinstance(got, BaselineError) or [e.name for e in got.entries] == ["w"]
