"""Progress bars on stderr (only when stderr is a terminal)."""
from __future__ import annotations

import contextlib
import sys


class layer_progress:
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


@contextlib.contextmanager
def spec_progress(n: int):
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
    from shapecli.render.table import console

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
