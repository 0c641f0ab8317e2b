"""The command line: parse options, call the library, render, exit. Nothing else.

Exit codes (errors.ExitCode): 0 ok · 1 a check found a shape regression (or a warning under
--strict) · 2 invalid spec, input, command line or baseline · 3 internal error (a bug).
Neither torch nor rich's table code is imported at module level, so `--help` is instant.
"""
from __future__ import annotations

import os
import sys

import typer

from shapecli import __version__
from shapecli.cli.complete import COMPLETE_VAR
from shapecli.cli.options import err as _err
from shapecli.errors import ExitCode, ShapeCliError

app = typer.Typer(
    name="shapecli",
    help="Inspect the shapes of a PyTorch network written as a YAML spec (deferred initialization).\n\n"
    "Exit codes: 0 ok, 1 shape regression (check) or warning under --strict, 2 invalid input, 3 internal error.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion, --show-completion (bash, zsh, fish): cli/complete.py
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


def main(argv: list[str] | None = None) -> int:
    """Entry point: the one place that turns exceptions into exit codes."""
    from shapecli.cli.encoding import ascii_streams

    with ascii_streams():
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
    args = list(argv if argv is not None else sys.argv[1:])
    if COMPLETE_VAR in os.environ:  # the shell asks for candidates (the scripts of --show-completion)
        from shapecli.cli.complete import answer

        return answer(cmd, os.environ[COMPLETE_VAR])
    try:  # click's main() without its handlers: typer's turns Ctrl-C into a silent exit 130
        with cmd.make_context("shapecli", args) as ctx:
            rv = cmd.invoke(ctx)
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
        sys.stderr.write("shapecli: interrupted\n")
        return 130
    except KeyboardInterrupt as e:  # Ctrl-C; cli/startup.py turns SIGTERM into startup.Terminated (143)
        sys.stderr.write(f"shapecli: {getattr(e, 'message', 'interrupted')}\n")
        return getattr(e, "exit_code", 130)
    except BrokenPipeError:
        from shapecli.cli.startup import quiet_pipe

        quiet_pipe()
        return ExitCode.OK
    except SystemExit as e:
        if type(sys.stdout).__name__ != "PacifyFlushWrapper":  # --show-completion, --install-completion
            return e.code if isinstance(e.code, int) else ExitCode.OK if e.code is None else ExitCode.INVALID
        # typer's Command.main turns a broken pipe (EPIPE) into sys.exit(1), even with standalone_mode=False,
        # after wrapping sys.stdout/stderr in click's PacifyFlushWrapper: `shapecli layers | head -1` exited 1
        # whenever head closed the pipe before the last write. The same quiet stop as a BrokenPipeError.
        sys.stdout, sys.stderr = sys.stdout.wrapped, getattr(sys.stderr, "wrapped", sys.stderr)
        from shapecli.cli.startup import quiet_pipe

        quiet_pipe()
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


def run() -> None:
    """Console-script entry: the CLI process's start-up speed-ups (cli/startup.py), main(), os._exit."""
    from shapecli.cli import startup

    startup.start()
    startup.finish(main())


# The commands, in the order `--help` lists them (each module defines plain functions; none imports this one).
from shapecli.cli import check as _check, export as _export, info as _info, inspect as _inspect  # noqa: E402

app.command()(_inspect.inspect)
app.command()(_info.layers)
app.command()(_info.schema)
app.command()(_check.snapshot)
app.command()(_check.check)
app.command()(_export.export)
