"""How a spec's problems are told: once for all repeated copies, naming the `--set` that caused them (no torch).

`repeat: 12` of a block with one bad value is one mistake, written once: it is reported once, with
the count and the copies' paths (`h.{0..11}.1.body.3`). A value that came from `--set d=abc` says so,
since the spec file itself may be right.
"""
from __future__ import annotations

import re

from shapecli.errors import Problem, literal

_LABEL = re.compile(r"^(.*) \(([^()]*)\)$")  # "h.0.1.body.3 (Linear)"
_NAMES = re.compile(r"\$\{([^}\n]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_COPIES = "repeated copies"


def condense(problems: list, text: str = "", file: str = "", sets: dict | None = None) -> list:
    """The problems with those of repeated copies merged, and `--set` named where it caused one."""
    groups: dict = {}
    order = []
    for p in problems:
        key = (p.message, p.loc)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(p)
    out = []
    for key in order:
        ps = groups[key]
        first = ps[0]
        message, layer, notes = first.message, first.layer, []
        if sets and "--set" not in message:
            notes += _from_set(first, text, file, sets)
        if len(ps) > 1 and _COPIES not in message:
            layers = [p.layer for p in ps if p.layer]
            span = _paths(layers) if len(set(layers)) > 1 else None
            if span:
                layer = span
            listed = "" if span or len(set(layers)) < 2 else ": " + ", ".join(
                (_LABEL.match(x).group(1) if _LABEL.match(x) else x) for x in layers[:3]) + (", …" if len(layers) > 3 else "")
            notes.append(f"reported once for {len(ps)} {_COPIES}{listed}")
        out.append(Problem(f"{message} ({'; '.join(notes)})" if notes else message, first.loc, layer))
    return out


def _paths(labels: list) -> str:
    """'h.{0..11}.1.body.3 (Linear)' for copies that differ in one index, else the first ones listed."""
    parsed = [_LABEL.match(x) for x in labels]
    kinds = {m.group(2) for m in parsed if m}
    paths = [m.group(1) if m else x for m, x in zip(parsed, labels)]
    kind = f" ({kinds.pop()})" if len(kinds) == 1 and all(parsed) else ""
    parts = [p.split(".") for p in paths]
    if len({len(p) for p in parts}) == 1:
        differ = [i for i in range(len(parts[0])) if len({p[i] for p in parts}) > 1]
        if len(differ) == 1 and all(p[differ[0]].isdigit() for p in parts):
            i = differ[0]
            nums = sorted({int(p[i]) for p in parts})
            span = f"{{{nums[0]}..{nums[-1]}}}" if nums == list(range(nums[0], nums[-1] + 1)) else \
                "{" + ",".join(map(str, nums)) + "}"
            return ".".join(parts[0][:i] + [span] + parts[0][i + 1:]) + kind
    return None  # the message lists them; the layer part stays one path


def _from_set(p: Problem, text: str, file: str, sets: dict) -> list:
    """['from --set d=abc'] when the line at the problem's place refers to a variable given by --set
    and the message quotes that variable's value; else []."""
    if p.loc is None or p.loc.file != file or not p.loc.line or not text:
        return []
    lines = text.splitlines()
    if p.loc.line > len(lines):
        return []
    names = []
    for m in _NAMES.finditer(lines[p.loc.line - 1][(p.loc.col or 1) - 1:].split("#")[0]):
        names += _IDENT.findall(m.group(1)) if m.group(1) is not None else [m.group(2)]
    hits = [n for n in dict.fromkeys(names) if n in sets and str(sets[n]) in p.message]
    return [f"from {', '.join(f'--set {n}={literal(sets[n], 30)}' for n in hits)}"] if hits else []


def built_with_sets(problems: list, sets: dict) -> list:
    """A problem found while building or running (a constructor's refusal) that quotes a `--set` value as an
    argument (`embed_dim=7` for `--set d=7`) says so: the spec's own values may be right."""
    out = []
    for p in problems:
        hits = [n for n, v in (sets or {}).items() if "--set" not in p.message and type(v) in (int, float, str)
                and re.search(rf"(?:=|got ){re.escape(str(v))}(?![\w.])", p.message)]
        note = f" (from {', '.join(f'--set {n}={literal(sets[n], 30)}' for n in hits)})" if hits else ""
        out.append(Problem(p.message + note, p.loc, p.layer) if note else p)
    return out
