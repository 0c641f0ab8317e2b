"""snapshot and check, as library calls: record baselines, check specs against them (docs/ci.md).

snapshot records a spec's architecture in a baseline (configs/x.yaml -> configs/x.shapes.json);
check rebuilds each spec with the inputs and `--set` values its baseline recorded and compares.
Both return plain results with their exit status: 0 every spec matches (or was written) ·
1 an architecture changed · 2 a spec, baseline or argument could not be checked (this wins over 1:
a check that could not run is not a pass). Bad arguments raise UsageError. torch is imported
once per call, however many specs, and only when some spec can be run.

A baseline is a shapecli baseline document or a checkpoint (`.safetensors`, `.pt`, `.pth`, `.bin`:
baseline/checkpoint.py), told apart by its name in `_read_baseline`; a checkpoint is compared by
names, shapes and dtypes with the spec built from its own input, and its Result is drawn like any
other (docs/checkpoints.md). A target other than a spec file is loaded in `_load`.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from shapecli.baseline.document import DEFAULT_TOLERANCE, INPUT_FROM_CLI, INPUT_FROM_SPEC, MAX_BYTES, dumps, from_report
from shapecli.baseline.document import read as _read_document
from shapecli.baseline.document import without_stats, write_error
from shapecli.baseline.changes import compare
from shapecli.baseline.checkpoint import (Checkpoint, compare_checkpoint, is_checkpoint, non_persistent_buffers, notes,
                                          read_checkpoint, strip_prefix)
from shapecli.baseline.results import Result, exit_code
from shapecli.baseline.targets import Target, expand_specs, is_dir_target, plan_targets
from shapecli.errors import BaselineError, Loc, Problem, ShapeCliError, ShapeError, UsageError
from shapecli.fileio import write_atomic

DEVICES = ("auto", "cpu", "meta")


@dataclass
class Snapshot:
    """One spec's snapshot. status: "written" | "replaced" | "unchanged" | "stdout" | "error"."""

    spec: str
    path: str | None  # where the baseline went ("-": returned in `text`, for stdout)
    status: str
    message: str | None = None  # "configs/x.shapes.json: written (3 layers, 7,946 params)"
    text: str | None = None  # the baseline document, for path "-"
    errors: list = field(default_factory=list)  # [Problem]


@dataclass
class SnapshotRun:
    results: list  # [Snapshot], in the order the specs were named
    exit_code: int  # 0, or 2 when some spec could not be recorded


@dataclass
class CheckRun:
    results: list  # [baseline.Result], in the order the specs were named
    exit_code: int  # 0 · 1 an architecture changed · 2 something could not be checked


def check_device(device: str) -> str:
    if device not in DEVICES:
        raise UsageError(f"--device '{device}': choose auto, cpu or meta")
    return device


def run_problems(report) -> list:
    """A Problem per sample input that did not fit the materialized model, located at its layer."""
    lines = {lay.path: lay for lay in report.layers}
    file = report.spec_file or report.source
    probs = []
    for i, r in enumerate(report.runs):
        if r.error:
            lay = lines.get((r.error_layer or "").split(" (")[0])
            loc = Loc(file, lay.line, lay.col) if lay and lay.line else Loc(file)
            shapes = "; ".join(",".join(map(str, x.shape)) for x in r.inputs)
            probs.append(Problem(f"input #{i + 1} ({shapes}): {r.error}", loc, r.error_layer))
    return probs


# ---------------------------------------------------------------------------- snapshot

def snapshot(specs, out: str | None = None, inputs=None, sets: dict | None = None, *, force: bool = False,
             stats: bool = False, seed: int = 0, device: str = "auto", progress=None) -> SnapshotRun:
    """Record each spec's architecture in a baseline. `out`: a file (one spec), a directory, or "-"
    (the document comes back in `text`); default: beside each spec. `inputs`: `--input` texts to
    record (default: the spec's input:, re-read at check time). `progress(done, total, label)`."""
    check_device(device)
    sets = dict(sets or {})
    for k, v in sets.items():
        if isinstance(v, float) and not math.isfinite(v):
            raise UsageError(f"--set {k}={v}: a baseline records finite values only")
    targets = expand_specs([specs] if isinstance(specs, str) else list(specs))
    if any(t.spec == "-" for t in targets):
        targets = [Target("-") if t.spec == "-" else t for t in targets]
        if out is None or is_dir_target(out) or len(targets) > 1:
            raise UsageError("a spec read from stdin (-) needs --out FILE (or --out -), and no other spec")
    good = [t.spec for t in targets if not t.error]
    if out == "-":
        if len(targets) > 1:
            raise UsageError("--out - (stdout) takes one spec")
        paths = ["-"] * len(good)
    else:
        paths = plan_targets(good, out, "--out")
    where = dict(zip(good, paths))
    results = []
    for i, t in enumerate(targets):
        if progress:
            progress(i, len(targets), t.spec)
        if t.error:
            results.append(Snapshot(t.spec, None, "error", errors=[Problem(t.error, Loc(t.spec))]))
            continue
        try:
            results.append(_snapshot_one(t.spec, where[t.spec], out is not None and is_dir_target(out), inputs, sets, force, stats, seed,
                                         device))
        except ShapeCliError as e:
            results.append(Snapshot(t.spec, where[t.spec], "error", errors=list(e.problems)))
    if progress:
        progress(len(targets), len(targets), None)
    return SnapshotRun(results, 2 if any(r.status == "error" for r in results) else 0)


def _snapshot_one(spec: str, path: str, out_dir: bool, inputs, sets, force, stats, seed, device) -> Snapshot:
    sp, samples = _load(spec, sets, inputs)
    report = _materialize(sp, samples, seed=seed, device=device, stats=stats)
    ref = "<stdin>" if spec == "-" else spec if path == "-" else _relative(spec, path)
    doc = from_report(report, input_source=INPUT_FROM_CLI if inputs else INPUT_FROM_SPEC,
                      sets=sets, spec_ref=ref, stats=stats)
    text = dumps(doc)
    if len(text.encode("utf-8")) > MAX_BYTES:  # what snapshot writes, check reads: one limit
        raise BaselineError(f"the baseline would be {len(text.encode('utf-8')):,} bytes; a baseline may be at most "
                            f"{MAX_BYTES:,}", Loc(spec))
    if path == "-":
        return Snapshot(spec, "-", "stdout", text=text)
    n = len(doc["layers"])
    what = f"{n} layer{'s' if n != 1 else ''}, {doc['totals']['params']:,} params"
    old = _existing(path)
    if old is not None:
        if old == text.encode("utf-8"):
            return Snapshot(spec, path, "unchanged", f"{path}: unchanged ({what})")
        if spec != "-" and os.path.exists(spec) and os.path.samefile(spec, path):
            raise BaselineError("refusing to write the baseline over its own spec", Loc(path))
        if not _is_baseline(old):  # --force replaces baselines, never other files
            raise BaselineError("exists and is not a shapecli baseline; refusing to overwrite it", Loc(path))
        if not force:
            raise BaselineError(f"a different baseline exists; replace it with --force, or review the changes with "
                                f"`shapecli check {spec}` and accept them with `shapecli check --update {spec}`",
                                Loc(path))
    try:
        if out_dir:  # --out DIR/ creates DIR (docs/ci.md); --out FILE needs its directory to exist
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        elif not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise BaselineError("cannot write the baseline: no such directory (create it first, or name a "
                                "directory with a trailing /)", Loc(path))
        write_atomic(path, text)
    except OSError as e:
        raise write_error(path, e) from None
    status = "replaced" if old is not None else "written"
    return Snapshot(spec, path, status, f"{path}: {status} ({what})")


# ---------------------------------------------------------------------------- check

def check(specs, baseline: str | None = None, *, update: bool = False, stats: bool = False,
          tolerance: float = DEFAULT_TOLERANCE, skip_missing: bool = False, device: str = "auto",
          progress=None) -> CheckRun:
    """Rebuild each spec with the inputs recorded in its baseline and compare. `baseline`: a file (one
    spec) or a directory; default: beside each spec. `update`: rewrite the baselines that changed
    and create missing ones. `progress(done, total, label)`."""
    check_device(device)
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise UsageError(f"--tolerance {tolerance}: give a finite number >= 0, e.g. 1e-3")
    if baseline is not None and is_checkpoint(baseline):
        if update:
            raise UsageError(f"--update rewrites shapecli baselines; a checkpoint ('{baseline}') is never written")
        if stats:
            raise UsageError(f"--stats compares init statistics, which a checkpoint ('{baseline}') does not record")
    targets = expand_specs([specs] if isinstance(specs, str) else list(specs))
    good = [t.spec for t in targets if not t.error]
    if baseline is not None and is_checkpoint(baseline) and len(good) > 1:
        raise UsageError(f"--baseline '{baseline}' is a checkpoint of one model; there are {len(good)} specs: "
                         "check one spec against it")
    where = dict(zip(good, plan_targets(good, baseline, "--baseline")))
    results = []
    for i, t in enumerate(targets):
        if progress:
            progress(i, len(targets), t.spec)
        if t.error:
            results.append(Result.failed(t.spec, None, t.error))
            continue
        results.append(check_one(t.spec, where[t.spec], update=update, stats=stats, tolerance=tolerance,
                                 skip_missing=skip_missing, device=device))
    if progress:
        progress(len(targets), len(targets), None)
    return CheckRun(results, exit_code(results))


def check_one(spec: str, bpath: str, *, update: bool = False, stats: bool = False,
              tolerance: float = DEFAULT_TOLERANCE, skip_missing: bool = False, device: str = "auto") -> Result:
    """Check one spec against the baseline at `bpath` (a baseline document or a checkpoint)."""
    from shapecli.python.target import is_target
    from shapecli.spec.dims import Dim
    from shapecli.spec.nodes import InputSpec

    try:
        old = _read_baseline(bpath)
    except BaselineError as e:  # even under --update: an unreadable baseline is not silently replaced
        return Result.failed(spec, bpath, e)
    if isinstance(old, Checkpoint):
        return _check_checkpoint(spec, old, device)
    if old is None:
        if update:
            return _create(spec, bpath, stats, device)
        if skip_missing:
            return Result(spec, bpath, "skipped")
        return Result.failed(spec, bpath, BaselineError(
            f"no baseline at {bpath}; record one with `shapecli snapshot {spec}` (or `shapecli check --update`)",
            Loc(spec)))
    want_stats = stats or (update and "stats" in old)
    seed = old["stats"]["seed"] if "stats" in old else 0
    try:
        sp = spec if is_target(spec) else _load(spec, dict(old["set"]), None)[0]  # a Python target: imported when run
        samples = None
        if old["input_source"] == INPUT_FROM_CLI or isinstance(sp, str):  # a Python target has no input of its own
            samples = [[InputSpec([Dim(None, d) for d in t["shape"]], t["dtype"]) for t in sample]
                       for sample in old["inputs"]]
            dims_text = (old.get("symbolic") or {}).get("input_dims")
            if dims_text:  # the first input named its dims: re-run symbolically
                from shapecli.spec.inputs import parse_input_text

                samples[0] = parse_input_text(";".join(dims_text), None if isinstance(sp, str) else sp.inputs)
        report = _materialize(sp, samples, seed=seed, device=device, stats=want_stats)
        new = from_report(report, input_source=old["input_source"], sets=old["set"],
                          spec_ref=_relative(spec, bpath), stats=want_stats)
    except ShapeCliError as e:
        return Result.failed(spec, bpath, e)
    changes = compare(old, new, stats=stats, tolerance=tolerance)
    r = Result(spec, bpath, "changed" if changes else "ok", name=report.name, changes=changes,
               old_totals=old["totals"], new_totals=new["totals"], mismatch=recorded_for_another(old, new))
    if stats and "stats" not in old and not update:
        r.notes.append("the baseline has no init statistics to compare; add them with `shapecli check --update --stats`")
    if update and (changes or without_stats(old) != without_stats(new) or (stats and "stats" not in old)):
        try:
            write_atomic(bpath, dumps(new))
        except OSError as e:
            return Result.failed(spec, bpath, write_error(bpath, e))
        r.written = "updated" if changes else "refreshed"
    return r


def recorded_for_another(old: dict, new: dict) -> str | None:
    """One line naming what differs when the baseline was recorded for another model, spec file or
    input than the one checked against it (None when it is this spec's): said before the changes."""
    def shapes(doc):
        return "; ".join(" ".join("[" + ", ".join(map(str, t["shape"])) + "]" + ("" if t["dtype"] == "float32" else
                                                                                  " " + t["dtype"]) for t in sample)
                         for sample in doc["inputs"])

    parts = []
    if old["name"] != new["name"]:
        parts.append(f"name '{old['name']}' (this spec: '{new['name']}')")
    was, now = old.get("spec") or old.get("target"), new.get("spec") or new.get("target")  # a spec file or a Python target
    if was != now and "<stdin>" not in (was, now):
        parts.append(f"{'spec' if 'spec' in old else 'target'} '{was}' (this {'spec' if 'spec' in new else 'target'}: '{now}')")
    if old["inputs"] != new["inputs"]:
        parts.append(f"input {shapes(old)} (this spec: {shapes(new)})")
    if not parts:
        return None
    return "the baseline was recorded for another model or input: " + ", ".join(parts) + "; the changes below are " \
           "measured against it"


def _check_checkpoint(spec: str, ck: Checkpoint, device: str) -> Result:
    """A spec built from its own input against a checkpoint's names, shapes and dtypes."""
    from shapecli.python.target import is_target

    try:
        if is_target(spec):
            raise UsageError("a checkpoint records no input, and a model written in Python has none of its own: "
                             "check a spec against a checkpoint, or load the checkpoint into the model", Loc(spec))
        sp, _ = _load(spec, {}, None)  # "auto" is meta: no value is compared, and a big model needs no memory
        model, report = _run(sp, None, seed=0, device="meta" if device == "auto" else device, stats=False)
    except ShapeCliError as e:
        return Result.failed(spec, ck.path, e)
    skip = non_persistent_buffers(model)
    ck = strip_prefix(ck, [p.name for p in report.params] + [b.name for b in report.buffers if b.name not in skip])
    changes = compare_checkpoint(report, ck.entries, skip)
    totals = from_report(report, input_source=INPUT_FROM_SPEC, sets={}, spec_ref=spec)["totals"]
    return Result(spec, ck.path, "changed" if changes else "ok", name=report.name, changes=changes,
                  new_totals=totals, notes=notes(ck))


def _create(spec: str, bpath: str, stats: bool, device: str) -> Result:
    """check --update with no baseline: record one from the spec's own input, as snapshot would."""
    try:
        sp, _ = _load(spec, {}, None)
        report = _materialize(sp, None, seed=0, device=device, stats=stats)
        new = from_report(report, input_source=INPUT_FROM_SPEC, sets={}, spec_ref=_relative(spec, bpath),
                          stats=stats)
        try:
            os.makedirs(os.path.dirname(os.path.abspath(bpath)), exist_ok=True)
            write_atomic(bpath, dumps(new))
        except OSError as e:
            raise write_error(bpath, e) from None
    except ShapeCliError as e:
        return Result.failed(spec, bpath, e)
    return Result(spec, bpath, "ok", name=report.name, old_totals=new["totals"], new_totals=new["totals"],
                  written="created")


# ---------------------------------------------------------------------------- the steps

def _load(target: str, sets: dict, inputs) -> tuple:
    """(Spec, samples or None) for a target: a spec file ('-' for stdin), `--input` texts parsed against it.
    A Python target named on the command line stays its text here: it is imported when it runs."""
    from shapecli.python.target import is_target
    from shapecli.spec.inputs import parse_input_text

    if is_target(target):
        if sets:
            raise UsageError("--set applies to specs; give a Python target its arguments: 'pkg.mod:make(width=64)'",
                             Loc(target))
        if not inputs:
            raise UsageError("a model written in Python has no input of its own: record one with --input",
                             Loc(target))
        return target, [parse_input_text(t, None) for t in inputs]
    from shapecli.load import load_spec

    sp = load_spec(target, sets)
    return sp, ([parse_input_text(t, sp.inputs) for t in inputs] if inputs else None)


def _materialize(sp, samples, *, seed: int, device: str, stats: bool):
    """The Report a baseline records; a later sample that does not fit makes the baseline wrong: ShapeError."""
    return _run(sp, samples, seed=seed, device=device, stats=stats)[1]


def _run(sp, samples, *, seed: int, device: str, stats: bool) -> tuple:
    """(model, Report) of `_materialize`."""
    from shapecli.run.engine import Options, materialize

    opts = Options(seed=seed, device=device, stats=stats, histograms=False)
    if isinstance(sp, str):  # a Python target (see _load)
        from shapecli.python.run import inspect_module, load_target
        from shapecli.python.target import parse

        model, report = inspect_module(load_target(sp, device, opts.budget), samples, opts, name=parse(sp).name,
                                       source=parse(sp).text)
    else:
        model, report = materialize(sp, samples, opts)
    probs = run_problems(report)
    if probs:
        raise ShapeError(probs)
    return model, report


def _read_baseline(path: str):
    """The baseline at `path`: a checkpoint's tensors (a Checkpoint, by its name: .safetensors, .pt,
    .pth, .bin), else the baseline document (None if there is none)."""
    if is_checkpoint(path):
        return read_checkpoint(path)
    return _read_document(path)


def _is_baseline(data: bytes) -> bool:
    """Whether a file's bytes are a baseline (even a stale one of ours): parsed, its "kind" is ours.
    A file that is not JSON any more (a broken one of ours) counts when it names our kind anywhere."""
    import json

    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (ValueError, RecursionError):
        return b'"kind": "shapecli-baseline"' in data or b'"kind":"shapecli-baseline"' in data
    return isinstance(doc, dict) and doc.get("kind") == "shapecli-baseline"


def _existing(path: str) -> bytes | None:
    """The current baseline's bytes (None if there is none); not a regular file is an error."""
    from shapecli.fileio import read_regular

    return read_regular(path, MAX_BYTES, BaselineError, "baseline", missing_ok=True)


def _relative(spec: str, baseline_path: str) -> str:
    try:
        rel = os.path.relpath(os.path.abspath(spec), os.path.dirname(os.path.abspath(baseline_path)))
    except ValueError:  # another drive (Windows)
        rel = spec
    return rel.replace(os.sep, "/")
