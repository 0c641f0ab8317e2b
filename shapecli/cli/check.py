"""`shapecli snapshot` and `shapecli check`: the CI shape-regression check (docs/ci.md).

snapshot records a spec's architecture in a baseline (configs/x.yaml -> configs/x.shapes.json);
check rebuilds each spec with the inputs and `--set` values its baseline recorded and compares.
Exit codes: 0 every spec matches · 1 an architecture changed · 2 a spec, baseline or argument
could not be checked (this wins over 1: a check that could not run is not a pass).
torch and rich are imported inside the commands, once per process, however many specs.
"""
from __future__ import annotations

import contextlib
import math
import os
import sys
from typing import List, Optional

import typer

from shapecli import baseline as bl
from shapecli.fileio import write_atomic
from shapecli.cli.app import _err, app
from shapecli.errors import (
    BaselineError,
    ExitCode,
    Loc,
    Problem,
    ShapeCliError,
    ShapeError,
    UsageError,
)

FORMATS = ("table", "json", "markdown", "github")
DEVICES = ("auto", "cpu", "meta")

_DeviceOpt = typer.Option("auto", "--device", help="auto: real CPU tensors for small models, meta (shapes only) "
                                                   "for big ones; cpu; meta.")


def _device(device: str) -> str:
    if device not in DEVICES:
        raise UsageError(f"--device '{device}': choose auto, cpu or meta")
    return device


# ---------------------------------------------------------------------------- snapshot

@app.command()
def snapshot(
    specs: List[str] = typer.Argument(..., metavar="SPEC", help="Spec files (or directories or globs of them)."),
    out: Optional[str] = typer.Option(None, "--out", "-o", metavar="PATH",
                                      help="Where to write: a file (one spec), a directory (ending in / or existing), "
                                           "or - for stdout. Default: beside the spec, x.yaml -> x.shapes.json."),
    input: Optional[List[str]] = typer.Option(None, "--input", "-i", metavar="SHAPE",
                                              help="Sample input(s) to record, as for inspect (repeatable). "
                                                   "Default: the spec's input:, re-read at check time."),
    set_: Optional[List[str]] = typer.Option(None, "--set", "-s", metavar="NAME=VALUE",
                                             help="Override a spec variable (repeatable); recorded in the baseline."),
    force: bool = typer.Option(False, "--force", help="Replace an existing baseline that differs."),
    stats: bool = typer.Option(False, "--stats", help="Also record init statistics (they drift across torch versions)."),
    seed: int = typer.Option(0, "--seed", help="RNG seed for the init statistics (--stats)."),
    device: str = _DeviceOpt,
) -> None:
    """Record each spec's architecture (layers, shapes, parameters, totals) in a baseline for `check`."""
    from shapecli.spec.parser import parse_set

    _device(device)
    sets = parse_set(set_ or [])
    for k, v in sets.items():
        if isinstance(v, float) and not math.isfinite(v):
            raise UsageError(f"--set {k}={v}: a baseline records finite values only")
    targets = bl.expand_specs(specs)
    if any(t.spec == "-" for t in targets):
        targets = [bl.Target("-") if t.spec == "-" else t for t in targets]
        if out is None or bl.is_dir_target(out) or len(targets) > 1:
            raise UsageError("a spec read from stdin (-) needs --out FILE (or --out -), and no other spec")
    good = [t.spec for t in targets if not t.error]
    if out == "-":
        if len(targets) > 1:
            raise UsageError("--out - (stdout) takes one spec")
        paths = ["-"] * len(good)
    else:
        paths = bl.plan_targets(good, out, "--out")
    where = dict(zip(good, paths))

    from shapecli import run as mat  # torch, once

    failed, messages = False, []  # printed once the progress bar is gone
    with _progress(len(targets)) as tick:
        for t in targets:
            tick(t.spec)
            if t.error:
                messages.append(str(Problem(t.error, Loc(t.spec))))
                failed = True
                continue
            try:
                msg = _snapshot_one(mat, t.spec, where[t.spec], out is not None, input, sets, force, stats, seed, device)
            except ShapeCliError as e:
                messages += [str(p) for p in e.problems]
                failed = True
                continue
            if msg:
                messages.append(msg)
    for m in messages:
        _err(m)
    if failed:
        raise typer.Exit(ExitCode.INVALID)


def _snapshot_one(mat, spec: str, path: str, explicit: bool, inputs, sets, force, stats, seed, device) -> str:
    from shapecli.spec.parser import load_spec, parse_input_text

    sp = load_spec(spec, sets)
    samples = [parse_input_text(t, sp.inputs) for t in inputs] if inputs else None
    _, report = mat.materialize(sp, samples, mat.Options(seed=seed, device=device, stats=stats, histograms=False))
    _raise_failed_runs(report, sp.file)
    ref = "<stdin>" if spec == "-" else spec if path == "-" else _relative(spec, path)
    doc = bl.from_report(report, input_source=bl.INPUT_FROM_CLI if inputs else bl.INPUT_FROM_SPEC,
                         sets=sets, spec_ref=ref, stats=stats)
    text = bl.dumps(doc)
    if path == "-":
        sys.stdout.write(text)
        return ""
    n = len(doc["layers"])
    what = f"{n} layer{'s' if n != 1 else ''}, {doc['totals']['params']:,} params"
    old = _existing(path)
    if old is not None:
        if old == text.encode("utf-8"):
            return f"{path}: unchanged ({what})"
        if spec != "-" and os.path.exists(spec) and os.path.samefile(spec, path):
            raise BaselineError("refusing to write the baseline over its own spec", Loc(path))
        if not _is_baseline(old):  # --force replaces baselines, never other files
            raise BaselineError("exists and is not a shapecli baseline; refusing to overwrite it", Loc(path))
        if not force:
            raise BaselineError(f"a different baseline exists; replace it with --force, or review the changes with "
                                f"`shapecli check {spec}` and accept them with `shapecli check --update {spec}`",
                                Loc(path))
    try:
        if explicit:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        write_atomic(path, text)
    except OSError as e:
        raise bl.write_error(path, e) from None
    return f"{path}: {'replaced' if old is not None else 'written'} ({what})"


def _is_baseline(data: bytes) -> bool:
    """Whether a file's bytes look like a baseline (even a stale or broken one of ours)."""
    return b'"kind": "shapecli-baseline"' in data[:4096] or b'"kind":"shapecli-baseline"' in data[:4096]


def _existing(path: str) -> bytes | None:
    """The current baseline's bytes (None if there is none); not a regular file is an error."""
    from shapecli.fileio import read_regular

    return read_regular(path, bl.MAX_BYTES, BaselineError, "baseline", missing_ok=True)


def _relative(spec: str, baseline_path: str) -> str:
    try:
        rel = os.path.relpath(os.path.abspath(spec), os.path.dirname(os.path.abspath(baseline_path)))
    except ValueError:  # another drive (Windows)
        rel = spec
    return rel.replace(os.sep, "/")


def _raise_failed_runs(report, file: str) -> None:
    """A later --input that does not fit the materialized model: the baseline would be wrong."""
    lines = {lay.path: lay for lay in report.layers}
    probs = []
    for i, r in enumerate(report.runs):
        if r.error:
            lay = lines.get((r.error_layer or "").split(" (")[0])
            loc = Loc(file, lay.line, lay.col) if lay and lay.line else Loc(file)
            shapes = "; ".join(",".join(map(str, x.shape)) for x in r.inputs)
            probs.append(Problem(f"input #{i + 1} ({shapes}): {r.error}", loc, r.error_layer))
    if probs:
        raise ShapeError(probs)


# ---------------------------------------------------------------------------- check

@app.command()
def check(
    specs: List[str] = typer.Argument(..., metavar="SPEC",
                                      help="Spec files, directories (their *.yaml/*.yml files) or globs ('configs/**/*.yaml')."),
    baseline: Optional[str] = typer.Option(None, "--baseline", "-b", metavar="PATH",
                                           help="Where the baselines are: a file (one spec) or a directory. "
                                                "Default: beside each spec."),
    update: bool = typer.Option(False, "--update", "-u",
                                help="Rewrite the baselines that changed (atomically) and create missing ones; exit 0 "
                                     "unless something could not be checked."),
    stats: bool = typer.Option(False, "--stats", help="Also compare init statistics, when the baseline has them."),
    tolerance: float = typer.Option(bl.DEFAULT_TOLERANCE, "--tolerance", metavar="REL",
                                    help="Relative tolerance for --stats (of the larger value, or of the std near zero)."),
    format_: str = typer.Option("table", "--format", "-f", help="table, json, markdown (a PR comment) or github "
                                                                "(workflow annotations)."),
    skip_missing: bool = typer.Option(False, "--skip-missing", help="Skip specs without a baseline instead of "
                                                                    "failing (for pre-commit, which passes every YAML file)."),
    device: str = _DeviceOpt,
) -> None:
    """Rebuild each spec with the inputs recorded in its baseline and report any architecture change.

    Exit 0: all match. 1: an architecture changed. 2: a spec or baseline could not be checked.
    """
    if format_ not in FORMATS:
        raise UsageError(f"--format '{format_}': choose table, json, markdown or github")
    _device(device)
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise UsageError(f"--tolerance {tolerance}: give a finite number >= 0, e.g. 1e-3")
    targets = bl.expand_specs(specs)
    good = [t.spec for t in targets if not t.error]
    where = dict(zip(good, bl.plan_targets(good, baseline, "--baseline")))

    mat = None
    if good:
        from shapecli import run as mat  # torch, once

    results = []
    with _progress(len(targets)) as tick:
        for t in targets:
            tick(t.spec)
            if t.error:
                results.append(bl.Result.failed(t.spec, None, t.error))
                continue
            results.append(_check_one(mat, t.spec, where[t.spec], update=update, stats=stats, tolerance=tolerance,
                                      skip_missing=skip_missing, device=device))

    _render(results, format_)
    for r in results:
        for p in r.errors:
            _err(str(p))
        if r.written:
            n = len(r.changes)
            why = {"created": "created", "refreshed": "refreshed (spec lines or name only)",
                   "updated": f"updated ({n} change{'s' if n != 1 else ''})"}[r.written]
            _err(f"{r.baseline}: {why}")
        if r.status == "skipped":
            _err(f"{r.spec}: skipped: no baseline at {r.baseline}")
    code = bl.exit_code(results)
    if code:
        raise typer.Exit(code)


def _render(results: list, fmt: str) -> None:
    from shapecli.render import diff

    if fmt == "json":
        sys.stdout.write(diff.render_json(results))
    elif fmt == "markdown":
        sys.stdout.write(diff.render_markdown(results))
    elif fmt == "github":
        sys.stdout.write(diff.render_github(results))
    else:
        diff.print_table(results)


def _check_one(mat, spec: str, bpath: str, *, update: bool, stats: bool, tolerance: float, skip_missing: bool,
               device: str) -> bl.Result:
    from shapecli.spec.parser import Dim, InputSpec, load_spec

    try:
        old = bl.read(bpath)
    except BaselineError as e:  # even under --update: an unreadable baseline is not silently replaced
        return bl.Result.failed(spec, bpath, e)
    if old is None:
        if update:
            return _create(mat, spec, bpath, stats, device)
        if skip_missing:
            return bl.Result(spec, bpath, "skipped")
        return bl.Result.failed(spec, bpath, BaselineError(
            f"no baseline at {bpath}; record one with `shapecli snapshot {spec}` (or `shapecli check --update`)",
            Loc(spec)))
    want_stats = stats or (update and "stats" in old)
    seed = old["stats"]["seed"] if "stats" in old else 0
    try:
        sp = load_spec(spec, dict(old["set"]))
        samples = None
        if old["input_source"] == bl.INPUT_FROM_CLI:
            samples = [[InputSpec([Dim(None, d) for d in t["shape"]], t["dtype"]) for t in sample]
                       for sample in old["inputs"]]
            dims_text = (old.get("symbolic") or {}).get("input_dims")
            if dims_text:  # the first input named its dims: re-run symbolically
                from shapecli.spec.parser import parse_input_text

                samples[0] = parse_input_text(";".join(dims_text), sp.inputs)
        _, report = mat.materialize(sp, samples, mat.Options(seed=seed, device=device, stats=want_stats,
                                                             histograms=False))
        _raise_failed_runs(report, sp.file)
        new = bl.from_report(report, input_source=old["input_source"], sets=old["set"],
                             spec_ref=_relative(spec, bpath), stats=want_stats)
    except ShapeCliError as e:
        return bl.Result.failed(spec, bpath, e)
    changes = bl.compare(old, new, stats=stats, tolerance=tolerance)
    r = bl.Result(spec, bpath, "changed" if changes else "ok", name=report.name, changes=changes,
                  old_totals=old["totals"], new_totals=new["totals"])
    if stats and "stats" not in old and not update:
        r.notes.append("the baseline has no init statistics to compare; add them with `shapecli check --update --stats`")
    if update and (changes or bl.without_stats(old) != bl.without_stats(new) or (stats and "stats" not in old)):
        try:
            write_atomic(bpath, bl.dumps(new))
        except OSError as e:
            return bl.Result.failed(spec, bpath, bl.write_error(bpath, e))
        r.written = "updated" if changes else "refreshed"
    return r


def _create(mat, spec: str, bpath: str, stats: bool, device: str) -> bl.Result:
    """check --update with no baseline: record one from the spec's own input, as snapshot would."""
    from shapecli.spec.parser import load_spec

    try:
        sp = load_spec(spec, {})
        _, report = mat.materialize(sp, None, mat.Options(device=device, stats=stats, histograms=False))
        _raise_failed_runs(report, sp.file)
        new = bl.from_report(report, input_source=bl.INPUT_FROM_SPEC, sets={}, spec_ref=_relative(spec, bpath),
                             stats=stats)
        try:
            os.makedirs(os.path.dirname(os.path.abspath(bpath)), exist_ok=True)
            write_atomic(bpath, bl.dumps(new))
        except OSError as e:
            raise bl.write_error(bpath, e) from None
    except ShapeCliError as e:
        return bl.Result.failed(spec, bpath, e)
    return bl.Result(spec, bpath, "ok", name=report.name, old_totals=new["totals"], new_totals=new["totals"],
                     written="created")


# ---------------------------------------------------------------------------- progress

@contextlib.contextmanager
def _progress(n: int):
    """A rich progress bar on stderr, only when stderr is a terminal and there are several specs."""
    if n < 2 or not _isatty(sys.stderr):
        yield lambda label: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from shapecli.errors import literal
    from shapecli.render.terminal import console

    con = console(sys.stderr)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=con, transient=True) as prog:
        task = prog.add_task("checking", total=n)
        state = {"started": False}

        def tick(label: str) -> None:
            if state["started"]:
                prog.advance(task)
            state["started"] = True
            prog.update(task, description=literal(label, 60))

        yield tick
        prog.advance(task)


def _isatty(f) -> bool:
    try:
        return f.isatty()
    except (AttributeError, ValueError):
        return False
