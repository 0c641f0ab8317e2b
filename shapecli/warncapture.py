"""Warnings raised on one thread during a library call, recorded or dropped, thread-safely.

`warnings.catch_warnings` is not thread-safe: it swaps the module-global `warnings.filters` and
`warnings.showwarning` and puts back what it saw on entry, so two overlapping calls on two
threads can leave the other's state behind for good, or take each other's warnings.

Here each thread keeps its own stack of sinks. While any thread has one, a single router is
installed (under a lock, counted): `warnings.showwarning` is the router and one "always" filter
heads `warnings.filters`, so every warning reaches the router whatever was shown before. The
router gives a warning raised on a thread with sinks to that thread's innermost sink that takes
it; a warning raised on any other thread is passed on by the filters as they were without ours
("ignore" drops it, "error" raises it, anything else shows it: while a call runs, a warning that
another thread's filters show once may show again). When the last sink closes, the filter is
removed and `showwarning` put back (where nobody replaced it meanwhile): nothing stays changed.
"""
from __future__ import annotations

import threading
import warnings
from contextlib import contextmanager

_lock = threading.Lock()
_stacks: dict = {}  # thread id -> [(records list | None, dropped substrings)], innermost last
_ALWAYS = ("always", None, Warning, None, 0)
_saved: list = []  # [showwarning as it was] while the router is installed


def _mutated() -> None:
    getattr(warnings, "_filters_mutated", lambda: None)()  # forget "already shown once" registries


def _route(message, category, filename, lineno, file=None, line=None):
    text = str(message)
    for records, drop in reversed(_stacks.get(threading.get_ident(), ())):
        if any(d in text for d in drop):
            return
        if records is not None:
            records.append(warnings.WarningMessage(message, category, filename, lineno, file, line))
            return
    action = _as_before(text, category, lineno)
    if action == "ignore":
        return
    if action == "error":
        raise message if isinstance(message, Warning) else category(message)
    show = _saved[0] if _saved else warnings._showwarning_orig
    show(message, category, filename, lineno, file, line)


def _as_before(text: str, category, lineno: int) -> str:
    """The action the filters without ours give (module patterns are not known here: skipped)."""
    for action, msg, cat, mod, ln in [f for f in warnings.filters if f is not _ALWAYS]:
        if (msg is None or msg.match(text)) and issubclass(category, cat) and mod is None and ln in (0, lineno):
            return action
    return warnings.defaultaction


@contextmanager
def _sink(records, drop: tuple):
    me = threading.get_ident()
    with _lock:
        if not _stacks:
            _saved[:] = [warnings.showwarning]
            warnings.showwarning = _route
            warnings.filters.insert(0, _ALWAYS)
            _mutated()
        _stacks.setdefault(me, []).append((records, drop))
    try:
        yield records
    finally:
        with _lock:
            stack = _stacks[me]
            stack.pop()
            if not stack:
                del _stacks[me]
            if not _stacks:
                if warnings.showwarning is _route:
                    warnings.showwarning = _saved[0]
                _saved.clear()
                if _ALWAYS in warnings.filters:
                    warnings.filters.remove(_ALWAYS)
                _mutated()


def capture(drop: tuple = ()):
    """Record every warning raised on this thread in the block (except those whose text contains
    one of `drop`): `with capture() as caught:` gives a list of warnings.WarningMessage."""
    return _sink([], tuple(drop))


def ignore(*texts: str):
    """Drop warnings raised on this thread in the block whose text contains one of `texts` (all
    warnings when none is given); others go where they would have gone."""
    return _sink(None if texts else [], texts)
