"""The terminal: the plain-text layout (render/text.py) in colour, drawn by rich. All of rich lives here.

Colour follows no-color.org: NO_COLOR set and non-empty turns it off; FORCE_COLOR set and non-empty
turns it on even on a pipe. On a terminal the table fits the terminal's width; on a pipe it keeps
its natural width, so nothing wraps.
"""
from __future__ import annotations

import os
import sys

from shapecli.render.text import styled_lines


def colour(tty: bool, environ=None) -> bool:
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR", ""):
        return False
    return tty or bool(env.get("FORCE_COLOR", ""))


def console(file=None, force_terminal: bool | None = None, width: int | None = None):
    """A rich Console for shapecli's other tables (check, layers): colour as colour() says."""
    from rich.console import Console

    file = file or sys.stdout
    tty = force_terminal if force_terminal is not None else _isatty(file)
    on = colour(tty)
    if not tty:
        width = width or 100_000  # never wrap when piped; a table keeps its natural width
    class _Console(Console):
        def on_broken_pipe(self) -> None:
            """rich's default raises SystemExit(1): `shapecli layers | head -1` exited 1 whenever head closed the
            pipe before the last write. Re-raised, the CLI stops quietly with exit 0, as for its own writes."""
            raise BrokenPipeError

    return _Console(file=file, force_terminal=on, width=width, no_color=not on, highlight=False, emoji=False,
                    soft_wrap=False, color_system="auto" if on else None, force_jupyter=False)


def _isatty(file) -> bool:
    try:
        return file.isatty()
    except (AttributeError, ValueError):
        return False


def _text(spans):
    from rich.text import Text

    t = Text(no_wrap=True, overflow="ignore")
    for style, s in spans:
        t.append(s, style=style or None)
    t.rstrip()
    return t


def renderable(report, width: int | None = None, **view_options):
    """A rich renderable of the report at this width (None: natural)."""
    from rich.console import Group

    from shapecli.view import build

    return Group(*(_text(line) for line in styled_lines(build(report, **view_options), width)))


def render(view, width: int | None = None) -> str:
    """The view with ANSI colour codes (as a terminal gets it)."""
    import io

    buf = io.StringIO()
    c = console(buf, force_terminal=True, width=width or 100_000)
    for line in styled_lines(view, width):
        c.print(_text(line), soft_wrap=True)
    return buf.getvalue()


def print_view(view, file=None, force_terminal=None, width=None) -> None:
    """On a terminal: in colour, fitted to its width. On a pipe: plain text at the natural width."""
    import shutil

    file = file or sys.stdout
    tty = force_terminal if force_terminal is not None else _isatty(file)
    fit = width if width is not None else (shutil.get_terminal_size().columns if tty else None)
    if not colour(tty):
        from shapecli.render.text import render as plain

        file.write(plain(view, fit))
        return
    from rich.console import Console

    c = Console(file=file, force_terminal=True, width=100_000, highlight=False, emoji=False, soft_wrap=True,
                force_jupyter=False, color_system="auto")
    for line in styled_lines(view, fit):
        c.print(_text(line), soft_wrap=True)


def print_report(report, file=None, force_terminal=None, width=None, exports: dict | None = None,
                 **view_options) -> None:
    """Print the report; `exports` maps "html"/"svg" to paths to save the same view to (at its natural width)."""
    from shapecli.view import build

    view = build(report, **view_options)
    print_view(view, file, force_terminal, width)
    if exports:
        from importlib import import_module

        from shapecli.fileio import mark_report, write_output
        from shapecli.render import FORMATS

        for kind, path in exports.items():  # marked: an existing file is replaced only if shapecli wrote it
            write_output(path, mark_report(import_module(FORMATS[kind]).render(view, None)), f"{kind.upper()} report")
