"""The seed inputs of each target, taken from the repository: the example configs, the docs' YAML examples,
the bad-input corpus (tests/corpus/specs), expressions and --input texts found in them, and the small baselines.

`python tests/fuzz/run.py seed TARGET` writes them as tests/fuzz/corpus/TARGET/seed-<sha1>; the fuzzer and
`run.py merge` add what they find beside them. Run once when a target is added (the seeds are committed).
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

_EXPR = re.compile(r"\$\{[^}\n]*\}|\$[A-Za-z_][A-Za-z0-9_]*")
_INPUT = re.compile(r"--input[ =]['\"]?([^\s'\"`]+)")


def _yaml_texts() -> list:
    out = [p.read_bytes() for p in sorted((ROOT / "configs").glob("*.yaml"))]
    out += [p.read_bytes() for p in sorted((ROOT / "tests" / "corpus" / "specs").glob("*.yaml"))]
    for md in sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]:
        out += [m.encode() for m in re.findall(r"```ya?ml\n(.*?)```", md.read_text(), re.DOTALL)]
    return out


def _expressions() -> list:
    found, forms = set(), set()
    for t in _yaml_texts():
        for e in _EXPR.findall(t.decode("utf-8", "replace")):
            form = re.sub(r"[0-9]+", "0", e)  # `$a1` ... `$a2000` of one test file: one seed
            if form not in forms:
                forms.add(form)
                found.add(e)
    found.update(["${a * 2 + b}", "${(a + 1) // 2}", "${a ** 3 % 7}", "${max(a, b, 4)}", "${min(a)}",
                  "${-a / 3}", "${big * big}", "${2 ** 64}", "${f + 1}", "${s}", "$t", "${n}", "${a if b else c}",
                  "${__import__('os')}", "${a.real}", "${[1, 2]}", "${1e3}", "${'x' * 9}", "a + b", "${}", "$",
                  "${1/0}", "${a % 0}", "${(((((a)))))}"])
    return sorted(s.encode() for s in found)


def _inputs() -> list:
    found = {"2,20", "B,3,H=224,W=224", "2,16:int64", "2,10;2,20", "B,1,H=28,W=28", "H=32..1024", "W=224@32..1024",
             "[2, 3, 8, 8]", "B,F", "N,N", "B,T:int64;B,T", "2,3,H=9..3", "2,,20", "abc", "1e9", "0,20",
             "2,20:nope", "2," + "9" * 40, "2,3,224,224\nB,3,H,W", "2,20\nB,F", "B,T:int64\nB,T"}
    for src in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        found.update(m for m in _INPUT.findall(src.read_text()) if m not in ("overrides",))
    return sorted(s.encode() for s in found)


def _baselines() -> list:
    small = [p for p in sorted((ROOT / "configs").glob("*.shapes.json")) if p.stat().st_size <= 8192]
    out = [p.read_bytes() for p in small]
    doc = json.loads((ROOT / "configs" / "mlp.shapes.json").read_text())
    doc["stats"] = {"torch_version": "2.13.0", "seed": 0, "device": "cpu",
                    "params": {"0.weight": {"mean": 0.0, "std": 0.1, "min": -0.2, "max": 0.2},
                               "0.bias": {"mean": None, "std": None, "min": None, "max": None}}}
    doc["outputs"] = [[{"dtype": "float32", "shape": ["B", 10]}, None]]
    doc["set"] = {"hidden": 256, "act": "relu", "x": None, "p": 0.5, "flag": True}
    out.append(json.dumps(doc, sort_keys=True, indent=1).encode() + b"\n")
    return out


def _checkpoints() -> list:
    """Small checkpoints of each kind read_checkpoint meets, each with its format byte (targets.py): safetensors
    files, zip and legacy `torch.save` state dicts (plain, wrapped, with non-tensor entries, no tensors),
    and pickles the weights-only unpickler refuses (a global, a class instance). Made here, never downloaded."""
    import io
    import os
    import pickle
    from collections import OrderedDict

    import struct

    from shapecli._torch import torch

    codes = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int8: "I8", torch.int64: "I64"}

    def st_save(tensors: dict, metadata: dict | None = None) -> bytes:  # the format by hand: safetensors.torch needs numpy
        header, data = {}, b""
        for name, t in tensors.items():
            raw = t.contiguous().reshape(-1).view(torch.uint8).tolist() if t.numel() else []
            header[name] = {"dtype": codes[t.dtype], "shape": list(t.shape), "data_offsets": [len(data), len(data) + len(raw)]}
            data += bytes(raw)
        if metadata:
            header["__metadata__"] = metadata
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)
        return struct.pack("<Q", len(text)) + text + data

    g = torch.Generator().manual_seed(0)
    sd = OrderedDict([("0.weight", torch.randn(3, 2, generator=g)), ("0.bias", torch.zeros(3)),
                      ("1.running_mean", torch.zeros(3, dtype=torch.float16)), ("1.num_batches", torch.tensor(0))])
    out = [b"\x00" + st_save(dict(sd)), b"\x00" + st_save({"w": torch.zeros(2, 2, dtype=torch.bfloat16)}),
           b"\x00" + st_save({"e": torch.zeros(0, 4, dtype=torch.int8)}, metadata={"format": "pt"}),
           b"\x00" + b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ", b"\x00" + b"not a safetensors file"]

    def saved(obj, **kw) -> bytes:
        buf = io.BytesIO()
        torch.save(obj, buf, **kw)
        return b"\x01" + buf.getvalue()

    out += [saved(sd), saved({"w": torch.ones(2)}, _use_new_zipfile_serialization=False),
            saved({"state_dict": {"w": torch.ones(1, 1)}, "epoch": 3}), saved({"epoch": 3}), saved([torch.ones(1)]),
            saved({"f": os.getcwd}), saved({"d": OrderedDict(a=torch.ones(1))}), b"\x01" + pickle.dumps(os.getcwd),
            b"\x01" + pickle.dumps(OrderedDict(a=1), protocol=2),
            b"\x01" + pickle.dumps({"a": 1.5, "b": [1, 2]}), b"\x01PK\x03\x04 not really a zip"]
    return out


SOURCES = {"yaml": _yaml_texts, "spec": _yaml_texts, "expr": _expressions, "input": _inputs, "baseline": _baselines,
           "checkpoint": _checkpoints}


def write_seeds(target) -> int:
    d = target.corpus()
    d.mkdir(parents=True, exist_ok=True)
    for old in d.glob("seed-*"):
        old.unlink()
    n = 0
    for data in SOURCES[target.name]():
        if len(data) > target.max_len:
            continue
        (d / f"seed-{hashlib.sha1(data).hexdigest()}").write_bytes(data)
        n += 1
    print(f"{target.name}: {n} seed files in {d}")
    return 0
