"""Errors and exit codes: the one vocabulary every stage uses to say what went wrong.

No torch, no rich here: errors are plain data that the CLI turns into one line each.
"""
from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field


class ExitCode(enum.IntEnum):
    OK = 0
    CHECK_FAILED = 1  # a shape regression (check), or a warning under --strict
    INVALID = 2  # invalid spec, command line, baseline or input file
    INTERNAL = 3  # a bug in shapecli: never confused with a failed check


@dataclass(frozen=True)
class Loc:
    """A position in a source file; line and col are 1-based."""

    file: str
    line: int | None = None
    col: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}:{self.col or 1}"


_MAX_ECHO = 80


def literal(text: object, limit: int = _MAX_ECHO) -> str:
    """User text made safe to echo: control characters escaped, long text truncated.

    Rich markup is neutralised where it is printed (we never print user text as markup).
    """
    s = str(text)
    if s.isprintable():  # nothing to escape (control, bidi and line-separator characters are not printable)
        return s if len(s) <= limit else s[: limit - 1] + "…"
    out = []
    for ch in s:
        o = ord(ch)
        if ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif o < 0x20 or 0x7F <= o < 0xA0 or o in (0x2028, 0x2029, 0x202E, 0x202D, 0x200F, 0x200E):
            out.append(f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}")
        else:
            out.append(ch)
    s = "".join(out)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def what(v: object, null: str = "null") -> str:
    """How a wrong value is named in a message ("got the number 3"): the one wording for every stage."""
    if v is None:
        return null
    if isinstance(v, bool):
        return f"the boolean {str(v).lower()}"
    if isinstance(v, (int, float)):
        return f"the number {v}"
    if isinstance(v, str):
        return f"the string '{literal(v, 40)}'"
    if isinstance(v, (list, tuple)):
        return "a list"
    if isinstance(v, dict):
        return "a mapping"
    return type(v).__name__


@dataclass
class Problem:
    """One thing wrong with an input, located as precisely as we know."""

    message: str
    loc: Loc | None = None
    layer: str | None = None  # e.g. "encoder.0 (Conv2d)"

    def __str__(self) -> str:
        where = f"{self.loc}: " if self.loc else ""
        what = f"layer {self.layer}: " if self.layer else ""
        return f"{where}error: {what}{self.message}"


class ShapeCliError(Exception):
    """An error in the user's input. Carries one or more problems; exit code 2."""

    exit_code = ExitCode.INVALID

    def __init__(self, problems: list[Problem] | Problem | str, loc: Loc | None = None, layer: str | None = None):
        if isinstance(problems, str):
            problems = [Problem(problems, loc, layer)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class SpecError(ShapeCliError):
    """The spec file is not valid (YAML, structure, types, names)."""


class ShapeError(ShapeCliError):
    """The spec is well-formed, but data of the given shape cannot flow through it."""


class UsageError(ShapeCliError):
    """A bad command-line value (e.g. --input 2,,20)."""


class BaselineError(ShapeCliError):
    """A baseline file is missing, unreadable or invalid."""


class OutputError(ShapeCliError):
    """An output file (--html, --svg) cannot be written: a read-only directory, a full disk, ..."""


@dataclass
class Collector:
    """Gathers every problem of a pass, so one run reports them all."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, message: str, loc: Loc | None = None, layer: str | None = None) -> None:
        self.problems.append(Problem(message, loc, layer))

    def raise_if_any(self, cls: type[ShapeCliError] = SpecError) -> None:
        if self.problems:
            raise cls(self.problems)


def did_you_mean(word: str, choices, n: int = 3) -> str:
    """' (did you mean X?)' or '' — difflib, case-insensitive first."""
    return _did_you_mean(word, tuple(choices), n)


@functools.lru_cache(maxsize=256)
def _did_you_mean(word: str, choices: tuple, n: int) -> str:
    # A pure function of its arguments, memoized: a misspelt name repeated by `repeat:` or a block is
    # compared with every layer name once, not once per copy (difflib costs ~1 ms per call).
    import difflib

    lower = {c.lower(): c for c in choices}
    if word.lower() in lower and lower[word.lower()] != word:
        return f" (did you mean {lower[word.lower()]}?)"
    close = difflib.get_close_matches(word, choices, n=n, cutoff=0.6)
    if not close:
        close = [lower[c] for c in difflib.get_close_matches(word.lower(), list(lower), n=n, cutoff=0.6)]
    if not close:
        return ""
    return " (did you mean " + " or ".join(close) + "?)"
