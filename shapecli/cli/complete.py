"""Shell completion (bash, zsh, fish): typer's scripts (`--show-completion`, `--install-completion`)
call `shapecli` back with `_SHAPECLI_COMPLETE=complete_SHELL` and the words typed so far; this
module answers with the candidates: commands and options (click's), spec files, layer names,
and the values of the options that take a word from a list.

Torch-free and rich-free: layer names come from the catalog (shapecli/layers), so a Tab costs
the interpreter's start-up and the CLI's imports, nothing else.
"""
from __future__ import annotations

import os

COMPLETE_VAR = "_SHAPECLI_COMPLETE"  # click's and typer's name for the `shapecli` program
SPEC_SUFFIXES = (".yaml", ".yml")
DEVICES = ("auto", "cpu", "meta")


def answer(cmd, instruction: str) -> int:
    """Print the candidates for the shell's request (typer's protocol); the exit status the script expects."""
    from typer.completion import shell_complete

    try:
        return shell_complete(cmd, {}, "shapecli", COMPLETE_VAR, instruction)
    except SystemExit as e:  # fish's "is-args": 0 = candidates (no file names), 1 = none (let fish list files)
        return e.code if isinstance(e.code, int) else 0


def spec_files(incomplete: str) -> list[str]:
    """Folders (ending in /) and *.yaml/*.yml files that start with `incomplete`; a lone folder is opened,
    so that a shell inserts its name and offers what is inside without a space after it."""
    found = _entries(incomplete)
    seen = set()
    while len(found) == 1 and found[0].endswith("/") and found[0] not in seen:
        seen.add(found[0])
        inside = _entries(found[0])
        if not inside:
            break
        found = inside
    return found


def _entries(incomplete: str) -> list[str]:
    folder, _, prefix = incomplete.rpartition("/")
    base = folder + "/" if folder or incomplete.startswith("/") else ""
    where = os.path.expanduser(base) if base else "."
    try:
        names = sorted(os.listdir(where))
    except OSError:
        return []
    out = []
    for n in names:
        if not n.startswith(prefix) or (n.startswith(".") and not prefix.startswith(".")):
            continue
        full = os.path.join(where, n)
        if os.path.isdir(full):
            out.append(base + n + "/")
        elif n.endswith(SPEC_SUFFIXES):
            out.append(base + n)
    return out


def layer_names(incomplete: str) -> list[str]:
    """Layer types (and aliases such as LazyLinear) that start with `incomplete` (typer keeps only those)."""
    from shapecli import layers

    return [n for n in layers.known_names() + sorted(layers.ALIASES) if n.startswith(incomplete)]


def _choices(values) -> callable:
    def complete(incomplete: str) -> list[str]:
        return [v for v in values if v.startswith(incomplete)]

    return complete


def inspect_formats(incomplete: str) -> list[str]:
    from shapecli.render import FORMATS

    return [f for f in FORMATS if f.startswith(incomplete)]


def check_formats(incomplete: str) -> list[str]:
    from shapecli.render.diff import FORMATS

    return [f for f in FORMATS if f.startswith(incomplete)]


def dtypes(incomplete: str) -> list[str]:
    """--dtype takes a comma-separated list: complete its last name."""
    from shapecli import dtypes as table

    head, comma, last = incomplete.rpartition(",")
    lead = head + comma
    return [lead + d for d in (*table.ESTIMATE, *sorted(table.ALIASES)) if d.startswith(last)]


devices = _choices(DEVICES)
