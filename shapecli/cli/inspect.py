"""`shapecli inspect`: materialize a spec and render its report."""
from __future__ import annotations

import os
import sys
from typing import List, Optional

import typer

from shapecli.cli import complete
from shapecli.cli.options import InputOpt, SetOpt, err, parse_budget as _parse_budget
from shapecli.cli.progress import progress
from shapecli.errors import ExitCode, UsageError

LAYERS_FOR_A_BAR = 500  # smaller specs finish before a progress bar would be worth drawing


def inspect(
    spec: str = typer.Argument(..., metavar="SPEC", autocompletion=complete.spec_files, help="A spec file, - for stdin, or a model written in Python: "
                               "MODULE:ATTR or FILE.py:ATTR, e.g. 'torchvision.models:resnet50(num_classes=10)'."),
    input: Optional[List[str]] = InputOpt,
    set_: Optional[List[str]] = SetOpt,
    seed: int = typer.Option(0, "--seed", help="RNG seed, set right before materialization."),
    device: str = typer.Option("auto", "--device", autocompletion=complete.devices, help="auto: real CPU tensors for small models, meta for big ones; cpu; meta."),
    depth: Optional[int] = typer.Option(None, "--depth", "-d", min=1, help="Fold layers nested deeper than this."),
    json_: bool = typer.Option(False, "--json", help="Print the report as JSON (its schema: shapecli schema --report)."),
    format_: str = typer.Option("table", "--format", "-f", autocompletion=complete.inspect_formats, help="table, json, markdown, html or svg."),
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
    dtype: Optional[List[str]] = typer.Option(None, "--dtype", metavar="DTYPES", autocompletion=complete.dtypes, help="Estimate memory per dtype, "
                                              "e.g. float32,bfloat16,int8: weights, and training with Adam (docs/estimates.md)."),
    flops: bool = typer.Option(False, "--flops", help="Count forward FLOPs per layer (one more forward pass, on meta for big models)."),
    backward: bool = typer.Option(False, "--backward", help="Also estimate backward (2x forward) and training-step FLOPs; implies --flops."),
    estimates: bool = typer.Option(False, "--estimates", "-e", help="All estimates: --dtype float32,bfloat16 --flops --backward."),
    # --- the table's view (docs/output.md) ---
    columns: Optional[str] = typer.Option(None, "--columns", "-c", metavar="NAME,...", help="Columns to show, e.g. "
                                          "output,params,kernel,stride,input (docs/output.md lists them)."),
    wide: bool = typer.Option(False, "--wide", "-w", help="Ignore the terminal's width: every column, one block."),
    expand: bool = typer.Option(False, "--expand", help="Show every copy of repeated blocks (folded as × N otherwise)."),
) -> None:
    """Materialize a spec with a sample input and report every layer's shapes and init statistics."""
    import shapecli
    from shapecli.api import run_problems
    from shapecli.baseline.workflow import check_device
    from shapecli.python.target import is_target
    from shapecli.spec.inputs import parse_set

    fmt = "json" if json_ else format_
    if fmt not in ("table", "json", "markdown", "html", "svg"):
        raise UsageError(f"--format '{fmt}': choose table, json, markdown, html or svg")
    view = {"depth": depth, "params": params, "trace": trace_init, "expand": expand, "columns": _columns(columns),
            "wide": wide}
    check_device(device)
    budget = _parse_budget(max_memory)
    exports = {k: _output_path(v, k, force) for k, v in (("html", html), ("svg", svg)) if v is not None}
    if is_target(spec):  # a model written in Python, named here: the one place a CLI run imports user code
        if set_:
            raise UsageError("--set applies to specs; give a Python target its arguments: 'pkg.mod:make(width=64)'")
        if not input:
            raise UsageError(f"{spec}: a model written in Python needs a sample input: --input (e.g. --input 1,3,224,224)")
        sp = spec
    else:
        sp = shapecli.load_spec(spec, parse_set(set_ or []))  # a path: never read as spec text
    with progress("materializing", LAYERS_FOR_A_BAR) as tick:
        report = shapecli.inspect(sp, input or None, seed=seed, device=device,
                                  budget=budget, activations=activations, sampled=sampled, dtypes=dtype or None,
                                  flops=flops, backward=backward, estimates=estimates, progress=tick)
    _emit(report, fmt, view, exports)
    failed = run_problems(report)
    for p in failed:
        err(str(p))
    if fmt != "table":
        lines = {lay.path: lay for lay in report.layers}
        for d in report.diagnostics:
            file = report.spec_file or report.source
            where = f"{file}:{d.line}:{d.col}" if d.line else file
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


def _columns(text: str | None) -> list | None:
    if text is None:
        return None
    from shapecli.errors import did_you_mean
    from shapecli.view import COLUMNS

    names = [n.strip() for n in text.split(",") if n.strip()]
    for n in names:
        if n not in COLUMNS:
            raise UsageError(f"--columns: unknown column '{n}'{did_you_mean(n, list(COLUMNS))}; "
                             f"choose from {', '.join(COLUMNS)}")
    return names


def _emit(report, fmt: str, view: dict, exports: dict | None = None) -> None:
    """Print the report in `fmt`; `view`: the table's options (depth, params, trace, expand, columns, wide)."""
    if exports and fmt != "table":
        raise UsageError("--html/--svg save the table; use them without --json/--format")
    view = dict(view)
    wide = view.pop("wide", False)
    if fmt == "table":
        from shapecli.render.terminal import print_report

        print_report(report, exports=exports, width=100_000 if wide else None, **view)
    else:
        from shapecli.render import render

        sys.stdout.write(render(report, fmt, **view))
