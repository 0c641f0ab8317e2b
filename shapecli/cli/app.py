"""The command line: parse options, call the library, render, exit. Nothing else.

Exit codes (errors.ExitCode): 0 ok · 1 a check found a shape regression (or a warning under
--strict) · 2 invalid spec, input, command line or baseline · 3 internal error (a bug).
Neither torch nor rich's table code is imported at module level, so `--help` is instant.
"""
from __future__ import annotations

import os
import sys
from typing import List, Optional

import typer

from shapecli import __version__
from shapecli.errors import ExitCode, ShapeCliError, UsageError

app = typer.Typer(
    name="shapecli",
    help="Inspect the shapes of a PyTorch network written as a YAML spec (deferred initialization).\n\n"
    "Exit codes: 0 ok, 1 shape regression (check) or warning under --strict, 2 invalid input, 3 internal error.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)

_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        print(f"shapecli {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show Python tracebacks for errors."),
) -> None:
    _state["debug"] = debug


InputOpt = typer.Option(None, "--input", "-i", metavar="SHAPE",
                        help="Sample input shape, e.g. 2,20 or B,3,H=224,W=224; '2,16:int64' for token ids; "
                             "'2,10;2,20' for two tensors. Repeat to push more inputs through the materialized model.")
SetOpt = typer.Option(None, "--set", "-s", metavar="NAME=VALUE", help="Override a spec variable (repeatable).")


def _parse_budget(text: str) -> int:
    units = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
             "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}
    t = text.strip().lower()
    num = t.rstrip("abgikm")
    unit = t[len(num):]
    try:
        v = float(num)
    except ValueError:
        v = -1
    if unit not in units or not (v >= 0) or v == float("inf"):
        raise UsageError(f"--max-memory '{text}': write a size such as 256MiB or 2GiB")
    return int(v * units[unit])


@app.command()
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
    dtype: Optional[List[str]] = typer.Option(None, "--dtype", metavar="DTYPES", help="Estimate memory per dtype, "
                                              "e.g. float32,bfloat16,int8: weights, and training with Adam (docs/estimates.md)."),
    flops: bool = typer.Option(False, "--flops", help="Count forward FLOPs per layer (one more forward pass, on meta for big models)."),
    backward: bool = typer.Option(False, "--backward", help="Also estimate backward (2x forward) and training-step FLOPs; implies --flops."),
    estimates: bool = typer.Option(False, "--estimates", "-e", help="All estimates: --dtype float32,bfloat16 --flops --backward."),
) -> None:
    """Materialize a spec with a sample input and report every layer's shapes and init statistics."""
    from shapecli.spec.parser import load_spec, parse_input_text, parse_set

    fmt = "json" if json_ else format_
    if fmt not in ("table", "json", "markdown"):
        raise UsageError(f"--format '{fmt}': choose table, json or markdown")
    if device not in ("auto", "cpu", "meta"):
        raise UsageError(f"--device '{device}': choose auto, cpu or meta")
    budget = _parse_budget(max_memory)
    exports = {k: _output_path(v, k) for k, v in (("html", html), ("svg", svg)) if v}
    sp = load_spec(spec, parse_set(set_ or []))
    samples = [parse_input_text(t, sp.inputs) for t in input] if input else None
    from shapecli import (
        run as mat,  # torch: only once the spec and the command line are valid
    )

    dtypes = None
    if dtype or flops or backward or estimates:
        from shapecli.analyses.estimate import parse_dtypes

        dtypes = parse_dtypes(dtype) or (["float32", "bfloat16"] if estimates else ["float32"])
    with _progress(sum(1 for _ in sp.nodes()), "materializing") as progress:
        model, report = mat.materialize(sp, samples, mat.Options(seed=seed, device=device, budget=budget, progress=progress,
                                                                 activations=activations, sampled=sampled))
    if dtypes:
        from shapecli.analyses.estimate import estimate

        estimate(model, report, None, dtypes, flops=flops or estimates, backward=backward or estimates)
    _emit(report, fmt, depth, params, trace_init, exports)
    failed = [r for r in report.runs if r.error]
    lines = {lay.path: lay for lay in report.layers}
    for i, r in enumerate(report.runs):
        if r.error:
            lay = lines.get((r.error_layer or "").split(" (")[0])
            where = f"{sp.file}:{lay.line}:{lay.col}" if lay and lay.line else sp.file
            shapes = "; ".join(",".join(map(str, x.shape)) for x in r.inputs)
            _err(f"{where}: error: layer {r.error_layer}: input #{i + 1} ({shapes}): {r.error}")
    if fmt != "table":
        for d in report.diagnostics:
            where = f"{sp.file}:{d.line}:{d.col}" if d.line else sp.file
            lay = lines.get(d.layer or "")
            what = (f"layer {d.layer} ({lay.type}): " if lay else f"layer {d.layer}: ") if d.layer else ""
            _err(f"{where}: {d.level}: {what}[{d.code}] {d.message}")
    if failed:
        raise typer.Exit(ExitCode.INVALID)
    if strict and any(d.level == "warning" for d in report.diagnostics):
        raise typer.Exit(ExitCode.CHECK_FAILED)


@app.command()
def layers(
    name: Optional[str] = typer.Argument(None, help="Show one layer type in detail."),
    json_: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List every layer type a spec may use, with its arguments; inferred ones are marked."""
    import json

    from shapecli import layers as registry
    from shapecli.errors import did_you_mean

    names = sorted(registry.REGISTRY, key=lambda n: (registry.REGISTRY[n].group, n))
    if name is not None:
        canon = registry.canonical(name)
        if canon is None or canon in registry.CONTAINERS:
            if canon in registry.CONTAINERS:
                sys.stdout.write(f"{canon}: a container; see docs/spec.md\n")
                return
            raise UsageError(f"unknown layer type '{name}'{did_you_mean(name, registry.known_names())}")
        names = [canon]
    rows = []
    for n in names:
        sig = registry.signature(n)
        rows.append({"name": n, "group": registry.REGISTRY[n].group, "glue": registry.REGISTRY[n].glue,
                     "args": [{"name": p.name, "type": p.kind, "required": p.required, "inferred": p.inferred,
                               "default": None if callable(p.default) else p.default, "choices": list(p.choices)}
                              for p in sig.params]})
    if json_:
        sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
        return
    from rich import box
    from rich.table import Table

    from shapecli.render.table import console

    t = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for c in ("Layer", "Group", "Arguments (positional order; * inferred from the data)"):
        t.add_column(c, no_wrap=c != "Arguments (positional order; * inferred from the data)")
    for r in rows:
        args = ", ".join(("*" if a["inferred"] else "") + a["name"] + ("" if a["required"] or a["inferred"] else f"={a['default']!r}")
                         for a in r["args"])
        t.add_row(r["name"], r["group"], args or "—")
    console().print(t)
    sys.stdout.write("Containers: Sequential, Residual, Concat, Add, Multiply (docs/spec.md). "
                     "Aliases: LazyLinear, LazyConv2d, ... name the same layers.\n")


@app.command()
def schema() -> None:
    """Print the JSON Schema of the spec language (for YAML language servers in editors)."""
    import json

    from shapecli.schema import spec_schema

    sys.stdout.write(json.dumps(spec_schema(), indent=2) + "\n")


class _progress:
    """A rich progress bar on stderr for big specs, only when stderr is a terminal; else a no-op."""

    THRESHOLD = 500  # layers: smaller specs finish before a bar would be worth drawing

    def __init__(self, total: int, what: str):
        self.total, self.what, self.bar = total, what, None

    def __enter__(self):
        if self.total < self.THRESHOLD or not sys.stderr.isatty():
            return None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bar = Progress(TextColumn(self.what), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=Console(file=sys.stderr), transient=True)
        self.bar.start()
        task = self.bar.add_task(self.what, total=self.total)
        return lambda done, total: self.bar.update(task, completed=done, total=total)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()


def _output_path(path: str, kind: str) -> str:
    """An export path the user named: written atomically; an existing file is replaced only if it is one of ours."""
    suffixes = {"html": (".html", ".htm"), "svg": (".svg",)}[kind]
    if os.path.isdir(path):
        raise UsageError(f"--{kind} {path}: is a directory")
    if os.path.exists(path) and not path.lower().endswith(suffixes):
        raise UsageError(f"--{kind} {path}: exists and is not a .{kind} file; refusing to overwrite it")
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


def _err(line: str) -> None:
    from shapecli.errors import literal

    sys.stderr.write(literal(line, 400) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Entry point: the one place that turns exceptions into exit codes."""
    code = _invoke(argv)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    return code


def _click_exception() -> type:
    try:  # typer >= 0.20 vendors click
        from typer._click.exceptions import ClickException
    except ImportError:
        from click import ClickException
    return ClickException


def _invoke(argv) -> int:
    cmd = typer.main.get_command(app)
    try:
        rv = cmd.main(args=argv if argv is not None else sys.argv[1:], prog_name="shapecli", standalone_mode=False)
        return int(rv) if isinstance(rv, int) else 0
    except typer.Exit as e:
        return e.exit_code
    except _click_exception() as e:  # a bad option or argument: one line, like every other problem
        if type(e).__name__ == "NoArgsIsHelpError":
            e.show()  # `shapecli` alone: the help text
            return ExitCode.INVALID
        ctx = getattr(e, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        _err(f"error: {e.format_message()}{hint}")
        return ExitCode.INVALID
    except typer.Abort:
        sys.stderr.write("interrupted\n")
        return 130
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:
        _quiet_pipe()
        return ExitCode.OK
    except ShapeCliError as e:
        if _state["debug"]:
            import traceback

            traceback.print_exc()
        for p in e.problems:
            _err(str(p))
        return e.exit_code
    except Exception as e:  # a bug: never exit 1, which CI reads as "check failed"
        if _state["debug"]:
            import traceback

            traceback.print_exc()
        _err(f"shapecli: internal error: {type(e).__name__}: {e} (run with --debug for the traceback; please report it)")
        return ExitCode.INTERNAL


def _quiet_pipe() -> None:
    """stdout's reader went away (`| head`): stop quietly, without a second error at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


def run() -> None:
    """Console-script entry: exit without Python's slow teardown once output is flushed."""
    import gc

    gc.set_threshold(50_000, 20, 100)  # a short-lived process: the default (700, 10, 10) spent ~25% of a 10,000-layer run in GC
    # One intra-op thread unless the user asks (read when torch is imported, later): on shared 2-4 core machines
    # OpenMP's barrier waits made ResNet-50's run 4-8x slower; OMP_NUM_THREADS=N overrides. docs/performance.md
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    code = main()
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except (BrokenPipeError, OSError):
            _quiet_pipe()
    os._exit(int(code))


from shapecli.cli import check as cli_check  # noqa: E402,F401  (registers snapshot, check)
from shapecli.cli import export as cli_export  # noqa: E402,F401  (registers export)
