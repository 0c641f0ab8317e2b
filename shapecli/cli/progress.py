"""The one progress bar: on stderr, only when stderr is a terminal and the work is big enough."""
from __future__ import annotations

import contextlib
import sys


@contextlib.contextmanager
def progress(what: str, threshold: int):
    """Yields the callback the library takes, `(done, total, label=None)`: a transient rich bar
    starts on the first call whose total reaches `threshold` (smaller jobs finish before a bar is
    worth drawing); `label` replaces the bar's text (the spec being checked)."""
    if not _isatty(sys.stderr):
        yield None
        return
    state: dict = {}

    def update(done: int, total: int, label: str | None = None) -> None:
        if "bar" not in state:
            if total < threshold:
                return
            state["bar"], state["task"] = _start(what, total)
        from shapecli.errors import literal

        state["bar"].update(state["task"], completed=done, total=total,
                            description=literal(label, 60) if label else None)

    try:
        yield update
    finally:
        if "bar" in state:
            state["bar"].stop()


def _start(what: str, total: int):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from shapecli.render.terminal import console

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=console(sys.stderr), transient=True)
    bar.start()
    return bar, bar.add_task(what, total=total)


def _isatty(f) -> bool:
    try:
        return f.isatty()
    except (AttributeError, ValueError):
        return False
