"""Which specs a command names (files, directories, globs) and where each one's baseline lives."""
from __future__ import annotations

import glob as _glob
import os
from dataclasses import dataclass
from pathlib import Path

from shapecli.baseline.document import SPEC_SUFFIXES, SUFFIX
from shapecli.errors import (
    UsageError,
    literal,
)
from shapecli.fileio import read_regular, write_atomic  # noqa: F401  (write_atomic: used by cli/check.py)

# ---------------------------------------------------------------------------- where baselines live

def default_path(spec_path: str) -> str:
    """configs/resnet50.yaml -> configs/resnet50.shapes.json; models/net.py:make -> models/net.make.shapes.json;
    pkg.mod:Net -> pkg.mod.Net.shapes.json (in the current directory)."""
    from shapecli.python.target import is_target, parse

    if is_target(spec_path):
        t = parse(spec_path)
        if t.is_file:
            return str(Path(t.module).with_suffix("").with_name(f"{Path(t.module).stem}.{t.attr}{SUFFIX}"))
        return f"{t.module}.{t.attr}{SUFFIX}"
    p = Path(spec_path)
    stem = p.name[: -len(p.suffix)] if p.suffix.lower() in SPEC_SUFFIXES else p.stem if p.suffix else p.name
    return str(p.with_name(stem + SUFFIX))


def is_dir_target(path: str) -> bool:
    """--out / --baseline names a directory: an existing one, or one written with a trailing slash."""
    return path.endswith(("/", os.sep)) or os.path.isdir(path)


def baseline_for(spec_path: str, target: str | None) -> str:
    """The baseline of `spec_path`: beside it, or in the directory `target`, or the file `target`."""
    if target is None:
        return default_path(spec_path)
    if is_dir_target(target):
        return os.path.join(target, os.path.basename(default_path(spec_path)))
    return target


def plan_targets(specs: list[str], target: str | None, flag: str) -> list[str]:
    """Baseline paths for several specs; a file target only fits one spec; no two specs share one."""
    if target is not None and len(specs) > 1 and not is_dir_target(target):
        raise UsageError(f"{flag} '{literal(target)}' names one file but there are {len(specs)} specs; "
                         f"give a directory ({flag} {literal(target)}/)")
    out = [baseline_for(s, target) for s in specs]
    seen: dict = {}
    for s, b in zip(specs, out):
        key = os.path.normcase(os.path.abspath(b))
        if key in seen:
            raise UsageError(f"'{literal(seen[key])}' and '{literal(s)}' would share the baseline '{literal(b)}'")
        seen[key] = s
    return out


@dataclass
class Target:
    """One spec to check, or one argument that named nothing checkable (error)."""

    spec: str
    error: str | None = None


def expand_specs(args: list[str]) -> list[Target]:
    """Files as given; directories: their *.yaml/*.yml files (not recursive); globs (** recurses).
    A Python target (MODULE:ATTR, FILE.py:ATTR) is taken as given; nothing here imports it.

    Baselines (*.shapes.json) and other files found in directories or by globs are left out.
    Order: as given, each directory or glob sorted; duplicates dropped.
    """
    out, seen = [], set()

    def add(p: str, error: str | None = None) -> None:
        key = os.path.normcase(os.path.abspath(p))
        if error is None and key in seen:
            return
        seen.add(key)
        out.append(Target(p, error))

    def specs_in(paths) -> list[str]:
        return sorted(p for p in paths if os.path.isfile(p) and Path(p).suffix.lower() in SPEC_SUFFIXES)

    from shapecli.python.target import is_target

    for a in args:
        if is_target(a):  # a model written in Python, named here (a walk or a glob never yields one)
            out.append(Target(a))
        elif a == "-":
            add(a, "check reads spec files; stdin has no baseline (use snapshot --out for a one-off)")
        elif os.path.isdir(a):
            found = specs_in(os.path.normpath(os.path.join(a, n)) for n in os.listdir(a))
            if not found:
                add(a, "the directory holds no *.yaml or *.yml spec")
            for p in found:
                add(p)
        elif os.path.lexists(a):
            add(a, "this is a baseline; name its spec" if a.endswith(SUFFIX) else None)
        elif any(c in a for c in "*?["):
            found = specs_in(os.path.normpath(p) for p in _glob.glob(a, recursive=True))
            if not found:
                add(a, "the pattern matches no *.yaml or *.yml spec")
            for p in found:
                add(p)
        else:
            add(a, "no such file")
    return out
