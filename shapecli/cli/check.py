"""`shapecli snapshot` and `shapecli check`: the CI shape-regression check (docs/ci.md).

The work is the library's (shapecli.snapshot, shapecli.check: baseline/workflow.py); these
commands parse options, call it, render its results and exit with its status:
0 every spec matches · 1 an architecture changed · 2 a spec, baseline or argument could not be
checked (this wins over 1: a check that could not run is not a pass).
torch and rich are imported inside the commands, once per process, however many specs.
"""
from __future__ import annotations

import sys
from typing import List, Optional

import typer

from shapecli.baseline import DEFAULT_TOLERANCE
from shapecli.cli import complete
from shapecli.cli.options import err
from shapecli.cli.progress import progress
from shapecli.errors import UsageError

SPECS_FOR_A_BAR = 2

_DeviceOpt = typer.Option("auto", "--device", autocompletion=complete.devices, help="auto: real CPU tensors for small models, meta (shapes only) "
                                                   "for big ones; cpu; meta.")


def snapshot(
    specs: List[str] = typer.Argument(..., metavar="SPEC", autocompletion=complete.spec_files, help="Spec files (or directories or globs of them)."),
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
    import shapecli
    from shapecli.baseline.workflow import check_device
    from shapecli.spec.inputs import parse_set

    check_device(device)  # before --set, as always
    with progress("checking", SPECS_FOR_A_BAR) as tick:
        run = shapecli.snapshot(specs, out, input or None, parse_set(set_ or []), force=force, stats=stats, seed=seed,
                                device=device, progress=tick)
    for r in run.results:  # printed once the progress bar is gone
        if r.text is not None:
            sys.stdout.write(r.text)
        for p in r.errors:
            err(str(p))
        if r.message:
            err(r.message)
    if run.exit_code:
        raise typer.Exit(run.exit_code)


def check(
    specs: List[str] = typer.Argument(..., metavar="SPEC", autocompletion=complete.spec_files,
                                      help="Spec files, directories (their *.yaml/*.yml files) or globs ('configs/**/*.yaml')."),
    baseline: Optional[str] = typer.Option(None, "--baseline", "-b", metavar="PATH",
                                           help="Where the baselines are: a file (one spec) or a directory. "
                                                "Default: beside each spec. A checkpoint (.safetensors, .pt, "
                                                ".pth, .bin) is checked by names, shapes and dtypes."),
    update: bool = typer.Option(False, "--update", "-u",
                                help="Rewrite the baselines that changed (atomically) and create missing ones; exit 0 "
                                     "unless something could not be checked."),
    stats: bool = typer.Option(False, "--stats", help="Also compare init statistics, when the baseline has them."),
    tolerance: float = typer.Option(DEFAULT_TOLERANCE, "--tolerance", metavar="REL",
                                    help="Relative tolerance for --stats (of the larger value, or of the std near zero)."),
    format_: str = typer.Option("table", "--format", "-f", autocompletion=complete.check_formats, help="table, json, markdown (a PR comment) or github "
                                                                "(workflow annotations)."),
    skip_missing: bool = typer.Option(False, "--skip-missing", help="Skip specs without a baseline instead of "
                                                                    "failing (for pre-commit, which passes every YAML file)."),
    device: str = _DeviceOpt,
) -> None:
    """Rebuild each spec with the inputs recorded in its baseline and report any architecture change.

    Exit 0: all match. 1: an architecture changed. 2: a spec or baseline could not be checked.
    """
    import shapecli
    from shapecli.render.diff import FORMATS

    if format_ not in FORMATS:
        raise UsageError(f"--format '{format_}': choose table, json, markdown or github")
    with progress("checking", SPECS_FOR_A_BAR) as tick:
        run = shapecli.check(specs, baseline, update=update, stats=stats, tolerance=tolerance,
                             skip_missing=skip_missing, device=device, progress=tick)
    _render(run.results, format_)
    for r in run.results:
        for p in r.errors:
            err(str(p))
        if r.written:
            n = len(r.changes)
            why = {"created": "created", "refreshed": "refreshed (spec lines or name only)",
                   "updated": f"updated ({n} change{'s' if n != 1 else ''})"}[r.written]
            err(f"{r.baseline}: {why}")
        if r.status == "skipped":
            err(f"{r.spec}: skipped: no baseline at {r.baseline}")
    if run.exit_code:
        raise typer.Exit(run.exit_code)


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
