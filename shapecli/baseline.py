"""Baselines: a spec's architecture recorded as reviewable JSON, and the comparison of two.

A baseline (`configs/resnet50.shapes.json` beside `configs/resnet50.yaml`) holds what defines the
architecture: layer paths, types and spec lines, output shapes, parameter and buffer names,
shapes, dtypes, counts and trainable flags, totals, the inputs and `--set` values used. Init
statistics drift across torch versions, so they are stored only on request (`--stats`), in their
own section. The file is deterministic: sorted keys, 2-space indent, one short entry per line,
a trailing newline, so that a shape change is a one-line diff in review.

No torch and no rich here: `from_report` reads a Report, everything else is plain data. The CLI
(cli_check.py) builds the specs; render/diff.py draws the result of `compare`.
"""
from __future__ import annotations

import difflib
import glob as _glob
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import BaselineError, Loc, Problem, ShapeCliError, UsageError, literal
from .fileio import read_regular, write_atomic  # noqa: F401  (write_atomic: used by cli_check)

KIND = "shapecli-baseline"
SCHEMA_VERSION = 1
SUFFIX = ".shapes.json"
SPEC_SUFFIXES = (".yaml", ".yml")
MAX_BYTES = 32 << 20  # a ViT-B/16 baseline is ~100 KiB; 200,000 layers would be ~30 MiB
MAX_DEPTH = 64  # nesting of output tuples
STAT_KEYS = ("mean", "std", "min", "max")
DEFAULT_TOLERANCE = 1e-3
INPUT_FROM_SPEC = "spec"
INPUT_FROM_CLI = "command line"
_INLINE_WIDTH = 120


# ---------------------------------------------------------------------------- where baselines live

def default_path(spec_path: str) -> str:
    """configs/resnet50.yaml -> configs/resnet50.shapes.json"""
    p = Path(spec_path)
    stem = p.name[: -len(p.suffix)] if p.suffix.lower() in SPEC_SUFFIXES else p.stem if p.suffix else p.name
    return str(p.with_name(stem + SUFFIX))


def is_dir_target(path: str) -> bool:
    """--out / --baseline names a directory: an existing one, or one written with a trailing slash."""
    return path.endswith(("/", os.sep)) or os.path.isdir(path)


def baseline_for(spec_path: str, target: str | None) -> str:
    """The baseline of `spec_path`: beside it, or in the directory `target`, or the file `target`."""
    if target is None:
        return default_path(spec_path)
    if is_dir_target(target):
        return os.path.join(target, os.path.basename(default_path(spec_path)))
    return target


def plan_targets(specs: list[str], target: str | None, flag: str) -> list[str]:
    """Baseline paths for several specs; a file target only fits one spec; no two specs share one."""
    if target is not None and len(specs) > 1 and not is_dir_target(target):
        raise UsageError(f"{flag} '{literal(target)}' names one file but there are {len(specs)} specs; "
                         f"give a directory ({flag} {literal(target)}/)")
    out = [baseline_for(s, target) for s in specs]
    seen: dict = {}
    for s, b in zip(specs, out):
        key = os.path.normcase(os.path.abspath(b))
        if key in seen:
            raise UsageError(f"'{literal(seen[key])}' and '{literal(s)}' would share the baseline '{literal(b)}'")
        seen[key] = s
    return out


@dataclass
class Target:
    """One spec to check, or one argument that named nothing checkable (error)."""

    spec: str
    error: str | None = None


def expand_specs(args: list[str]) -> list[Target]:
    """Files as given; directories: their *.yaml/*.yml files (not recursive); globs (** recurses).

    Baselines (*.shapes.json) and other files found in directories or by globs are left out.
    Order: as given, each directory or glob sorted; duplicates dropped.
    """
    out, seen = [], set()

    def add(p: str, error: str | None = None) -> None:
        key = os.path.normcase(os.path.abspath(p))
        if error is None and key in seen:
            return
        seen.add(key)
        out.append(Target(p, error))

    def specs_in(paths) -> list[str]:
        return sorted(p for p in paths if os.path.isfile(p) and Path(p).suffix.lower() in SPEC_SUFFIXES)

    for a in args:
        if a == "-":
            add(a, "check reads spec files; stdin has no baseline (use snapshot --out for a one-off)")
        elif os.path.isdir(a):
            found = specs_in(os.path.normpath(os.path.join(a, n)) for n in os.listdir(a))
            if not found:
                add(a, "the directory holds no *.yaml or *.yml spec")
            for p in found:
                add(p)
        elif os.path.lexists(a):
            add(a, "this is a baseline; name its spec" if a.endswith(SUFFIX) else None)
        elif any(c in a for c in "*?["):
            found = specs_in(os.path.normpath(p) for p in _glob.glob(a, recursive=True))
            if not found:
                add(a, "the pattern matches no *.yaml or *.yml spec")
            for p in found:
                add(p)
        else:
            add(a, "no such file")
    return out


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
    (the recorded `--input`s are reused). `spec_ref`: the spec's path relative to the baseline.
    """
    for k, v in sets.items():
        if isinstance(v, float) and not math.isfinite(v):
            raise UsageError(f"--set {k}={v}: a baseline records finite values only")
    doc = {
        "kind": KIND,
        "schema_version": SCHEMA_VERSION,
        "name": report.name,
        "spec": spec_ref,
        "input_source": input_source,
        "inputs": [[{"shape": list(t.shape), "dtype": t.dtype} for t in r.inputs] for r in report.runs],
        "set": dict(sets),
        "outputs": [_output(r.output) for r in report.runs],
        "layers": [{"path": lay.path, "type": lay.type, "line": lay.line,
                    "output_shapes": [_output(o) for o in lay.output_shapes],
                    "params": lay.params, "trainable": lay.trainable} for lay in report.layers],
        "params": [],
        "buffers": [{"name": b.name, "layer": b.layer, "shape": list(b.shape), "numel": b.numel, "dtype": b.dtype}
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
        raise _Invalid(f"{name} is not valid JSON (a baseline holds finite numbers only)")

    def pairs(kv):
        d = {}
        for k, v in kv:
            if k in d:
                raise _Invalid(f"duplicate key '{literal(k, 60)}'")
            d[k] = v
        return d

    def finite(tok):
        v = float(tok)
        if not math.isfinite(v):
            raise _Invalid(f"{literal(tok, 40)} is out of range (a baseline holds finite numbers only)")
        return v

    try:
        doc = json.loads(text, parse_constant=no_constants, parse_float=finite, object_pairs_hook=pairs)
    except json.JSONDecodeError as e:
        raise BaselineError(f"invalid JSON: {e.msg}", Loc(file, e.lineno, e.colno)) from None
    except _Invalid as e:
        raise BaselineError(f"invalid baseline: {e}", Loc(file)) from None
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
    from .spec import DTYPES

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
    _obj(doc, "the document", ("name", "spec", "input_source", "inputs", "set", "outputs", "layers", "params",
                               "buffers", "totals"))
    _str(doc["name"], "name")
    _str(doc["spec"], "spec")
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


# ---------------------------------------------------------------------------- comparing

@dataclass
class Detail:
    """One difference: `what` ("weight", "output", "weight dtype"), its old and new value as text.

    old None: it was added; new None: it was removed.
    """

    what: str
    old: str | None
    new: str | None

    def text(self, arrow: str = "->") -> str:
        if self.old is None:
            return f"{self.what} {self.new} added"
        if self.new is None:
            return f"{self.what} {self.old} removed"
        return f"{self.what} {self.old} {arrow} {self.new}"


@dataclass
class Change:
    """A changed, added, removed or moved layer (or the inputs, or drifted init statistics)."""

    kind: str  # "changed" | "added" | "removed" | "moved" | "input" | "totals" | "stats"
    path: str  # the layer's path (the new one; the old one if removed)
    type: str
    line: int | None  # where to point in the current spec
    details: list = field(default_factory=list)  # [Detail]
    old_path: str | None = None  # for "moved"
    nested: int = 0  # added/removed: how many nested items went with it

    @property
    def label(self) -> str:
        return f"layer {self.path} ({self.type})" if self.type else ""

    def summary(self, arrow: str = "->") -> str:
        """What changed, without the layer: 'weight [10, 256] -> [10, 512]; bias [10] -> [20]'."""
        head = []
        if self.kind in ("added", "removed"):
            head.append(self.kind + (f" with {self.nested} nested item{'s' if self.nested != 1 else ''}"
                                     if self.nested else ""))
        elif self.kind == "moved":
            head.append(f"moved from {self.old_path}")
        elif self.kind == "stats":
            head.append("init statistics:")
        body = "; ".join(d.text(arrow) for d in self.details)
        if self.kind in ("added", "removed") and self.details:
            body = ", ".join(f"{d.what} {d.new if d.new is not None else d.old}" for d in self.details)
            return f"{head[0]}: {body}"
        if self.kind == "stats":
            return f"{head[0]} {body}"
        return "; ".join(head + ([body] if body else []))

    def message(self, arrow: str = "->") -> str:
        """'layer 3 (Linear): weight [10, 256] -> [10, 512]'"""
        return f"{self.label}: {self.summary(arrow)}" if self.label else self.summary(arrow)


def shape_text(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def output_text(o, dtype: bool = False) -> str:
    if o is None:
        return "—"
    if isinstance(o, list):
        return "(" + ", ".join(output_text(x, dtype) for x in o) + ")"
    s = shape_text(o["shape"])
    return f"{s} {o['dtype']}" if dtype else s


def _pair_text(a, b) -> tuple:
    ta, tb = output_text(a), output_text(b)
    if ta == tb:
        ta, tb = output_text(a, True), output_text(b, True)
    return ta, tb


def _by_layer(entries: list) -> dict:
    out: dict = {}
    for e in entries:
        out.setdefault(e["layer"], []).append(e)
    return out


def _local(name: str, layer: str) -> str:
    return name[len(layer) + 1:] if layer and name.startswith(layer + ".") else name


def _sig(lay: dict, params: dict, buffers: dict) -> str:
    """Alignment token: layers with equal tokens are the same layer, possibly moved."""
    ps = [(_local(p["name"], lay["path"]), p["shape"], p["dtype"], p["trainable"]) for p in params.get(lay["path"], [])]
    bs = [(_local(b["name"], lay["path"]), b["shape"], b["dtype"]) for b in buffers.get(lay["path"], [])]
    return json.dumps([lay["path"].count("."), lay["type"], ps, bs])


def _kind_token(lay: dict) -> str:
    return f"{lay['path'].count('.')}:{lay['type']}"


def _align(old: list, new: list, oparams, nparams, obuf, nbuf) -> list:
    """[(old layer or None, new layer or None)] in order.

    Identical layers (same depth, type, parameters) are matched first, as a diff matches lines; in
    what is left, layers of the same depth and type are paired to keep the most in common (output
    shapes, parameter shapes, path), so an inserted layer reads as "added", not as every later
    layer "changed".
    """
    a = [_sig(x, oparams, obuf) for x in old]
    b = [_sig(x, nparams, nbuf) for x in new]
    pairs = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            pairs += list(zip(old[i1:i2], new[j1:j2]))
        else:
            pairs += _pair_block(old[i1:i2], new[j1:j2], oparams, nparams)
    return pairs


def _similarity(a: dict, b: dict, oparams: dict, nparams: dict) -> float:
    s = 1.0 + (0.5 if a["path"] == b["path"] else 0.0) + (1.0 if a["output_shapes"] == b["output_shapes"] else 0.0)
    pa = {_local(p["name"], a["path"]): p["shape"] for p in oparams.get(a["path"], [])}
    for p in nparams.get(b["path"], []):
        if pa.get(_local(p["name"], b["path"])) == p["shape"]:
            s += 1.0
    return s


_DP_LIMIT = 250_000


def _pair_block(olds: list, news: list, oparams: dict, nparams: dict) -> list:
    """Best pairing of two runs of differing layers (same depth and type only), in order."""
    n, m = len(olds), len(news)
    if n * m > _DP_LIMIT:  # a very long run: pair by path
        same = {x["path"] for x in news}
        keep = {x["path"]: x for x in olds if x["path"] in same and
                any(y["path"] == x["path"] and _kind_token(y) == _kind_token(x) for y in news)}
        return [(x, None) for x in olds if x["path"] not in keep] + [(keep.get(y["path"]), y) for y in news]
    ka, kb = [_kind_token(x) for x in olds], [_kind_token(x) for x in news]
    dp = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        row, prev = dp[i], dp[i - 1]
        for j in range(1, m + 1):
            best = max(prev[j], row[j - 1])
            if ka[i - 1] == kb[j - 1]:
                best = max(best, prev[j - 1] + _similarity(olds[i - 1], news[j - 1], oparams, nparams))
            row[j] = best
    out = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and ka[i - 1] == kb[j - 1] and \
                dp[i][j] == dp[i - 1][j - 1] + _similarity(olds[i - 1], news[j - 1], oparams, nparams):
            out.append((olds[i - 1], news[j - 1]))
            i, j = i - 1, j - 1
        elif j > 0 and (i == 0 or dp[i][j] == dp[i][j - 1]):
            out.append((None, news[j - 1]))
            j -= 1
        else:
            out.append((olds[i - 1], None))
            i -= 1
    out.reverse()
    return out


def _entries_diff(old: list, new: list, layer_old: str, layer_new: str, trainable: bool) -> list:
    """Details for a layer's own parameters (or buffers), matched by their name within the layer."""
    o = {_local(e["name"], layer_old): e for e in old}
    n = {_local(e["name"], layer_new): e for e in new}
    out = []
    for k in list(n) + [k for k in o if k not in n]:
        a, b = o.get(k), n.get(k)
        if a is None:
            out.append(Detail(k, None, shape_text(b["shape"])))
            continue
        if b is None:
            out.append(Detail(k, shape_text(a["shape"]), None))
            continue
        if a["shape"] != b["shape"]:
            out.append(Detail(k, shape_text(a["shape"]), shape_text(b["shape"])))
        if a["dtype"] != b["dtype"]:
            out.append(Detail(f"{k} dtype", a["dtype"], b["dtype"]))
        if trainable and a["trainable"] != b["trainable"]:
            out.append(Detail(k, "trainable" if a["trainable"] else "frozen", "trainable" if b["trainable"] else "frozen"))
        sa, sb = a.get("shared_with"), b.get("shared_with")
        if (sa is None) != (sb is None) or (sa != sb and layer_old == layer_new):
            out.append(Detail(f"{k} tied to", sa or "—", sb or "—"))
    return out


def _outputs_diff(a: list, b: list) -> list:
    out = []
    n = max(len(a), len(b))
    for i in range(n):
        x = a[i] if i < len(a) else None
        y = b[i] if i < len(b) else None
        if x != y:
            ta, tb = _pair_text(x, y)
            out.append(Detail("output" if n == 1 else f"output #{i + 1}", ta, tb))
    return out


def _inputs_text(sample: list) -> str:
    return "; ".join(shape_text(t["shape"]) + ("" if t["dtype"] == "float32" else f" {t['dtype']}") for t in sample)


def compare(old: dict, new: dict, *, stats: bool = False, tolerance: float = DEFAULT_TOLERANCE) -> list:
    """The architecture changes from baseline `old` to the rebuilt `new` (both baseline documents).

    Spec line numbers, the name and the spec path are not compared: moving a layer down by adding a
    comment is not a change. With `stats`, init statistics in both are compared within `tolerance`.
    """
    changes = []
    if old["inputs"] != new["inputs"]:
        n = max(len(old["inputs"]), len(new["inputs"]))
        for i in range(n):
            a = old["inputs"][i] if i < len(old["inputs"]) else None
            b = new["inputs"][i] if i < len(new["inputs"]) else None
            if a != b:
                what = "input" if n == 1 else f"input #{i + 1}"
                changes.append(Change("input", "", "", None, [Detail(what, _inputs_text(a) if a else None,
                                                                     _inputs_text(b) if b else None)]))
    op, np_ = _by_layer(old["params"]), _by_layer(new["params"])
    ob, nb = _by_layer(old["buffers"]), _by_layer(new["buffers"])
    pairs = _align(old["layers"], new["layers"], op, np_, ob, nb)
    last_line = None
    layer_changes = []
    for a, b in pairs:
        if b is not None and b.get("line"):
            last_line = b["line"]
        if a is None:
            det = [Detail(_local(p["name"], b["path"]), None, shape_text(p["shape"])) for p in np_.get(b["path"], [])]
            if not det and b["params"]:  # a container: what came with it
                det = [Detail("params", None, f"{b['params']:,}")]
            layer_changes.append(Change("added", b["path"], b["type"], b.get("line"), det))
        elif b is None:
            det = [Detail(_local(p["name"], a["path"]), shape_text(p["shape"]), None) for p in op.get(a["path"], [])]
            if not det and a["params"]:
                det = [Detail("params", f"{a['params']:,}", None)]
            layer_changes.append(Change("removed", a["path"], a["type"], last_line, det))
        else:
            det = []
            if a["type"] != b["type"]:
                det.append(Detail("type", a["type"], b["type"]))
            det += _outputs_diff(a["output_shapes"], b["output_shapes"])
            if a.get("symbolic") != b.get("symbolic") and "symbolic" in a:
                det.append(Detail("formula", _formula(a.get("symbolic")), _formula(b.get("symbolic"))))
            det += _entries_diff(op.get(a["path"], []), np_.get(b["path"], []), a["path"], b["path"], True)
            det += _entries_diff(ob.get(a["path"], []), nb.get(b["path"], []), a["path"], b["path"], False)
            moved = a["path"] != b["path"]
            if det or moved:
                layer_changes.append(Change("moved" if moved else "changed", b["path"], b["type"], b.get("line"),
                                            det, old_path=a["path"] if moved else None))
    changes += _fold(layer_changes)
    # Root-level entries (a parameter owned by no spec item) and anything the layers missed.
    root = _entries_diff(op.get("", []), np_.get("", []), "", "", True) + _entries_diff(ob.get("", []), nb.get("", []), "", "", False)
    if root:
        changes.append(Change("changed", "", "", None, root))
    ot, nt = old["totals"], new["totals"]
    if not changes and any(ot[k] != nt[k] for k in ("params", "trainable", "buffers", "param_bytes", "buffer_bytes")):
        changes.append(Change("totals", "", "", None, [Detail(k, f"{ot[k]:,}", f"{nt[k]:,}") for k in
                                                       ("params", "trainable", "buffers") if ot[k] != nt[k]]))
    if not changes and old["outputs"] != new["outputs"]:
        changes.append(Change("changed", "", "", None, _outputs_diff(old["outputs"], new["outputs"])))
    oc, nc = (old.get("symbolic") or {}).get("constraints"), (new.get("symbolic") or {}).get("constraints")
    if oc is not None and oc != nc:
        det = [Detail("constraint", c, None) for c in oc if c not in (nc or [])]
        det += [Detail("constraint", None, c) for c in (nc or []) if c not in oc]
        changes.append(Change("changed", "", "", None, det))
    if stats and "stats" in old and "stats" in new:
        changes += _stats_diff(old, new, tolerance)
    return changes


def _formula(o) -> str | None:
    if o is None:
        return None
    if isinstance(o, list):
        return "(" + ", ".join(_formula(x) or "—" for x in o) + ")"
    return "[" + ", ".join(str(d) for d in o["shape"]) + "]"


def _fold(changes: list) -> list:
    """Nested items added or removed with their container are counted under it, not listed; so are
    items that only moved along with a moved container. (Changes come in pre-order.)"""
    out = []
    for c in changes:
        anc = next((p for p in reversed(out) if p.kind == c.kind and p.path and c.path.startswith(p.path + ".")), None)
        if anc is not None and c.kind in ("added", "removed"):
            anc.nested += 1
            continue
        if anc is not None and c.kind == "moved" and not c.details and c.old_path.startswith(anc.old_path + "."):
            continue
        out.append(c)
    return out


def _stats_diff(old: dict, new: dict, tol: float) -> list:
    layer_of = {p["name"]: p["layer"] for p in new["params"]}
    types = {lay["path"]: lay["type"] for lay in new["layers"]}
    lines = {lay["path"]: lay.get("line") for lay in new["layers"]}
    by_layer: dict = {}
    for name, s_new in new["stats"]["params"].items():
        s_old = old["stats"]["params"].get(name)
        if s_old is None:
            continue
        scale = abs(s_old.get("std") or 0.0)
        det = []
        for k in STAT_KEYS:
            a, b = s_old.get(k), s_new.get(k)
            if a is None or b is None:
                if (a is None) != (b is None):
                    det.append((k, a, b))
                continue
            if abs(a - b) > tol * max(abs(a), abs(b), scale):
                det.append((k, a, b))
        if det:
            layer = layer_of.get(name, "")
            loc = _local(name, layer)
            by_layer.setdefault(layer, []).extend(Detail(f"{loc} {k}", _num(a), _num(b)) for k, a, b in det)
    return [Change("stats", layer, types.get(layer, ""), lines.get(layer), det) for layer, det in by_layer.items()]


def _num(v) -> str:
    if v is None:
        return "—"
    if v == 0:
        return "0"
    return f"{v:.4g}"


# ---------------------------------------------------------------------------- a check's outcome

@dataclass
class Result:
    """One spec's outcome. status: "ok" | "changed" | "error" | "skipped"."""

    spec: str
    baseline: str | None
    status: str
    name: str | None = None
    changes: list = field(default_factory=list)  # [Change]
    old_totals: dict | None = None
    new_totals: dict | None = None
    errors: list = field(default_factory=list)  # [Problem]
    written: str | None = None  # "created" | "updated" | "refreshed" (--update)
    notes: list = field(default_factory=list)  # [str]

    @classmethod
    def failed(cls, spec: str, baseline: str | None, error: ShapeCliError | str) -> "Result":
        probs = [Problem(error, Loc(spec))] if isinstance(error, str) else list(error.problems)
        # a problem without a place gets the spec's name: with many specs, "error: ..." alone says too little
        probs = [p if p.loc is not None or p.message.startswith(spec + ":") else Problem(p.message, Loc(spec), p.layer)
                 for p in probs]
        return cls(spec, baseline, "error", errors=probs)

    def to_dict(self) -> dict:
        d = {"spec": self.spec, "baseline": self.baseline, "status": self.status, "name": self.name,
             "written": self.written, "changes": [], "totals": None, "errors": [], "notes": list(self.notes)}
        for c in self.changes:
            e = asdict(c)
            e["message"] = c.message()
            d["changes"].append(e)
        if self.old_totals is not None and self.new_totals is not None:
            d["totals"] = totals_delta(self.old_totals, self.new_totals)
        for p in self.errors:
            d["errors"].append({"message": p.message, "file": p.loc.file if p.loc else None,
                                "line": p.loc.line if p.loc else None, "col": p.loc.col if p.loc else None,
                                "layer": p.layer, "text": str(p)})
        return d


def total_bytes(t: dict) -> int:
    return t["param_bytes"] + t["buffer_bytes"]


def totals_delta(old: dict, new: dict) -> dict:
    out = {}
    for k, (a, b) in {"params": (old["params"], new["params"]), "trainable": (old["trainable"], new["trainable"]),
                      "buffers": (old["buffers"], new["buffers"]),
                      "bytes": (total_bytes(old), total_bytes(new))}.items():
        out[k] = {"old": a, "new": b, "delta": b - a}
    return out


def exit_code(results: list) -> int:
    """2 if any spec or baseline could not be checked; else 1 if any architecture changed (and its
    baseline was not rewritten by --update); else 0."""
    if any(r.status == "error" for r in results):
        return 2
    if any(r.status == "changed" and not r.written for r in results):
        return 1
    return 0


def summary(results: list) -> dict:
    s = {"checked": len(results)}
    for k in ("ok", "changed", "error", "skipped"):
        s[k] = sum(r.status == k for r in results)
    s["written"] = sum(r.written is not None for r in results)
    return s


def check_document(results: list) -> dict:
    """The `check --format json` document."""
    return {"kind": "shapecli-check", "schema_version": SCHEMA_VERSION, "exit_code": exit_code(results),
            "summary": summary(results), "specs": [r.to_dict() for r in results]}
