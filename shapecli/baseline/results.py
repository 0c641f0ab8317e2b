"""The result of checking one spec against its baseline, and the totals and exit code of a run."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from shapecli.baseline.document import SCHEMA_VERSION
from shapecli.errors import (
    Loc,
    Problem,
    ShapeCliError,
)
from shapecli.fileio import read_regular, write_atomic  # noqa: F401  (write_atomic: used by cli/check.py)

# ---------------------------------------------------------------------------- a check's outcome

@dataclass
class Result:
    """One spec's outcome. status: "ok" | "changed" | "error" | "skipped"."""

    spec: str
    baseline: str | None
    status: str
    name: str | None = None
    changes: list = field(default_factory=list)  # [Change]
    old_totals: dict | None = None
    new_totals: dict | None = None
    errors: list = field(default_factory=list)  # [Problem]
    written: str | None = None  # "created" | "updated" | "refreshed" (--update)
    notes: list = field(default_factory=list)  # [str]
    mismatch: str | None = None  # the baseline was recorded for another name/spec/input: said first

    @classmethod
    def failed(cls, spec: str, baseline: str | None, error: ShapeCliError | str) -> "Result":
        probs = [Problem(error, Loc(spec))] if isinstance(error, str) else list(error.problems)
        # a problem without a place gets the spec's name: with many specs, "error: ..." alone says too little
        probs = [p if p.loc is not None or p.message.startswith(spec + ":") else Problem(p.message, Loc(spec), p.layer)
                 for p in probs]
        return cls(spec, baseline, "error", errors=probs)

    def to_dict(self) -> dict:
        d = {"spec": self.spec, "baseline": self.baseline, "status": self.status, "name": self.name,
             "written": self.written, "changes": [], "totals": None, "errors": [],
             "notes": ([self.mismatch] if self.mismatch else []) + list(self.notes)}
        for c in self.changes:
            e = asdict(c)
            e["message"] = c.message()
            d["changes"].append(e)
        if self.old_totals is not None and self.new_totals is not None:
            d["totals"] = totals_delta(self.old_totals, self.new_totals)
        for p in self.errors:
            d["errors"].append({"message": p.message, "file": p.loc.file if p.loc else None,
                                "line": p.loc.line if p.loc else None, "col": p.loc.col if p.loc else None,
                                "layer": p.layer, "text": str(p)})
        return d


def total_bytes(t: dict) -> int:
    return t["param_bytes"] + t["buffer_bytes"]


def totals_delta(old: dict, new: dict) -> dict:
    out = {}
    for k, (a, b) in {"params": (old["params"], new["params"]), "trainable": (old["trainable"], new["trainable"]),
                      "buffers": (old["buffers"], new["buffers"]),
                      "bytes": (total_bytes(old), total_bytes(new))}.items():
        out[k] = {"old": a, "new": b, "delta": b - a}
    return out


def exit_code(results: list) -> int:
    """2 if any spec or baseline could not be checked; else 1 if any architecture changed (and its
    baseline was not rewritten by --update); else 0."""
    if any(r.status == "error" for r in results):
        return 2
    if any(r.status == "changed" and not r.written for r in results):
        return 1
    return 0


def summary(results: list) -> dict:
    s = {"checked": len(results)}
    for k in ("ok", "changed", "error", "skipped"):
        s[k] = sum(r.status == k for r in results)
    s["written"] = sum(r.written is not None for r in results)
    return s


def check_document(results: list) -> dict:
    """The `check --format json` document."""
    return {"kind": "shapecli-check", "schema_version": SCHEMA_VERSION, "exit_code": exit_code(results),
            "summary": summary(results), "specs": [r.to_dict() for r in results]}
