"""Input dimensions as the user writes them: `2,3,224,224`, `B,3,H=224,W=32..1024`.

Torch-free: parsed while reading a spec or the command line. A named dimension (`H`) is free:
the concrete pass uses its sample size, the symbolic pass (symbolic/) keeps it as a symbol.
"""
from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from typing import Optional, Sequence

from shapecli.errors import UsageError, literal

__all__ = ["Dim", "parse_dims", "unify_dims"]

_MAX_SIZE = 2**31 - 1
_DEFAULT_FIRST = 2  # sample for a bare name in the first position (the batch, usually)
_DEFAULT_OTHER = 32  # sample for a bare name elsewhere, when the spec gives no default


@dataclass
class Dim:
    """One input dimension, as the user wrote it."""

    name: Optional[str]  # "B", "H"; None for a fixed size
    size: int  # the sample value used for the concrete pass
    lo: Optional[int] = None  # optional range (inclusive)
    hi: Optional[int] = None

    def __str__(self) -> str:
        if self.name is None:
            return str(self.size)
        rng = ""
        if self.lo is not None or self.hi is not None:
            rng = f"{'' if self.lo is None else self.lo}..{'' if self.hi is None else self.hi}"
        return f"{self.name}={rng or self.size}"


def parse_dims(text: str, defaults: Optional[Sequence[int]] = None) -> list[Dim]:
    """Parse `--input` text: ``B,3,H=224,W=32..1024``.

    Items are separated by commas (spaces allowed, optional surrounding brackets):

    * ``3`` a fixed size (a positive integer);
    * ``H`` a named (free) size; its sample is ``defaults[i]`` (the spec's own input at that
      position) when given, else 2 in the first position and 32 elsewhere;
    * ``H=224`` a named size with sample 224;
    * ``H=32..1024`` a named size that may take any value in the range (either end may be left
      out: ``H=32..``); its sample is ``defaults[i]`` when that lies in the range, else the
      first power of two at least ``max(lo, 32)``, kept in the range;
    * ``H=224@32..1024`` both: a range and its sample.

    Names are identifiers; the same name may appear more than once (``N,N`` is a square). A
    named sample must be at least 2 (PyTorch treats sizes 0 and 1 specially; write ``1`` as a
    fixed size). Raises UsageError with a clear message on bad text.
    """
    if not isinstance(text, str):
        raise UsageError(f"--input: expected text like B,3,H,W, got {type(text).__name__}")
    s = text.strip()
    if s.startswith("[") and s.endswith("]"):
        s = s[1:-1].strip()
    shown = literal(text)
    if not s:
        raise UsageError(f"--input '{shown}': empty; expected sizes like B,3,H,W")
    hint = "expected a size like 3, a name like H, H=224, H=32..1024 or H=224@32..1024"
    dims: list[Dim] = []
    explicit_sample: dict[str, int] = {}
    explicit_range: dict[str, tuple] = {}
    for i, raw in enumerate(s.split(",")):
        item = raw.strip()
        where = f"--input '{shown}': item {i + 1}"
        if not item:
            raise UsageError(f"{where} is empty ({hint})")
        if re.fullmatch(r"[0-9]+", item):
            n = _parse_int(item, where)
            if n < 1:
                raise UsageError(f"{where}: a size must be a positive integer, got {item}")
            dims.append(Dim(None, n))
            continue
        name, eq, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not name.isidentifier() or keyword.iskeyword(name) or not name.isascii():
            raise UsageError(f"{where} '{literal(item)}': '{literal(name)}' is not a name or a positive integer ({hint})")
        default = None
        if defaults is not None and i < len(defaults):
            try:
                default = int(defaults[i])
            except (TypeError, ValueError):
                default = None
        if not eq:
            sample = default if default is not None and default >= 2 else (_DEFAULT_FIRST if i == 0 else _DEFAULT_OTHER)
            dims.append(_defaulted(Dim(name, sample)))
            continue
        if not value:
            raise UsageError(f"{where} '{literal(item)}': nothing after '=' ({hint})")
        m = re.fullmatch(r"(?:([0-9]+)\s*@\s*)?([0-9]*)\s*\.\.\s*([0-9]*)", value)
        if m:
            given = _parse_int(m.group(1), where) if m.group(1) else None
            lo = _parse_int(m.group(2), where) if m.group(2) else None
            hi = _parse_int(m.group(3), where) if m.group(3) else None
            if lo is None and hi is None:
                raise UsageError(f"{where} '{literal(item)}': a range needs at least one end, like {name}=32..1024")
            if lo is not None and lo < 1:
                raise UsageError(f"{where} '{literal(item)}': the range must start at 1 or more")
            if hi is not None and hi < 2:
                raise UsageError(f"{where} '{literal(item)}': the range must reach 2 or more (sizes 0 and 1 are fixed sizes, not names)")
            if lo is not None and hi is not None and lo > hi:
                raise UsageError(f"{where} '{literal(item)}': empty range ({lo} > {hi})")
            if name in explicit_range and explicit_range[name] != (lo, hi):
                raise UsageError(f"--input '{shown}': {name} is given two different ranges")
            explicit_range[name] = (lo, hi)
            lo2, hi2 = max(lo or 2, 2), hi if hi is not None else _MAX_SIZE
            if given is not None:  # H=224@32..1024: sample and range
                if given < 2:
                    raise UsageError(f"{where} '{literal(item)}': a named size needs a sample of at least 2")
                if not ((lo is None or given >= lo) and (hi is None or given <= hi)):
                    raise UsageError(f"{where} '{literal(item)}': the sample {given} is outside the range")
                if name in explicit_sample and explicit_sample[name] != given:
                    raise UsageError(f"--input '{shown}': {name} is given two samples ({explicit_sample[name]} and {given})")
                explicit_sample[name] = given
                dims.append(Dim(name, given, lo, hi))
                continue
            sample = default if default is not None and lo2 <= default <= hi2 else _range_sample(lo2, hi2)
            dims.append(_defaulted(Dim(name, sample, lo, hi)))
            continue
        if re.fullmatch(r"[0-9]+", value):
            n = _parse_int(value, where)
            if n < 2:
                raise UsageError(
                    f"{where} '{literal(item)}': a named size needs a sample of at least 2 (PyTorch "
                    f"special-cases 0 and 1); write {n} as a fixed size instead"
                )
            if name in explicit_sample and explicit_sample[name] != n:
                raise UsageError(f"--input '{shown}': {name} is given two samples ({explicit_sample[name]} and {n})")
            explicit_sample[name] = n
            dims.append(Dim(name, n))
            continue
        raise UsageError(f"{where} '{literal(item)}': bad value '{literal(value)}' ({hint})")
    # one name, one dimension: share the explicit sample and range among its occurrences
    for d in dims:
        if d.name is None:
            continue
        if d.name in explicit_range:
            d.lo, d.hi = explicit_range[d.name]
        if d.name in explicit_sample:
            d.size = explicit_sample[d.name]
            d.__dict__.pop("_defaulted", None)
        if d.lo is not None and d.size < d.lo or d.hi is not None and d.size > d.hi:
            if d.name in explicit_sample:
                raise UsageError(f"--input '{shown}': the sample {d.name}={d.size} is outside its range {d}")
            d.size = _range_sample(max(d.lo or 2, 2), d.hi if d.hi is not None else _MAX_SIZE)
    firsts: dict[str, int] = {}
    for d in dims:  # bare repeats take the first occurrence's sample
        if d.name is not None:
            d.size = firsts.setdefault(d.name, d.size)
    return dims


def _defaulted(d: Dim) -> Dim:
    """Marks a sample shapecli chose (not the user): another input's explicit one wins."""
    d._defaulted = True
    return d


def _range_sample(lo: int, hi: int) -> int:
    """A sample for a range without one: the first power of two >= max(lo, 32), kept in range
    (the smallest sizes are the ones most likely to be too small for some layer)."""
    x = 1 << (max(lo, _DEFAULT_OTHER) - 1).bit_length()
    return max(lo, min(x, hi))


def _parse_int(digits: str, where: str) -> int:
    if len(digits) > 12:
        raise UsageError(f"{where}: {literal(digits, 20)} is too large")
    n = int(digits)
    if n > _MAX_SIZE:
        raise UsageError(f"{where}: {n} is too large (at most {_MAX_SIZE})")
    return n


def unify_dims(dim_lists: Sequence[Sequence]) -> list[list[Dim]]:
    """One name is one size across all inputs: returns copies where every occurrence of a name
    has the same sample and range. A sample or range the user wrote wins over one shapecli
    chose (parse_dims marks those); two different ones are a UsageError. Plain ints become
    fixed Dims. Use the samples of the result for the concrete run too."""
    import copy

    def own(d):
        if isinstance(d, Dim):
            return copy.copy(d)
        if hasattr(d, "name") and hasattr(d, "size"):  # another Dim type (spec.Dim): same fields
            return Dim(d.name or None, d.size, getattr(d, "lo", None), getattr(d, "hi", None))
        if isinstance(d, bool) or not isinstance(d, int):
            raise UsageError(f"input size {d!r} must be a positive integer or a Dim")
        return Dim(None, d)

    out = [[own(d) for d in dims] for dims in dim_lists]
    occurrences: dict[str, list] = {}
    for dims in out:
        for d in dims:
            if not isinstance(d.size, int) or isinstance(d.size, bool) or d.size < 1:
                raise UsageError(f"input size {d.size!r} of {d.name or 'a fixed dimension'} must be a positive integer")
            if d.name is not None:
                occurrences.setdefault(d.name, []).append(d)
    for name, ds in occurrences.items():
        explicit = {d.size for d in ds if not getattr(d, "_defaulted", False)}
        ranges = {(d.lo, d.hi) for d in ds if (d.lo, d.hi) != (None, None)}
        if len(explicit) > 1 or len(ranges) > 1:
            shown = ", ".join(str(d) if d.lo is not None or d.hi is not None else f"{d.name}={d.size}" for d in ds)
            raise UsageError(f"{name} is given two different sizes or ranges ({shown})")
        lo, hi = ranges.pop() if ranges else (None, None)
        if explicit:
            sample = explicit.pop()
        else:
            sample = ds[0].size
            if lo is not None and sample < lo or hi is not None and sample > hi:
                sample = _range_sample(max(lo or 2, 2), hi if hi is not None else _MAX_SIZE)
        if lo is not None and sample < lo or hi is not None and sample > hi:
            raise UsageError(f"the sample {name}={sample} is outside its range {lo or ''}..{hi or ''}")
        for d in ds:
            d.size, d.lo, d.hi = sample, lo, hi
            if explicit:
                d.__dict__.pop("_defaulted", None)
    return out


