"""Baseline documents: a spec's architecture recorded as reviewable JSON (write, read, validate).

A baseline (`configs/resnet50.shapes.json` beside `configs/resnet50.yaml`) holds what defines the
architecture: layer paths, types and spec lines, output shapes, parameter and buffer names,
shapes, dtypes, counts and trainable flags, totals, the inputs and `--set` values used. Init
statistics drift across torch versions, so they are stored only on request (`--stats`), in their
own section. The file is deterministic: sorted keys, 2-space indent, one short entry per line,
a trailing newline, so that a shape change is a one-line diff in review. No torch, no rich.
"""
from __future__ import annotations

import json
import math

from shapecli.baseline.strictjson import Strict, position
from shapecli.errors import (
    BaselineError,
    Loc,
    UsageError,
    literal,
)
from shapecli.fileio import read_regular, write_atomic  # noqa: F401  (write_atomic: used by cli/check.py)
from shapecli.report import SCHEMA_VERSION  # one version for every document shapecli writes

KIND = "shapecli-baseline"
SUFFIX = ".shapes.json"
SPEC_SUFFIXES = (".yaml", ".yml")
MAX_BYTES = 32 << 20  # a ViT-B/16 baseline is ~100 KiB; 200,000 layers would be ~30 MiB
MAX_DEPTH = 64  # nesting of output tuples
STAT_KEYS = ("mean", "std", "min", "max")
DEFAULT_TOLERANCE = 1e-3
INPUT_FROM_SPEC = "spec"
INPUT_FROM_CLI = "command line"
_INLINE_WIDTH = 120


# ---------------------------------------------------------------------------- building a baseline

def _output(o):
    """A Report Output (TensorInfo, nested list, or None) as plain data."""
    if o is None:
        return None
    if isinstance(o, (list, tuple)):
        return [_output(x) for x in o]
    if isinstance(o, dict):
        return {"shape": list(o["shape"]), "dtype": o["dtype"]}
    return {"shape": list(o.shape), "dtype": o.dtype}


def _finite(v):
    if isinstance(v, float):
        return float(f"{v:.7g}") if math.isfinite(v) else None
    return v


def from_report(report, *, input_source: str, sets: dict, spec_ref: str, stats: bool = False) -> dict:
    """The baseline document of a materialized Report.

    `input_source`: INPUT_FROM_SPEC (the spec's `input:`, re-read at check time) or INPUT_FROM_CLI
    (the recorded `--input`s are reused). `spec_ref`: the spec's path relative to the baseline
    (a Python model's report records its target instead).
    """
    for k, v in sets.items():
        if isinstance(v, float) and not math.isfinite(v):
            raise UsageError(f"--set {k}={v}: a baseline records finite values only")
    doc = {
        "kind": KIND,
        "schema_version": SCHEMA_VERSION,
        "name": report.name,
        # where it came from: the spec (relative to the baseline), or the Python target as named
        # on the command line (recorded, never imported from here: docs/python.md)
        **({"spec": spec_ref} if getattr(report, "source", None) is None else {"target": report.source}),
        "input_source": input_source,
        "inputs": [[{"shape": list(t.shape), "dtype": t.dtype} for t in r.inputs] for r in report.runs],
        "set": dict(sets),
        "outputs": [_output(r.output) for r in report.runs],
        "layers": [{"path": lay.path, "type": lay.type, "line": lay.line,
                    "output_shapes": [_output(o) for o in lay.output_shapes],
                    "params": lay.params, "trainable": lay.trainable} for lay in report.layers],
        "params": [],
        "buffers": [{"name": b.name, "layer": b.layer, "shape": list(b.shape), "numel": b.numel, "dtype": b.dtype,
                     **({} if b.persistent else {"persistent": False})}  # written only where not persistent
                    for b in report.buffers],
        "totals": {"params": report.totals.params, "trainable": report.totals.trainable,
                   "buffers": report.totals.buffers, "param_bytes": report.totals.param_bytes,
                   "buffer_bytes": report.totals.buffer_bytes, "bytes": dict(report.totals.bytes)},
    }
    if report.symbolic:  # named input dims: formulas per layer and the constraints are part of the architecture
        doc["symbolic"] = {"input_dims": report.symbolic.get("input_dims"),
                           "constraints": sorted(c["message"] for c in report.symbolic["constraints"])}
        for entry, lay in zip(doc["layers"], report.layers):
            if lay.symbolic is not None:
                entry["symbolic"] = _output(lay.symbolic)
    for p in report.params:
        e = {"name": p.name, "layer": p.layer, "shape": list(p.shape), "numel": p.numel, "dtype": p.dtype,
             "trainable": bool(p.trainable)}
        if p.shared_with:
            e["shared_with"] = p.shared_with
        doc["params"].append(e)
    if stats:
        doc["stats"] = {
            "torch_version": report.torch_version, "seed": report.seed, "device": report.device,
            "params": {p.name: {**{k: _finite(getattr(p.stats, k)) for k in STAT_KEYS}, "source": p.stats.source}
                       for p in report.params if p.stats is not None and not p.shared_with},
        }
    return doc


def dumps(doc: dict) -> str:
    """Deterministic JSON: sorted keys, 2-space indent, short entries on one line, trailing newline."""
    return _dump(doc, 0) + "\n"


def _compact(v) -> str:
    return json.dumps(v, sort_keys=True, ensure_ascii=False, allow_nan=False, separators=(", ", ": "))


def _scalar(v) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def _dump(v, ind: int, lead: int = 0) -> str:
    """`lead`: the characters before the value on its line (indent and key), for the width test."""
    if _scalar(v) or not v:
        return _compact(v)
    if isinstance(v, list) and all(_scalar(x) for x in v):
        return _compact(v)  # a shape: always one line
    flat = _compact(v)
    if lead + len(flat) <= _INLINE_WIDTH:
        return flat
    pad = " " * (ind + 2)
    if isinstance(v, dict):
        items = []
        for k in sorted(v):
            key = f"{pad}{_compact(str(k))}: "
            items.append(key + _dump(v[k], ind + 2, len(key)))
        return "{\n" + ",\n".join(items) + "\n" + " " * ind + "}"
    items = [pad + _dump(x, ind + 2, len(pad)) for x in v]
    return "[\n" + ",\n".join(items) + "\n" + " " * ind + "]"


def without_stats(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "stats"}


# ---------------------------------------------------------------------------- reading, strictly

class _Invalid(Exception):
    pass


def read(path: str) -> dict | None:
    """The baseline at `path`, validated; None if there is none. BaselineError names the file."""
    data = read_regular(path, MAX_BYTES, BaselineError, "baseline", missing_ok=True)
    if data is None:
        return None
    return loads(data, path)


def loads(data: bytes | str, file: str = "<baseline>") -> dict:
    """Strict JSON (no NaN/Infinity, no duplicate keys), then the baseline schema."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            line = data[: e.start].count(b"\n") + 1
            col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
            raise BaselineError("the baseline is not valid UTF-8", Loc(file, line, col)) from None
    else:
        text = data
    if text.startswith("\ufeff"):
        text = text[1:]

    def no_constants(name):
        raise Strict(f"{name} is not valid JSON (a baseline holds finite numbers only)", "constant", name)

    def pairs(kv):
        d = {}
        for k, v in kv:
            if k in d:
                raise Strict(f"duplicate key '{literal(k, 60)}'", "duplicate", k)
            d[k] = v
        return d

    def finite(tok):
        v = float(tok)
        if not math.isfinite(v):
            raise Strict(f"{literal(tok, 40)} is out of range (a baseline holds finite numbers only)", "float", tok)
        return v

    try:
        doc = json.loads(text, parse_constant=no_constants, parse_float=finite, object_pairs_hook=pairs)
    except json.JSONDecodeError as e:
        raise BaselineError(f"invalid JSON: {e.msg}", Loc(file, e.lineno, e.colno)) from None
    except Strict as e:  # json's hooks know no position: find it in the text
        pos = position(text, e)
        where = Loc(file) if pos is None else Loc(file, text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos))
        raise BaselineError(f"invalid baseline: {e}", where) from None
    except (RecursionError, ValueError) as e:  # nesting, or an integer too long to convert
        raise BaselineError(f"invalid JSON: {literal(str(e) or type(e).__name__, 120)}", Loc(file)) from None
    try:
        validate(doc)
    except _Invalid as e:
        raise BaselineError(f"invalid baseline: {e}", Loc(file)) from None
    return doc


def _t(v) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(type(v), type(v).__name__)


def _int(v, where: str, lo: int = 0) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < lo:
        raise _Invalid(f"{where}: expected an integer >= {lo}, got {_t(v)}" + (f" {v}" if isinstance(v, int) else ""))
    return v


def _str(v, where: str) -> str:
    if not isinstance(v, str):
        raise _Invalid(f"{where}: expected a string, got {_t(v)}")
    return v


def _obj(v, where: str, required: tuple, optional: tuple = ()) -> dict:
    if not isinstance(v, dict):
        raise _Invalid(f"{where}: expected an object, got {_t(v)}")
    for k in required:
        if k not in v:
            raise _Invalid(f"{where}: missing field '{k}'")
    return v


def _list(v, where: str) -> list:
    if not isinstance(v, list):
        raise _Invalid(f"{where}: expected a list, got {_t(v)}")
    return v


def _shape(v, where: str, symbolic: bool = False) -> list:
    _list(v, where)
    for i, d in enumerate(v):
        if not (symbolic and isinstance(d, str)):
            _int(d, f"{where}[{i}]")
    return v


def _out(v, where: str, depth: int = 0):
    if depth > MAX_DEPTH:
        raise _Invalid(f"{where}: nested too deeply")
    if v is None:
        return
    if isinstance(v, list):
        for i, x in enumerate(v):
            _out(x, f"{where}[{i}]", depth + 1)
        return
    _obj(v, where, ("shape", "dtype"))
    _shape(v["shape"], f"{where}.shape", symbolic=True)
    _str(v["dtype"], f"{where}.dtype")


def validate(doc) -> None:
    """Raise _Invalid naming the first field that is wrong."""
    from shapecli.dtypes import INPUT as DTYPES

    _obj(doc, "the document", ())
    kind = doc.get("kind")
    if kind != KIND:
        raise _Invalid(f"not a shapecli baseline (kind is {literal(json.dumps(kind), 40)}, expected \"{KIND}\")")
    v = doc.get("schema_version")
    if not isinstance(v, int) or isinstance(v, bool):
        raise _Invalid(f"schema_version: expected an integer, got {_t(v)}")
    if v != SCHEMA_VERSION:
        newer = " (written by a newer shapecli: upgrade shapecli)" if v > SCHEMA_VERSION else ""
        raise _Invalid(f"unknown schema_version {v}; this shapecli reads version {SCHEMA_VERSION}{newer}")
    if "target" not in doc:  # a spec's baseline names its spec; a Python model's, its target
        _obj(doc, "the document", ("spec",))
    _obj(doc, "the document", ("name", "input_source", "inputs", "set", "outputs", "layers", "params",
                               "buffers", "totals"))
    _str(doc["name"], "name")
    _str(doc["spec"] if "target" not in doc else doc["target"], "spec" if "target" not in doc else "target")
    if "target" in doc and "spec" in doc:
        raise _Invalid("a baseline names a spec or a Python target, not both")
    if doc["input_source"] not in (INPUT_FROM_SPEC, INPUT_FROM_CLI):
        raise _Invalid(f"input_source: expected \"{INPUT_FROM_SPEC}\" or \"{INPUT_FROM_CLI}\"")
    if not _list(doc["inputs"], "inputs"):
        raise _Invalid("inputs: expected at least one sample")
    for i, sample in enumerate(doc["inputs"]):
        if not _list(sample, f"inputs[{i}]"):
            raise _Invalid(f"inputs[{i}]: expected at least one tensor")
        for j, t in enumerate(sample):
            w = f"inputs[{i}][{j}]"
            _obj(t, w, ("shape", "dtype"))
            if not _shape(t["shape"], w + ".shape"):
                raise _Invalid(f"{w}.shape: expected at least one dimension")
            for k, d in enumerate(t["shape"]):
                _int(d, f"{w}.shape[{k}]", 1)
            if t["dtype"] not in DTYPES:
                raise _Invalid(f"{w}.dtype: unknown dtype {literal(json.dumps(t['dtype']), 40)}")
    _obj(doc["set"], "set", ())
    for k, x in doc["set"].items():
        if not _scalar(x):
            raise _Invalid(f"set.{literal(k, 40)}: expected a number, string, boolean or null, got {_t(x)}")
    for i, o in enumerate(_list(doc["outputs"], "outputs")):
        _out(o, f"outputs[{i}]")
    paths = set()
    for i, lay in enumerate(_list(doc["layers"], "layers")):
        w = f"layers[{i}]"
        _obj(lay, w, ("path", "type", "line", "output_shapes", "params", "trainable"))
        _str(lay["path"], w + ".path")
        _str(lay["type"], w + ".type")
        if lay["line"] is not None:
            _int(lay["line"], w + ".line", 1)
        for j, o in enumerate(_list(lay["output_shapes"], w + ".output_shapes")):
            _out(o, f"{w}.output_shapes[{j}]")
        _int(lay["params"], w + ".params")
        _int(lay["trainable"], w + ".trainable")
        if lay["path"] in paths:
            raise _Invalid(f"{w}.path: '{literal(lay['path'], 60)}' appears twice")
        paths.add(lay["path"])
    for key, fields in (("params", ("name", "layer", "shape", "numel", "dtype", "trainable")),
                        ("buffers", ("name", "layer", "shape", "numel", "dtype"))):
        names = set()
        for i, p in enumerate(_list(doc[key], key)):
            w = f"{key}[{i}]"
            _obj(p, w, fields)
            _str(p["name"], w + ".name")
            _str(p["layer"], w + ".layer")
            _shape(p["shape"], w + ".shape")
            _int(p["numel"], w + ".numel")
            _str(p["dtype"], w + ".dtype")
            if "persistent" in p and not isinstance(p["persistent"], bool):
                raise _Invalid(f"{w}.persistent: expected a boolean, got {_t(p['persistent'])}")
            if "trainable" in fields and not isinstance(p["trainable"], bool):
                raise _Invalid(f"{w}.trainable: expected a boolean, got {_t(p['trainable'])}")
            if p.get("shared_with") is not None:
                _str(p["shared_with"], w + ".shared_with")
            if p["name"] in names:
                raise _Invalid(f"{w}.name: '{literal(p['name'], 60)}' appears twice")
            names.add(p["name"])
    tot = _obj(doc["totals"], "totals", ("params", "trainable", "buffers", "param_bytes", "buffer_bytes", "bytes"))
    for k in ("params", "trainable", "buffers", "param_bytes", "buffer_bytes"):
        _int(tot[k], f"totals.{k}")
    for k, n in _obj(tot["bytes"], "totals.bytes", ()).items():
        _int(n, f"totals.bytes.{literal(k, 40)}")
    if "stats" in doc:
        st = _obj(doc["stats"], "stats", ("torch_version", "seed", "device", "params"))
        _str(st["torch_version"], "stats.torch_version")
        _int(st["seed"], "stats.seed")
        _str(st["device"], "stats.device")
        for name, s in _obj(st["params"], "stats.params", ()).items():
            w = f"stats.params.{literal(name, 60)}"
            _obj(s, w, STAT_KEYS)
            for k in STAT_KEYS:
                x = s[k]
                if x is not None and (not isinstance(x, (int, float)) or isinstance(x, bool)):
                    raise _Invalid(f"{w}.{k}: expected a number or null, got {_t(x)}")


# ---------------------------------------------------------------------------- writing, atomically

def write_error(path: str, e: OSError) -> BaselineError:
    return BaselineError("cannot write the baseline: " + (e.strerror or str(e)), Loc(path))
