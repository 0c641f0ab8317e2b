"""`shapecli inspect`: materialize a spec and render its report."""
from __future__ import annotations

import os
import sys
from typing import List, Optional

import typer

from shapecli.cli.options import InputOpt, SetOpt, err, parse_budget as _parse_budget
from shapecli.cli.progress import progress
from shapecli.errors import ExitCode, UsageError

LAYERS_FOR_A_BAR = 500  # smaller specs finish before a progress bar would be worth drawing


def inspect(
    spec: str = typer.Argument(..., metavar="SPEC", help="A spec file, or - for stdin."),
    input: Optional[List[str]] = InputOpt,
    set_: Optional[List[str]] = SetOpt,
    seed: int = typer.Option(0, "--seed", help="RNG seed, set right before materialization."),
    device: str = typer.Option("auto", "--device", help="auto: real CPU tensors for small models, meta for big ones; cpu; meta."),
    depth: Optional[int] = typer.Option(None, "--depth", "-d", min=1, help="Fold layers nested deeper than this."),
    json_: bool = typer.Option(False, "--json", help="Print the report as JSON (docs/report.schema.json)."),
    format_: str = typer.Option("table", "--format", "-f", help="table, json or markdown."),
    params: bool = typer.Option(True, "--params/--no-params", help="Show a row per parameter."),
    max_memory: str = typer.Option("256MiB", "--max-memory", help="Real memory for parameters before shaping on meta."),
    activations: bool = typer.Option(False, "--activations", help="Report each layer's output mean/std at init."),
    sampled: bool = typer.Option(False, "--sampled-stats", help="On the meta device, measure statistics on a sample "
                                 "of each parameter's init distribution (~10 ms per tensor) instead of analytic ones."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 if there are warnings (for CI)."),
    trace_init: bool = typer.Option(False, "--trace-init", help="List the order in which layers were materialized and initialized."),
    html: Optional[str] = typer.Option(None, "--html", metavar="PATH", help="Also save the table as an HTML file."),
    svg: Optional[str] = typer.Option(None, "--svg", metavar="PATH", help="Also save the table as an SVG picture."),
    force: bool = typer.Option(False, "--force", help="Let --html/--svg replace an existing file that shapecli did not write."),
    dtype: Optional[List[str]] = typer.Option(None, "--dtype", metavar="DTYPES", help="Estimate memory per dtype, "
                                              "e.g. float32,bfloat16,int8: weights, and training with Adam (docs/estimates.md)."),
    flops: bool = typer.Option(False, "--flops", help="Count forward FLOPs per layer (one more forward pass, on meta for big models)."),
    backward: bool = typer.Option(False, "--backward", help="Also estimate backward (2x forward) and training-step FLOPs; implies --flops."),
    estimates: bool = typer.Option(False, "--estimates", "-e", help="All estimates: --dtype float32,bfloat16 --flops --backward."),
) -> None:
    """Materialize a spec with a sample input and report every layer's shapes and init statistics."""
    import shapecli
    from shapecli.api import run_problems
    from shapecli.baseline.workflow import check_device
    from shapecli.spec.inputs import parse_set

    fmt = "json" if json_ else format_
    if fmt not in ("table", "json", "markdown"):
        raise UsageError(f"--format '{fmt}': choose table, json or markdown")
    check_device(device)
    budget = _parse_budget(max_memory)
    exports = {k: _output_path(v, k, force) for k, v in (("html", html), ("svg", svg)) if v is not None}
    sp = shapecli.load_spec(spec, parse_set(set_ or []))  # a path: never read as spec text
    with progress("materializing", LAYERS_FOR_A_BAR) as tick:
        report = shapecli.inspect(sp, input or None, seed=seed, device=device,
                                  budget=budget, activations=activations, sampled=sampled, dtypes=dtype or None,
                                  flops=flops, backward=backward, estimates=estimates, progress=tick)
    _emit(report, fmt, depth, params, trace_init, exports)
    failed = run_problems(report)
    for p in failed:
        err(str(p))
    if fmt != "table":
        lines = {lay.path: lay for lay in report.layers}
        for d in report.diagnostics:
            where = f"{report.spec_file}:{d.line}:{d.col}" if d.line else report.spec_file
            lay = lines.get(d.layer or "")
            what = (f"layer {d.layer} ({lay.type}): " if lay else f"layer {d.layer}: ") if d.layer else ""
            err(f"{where}: {d.level}: {what}[{d.code}] {d.message}")
    if failed:
        raise typer.Exit(ExitCode.INVALID)
    if strict and any(d.level == "warning" for d in report.diagnostics):
        raise typer.Exit(ExitCode.CHECK_FAILED)


def _output_path(path: str, kind: str, force: bool = False) -> str:
    """An export path the user named: written atomically; an existing file is replaced only if
    shapecli wrote it (its marker, fileio.REPORT_MARKER), or under --force."""
    from shapecli.fileio import is_our_report

    if not path.strip():
        raise UsageError(f"--{kind}: give a file name (an empty path writes nothing)")
    if os.path.isdir(path):
        raise UsageError(f"--{kind} {path}: is a directory")
    if os.path.lexists(path) and not force and not is_our_report(path):
        raise UsageError(f"--{kind} {path}: exists and was not written by shapecli; refusing to replace it "
                         "(--force replaces it)")
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise UsageError(f"--{kind} {path}: no such directory")
    return path


def _emit(report, fmt: str, depth, params: bool, trace: bool = False, exports: dict | None = None) -> None:
    if exports and fmt != "table":
        raise UsageError("--html/--svg export the table; use them without --json/--format")
    if fmt == "json":
        from shapecli.render import to_json

        sys.stdout.write(to_json(report) + "\n")
    elif fmt == "markdown":
        from shapecli.render.markdown import render_markdown

        sys.stdout.write(render_markdown(report, depth=depth, params=params))
        if report.estimates:
            from shapecli.render.estimates import markdown_estimates

            sys.stdout.write(markdown_estimates(report))
    else:
        from shapecli.render.table import print_report

        print_report(report, depth=depth, params=params, trace=trace, exports=exports)
