"""What a tensor holds: statistics, histogram, or a cheap sample of its init distribution.

`look` measures, histograms and lints one tensor in one go (one min/max pass).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

from shapecli._torch import nn, torch
from shapecli.analyses.init.predict import _resolve
from shapecli.analyses.init.lints import _is_weight, lint_tensor
from shapecli.report import Stats
from shapecli.spec.initschemes import InitScheme

_CHUNK = 1 << 22  # values per float64 chunk in measure()/histogram()
_BATCH_NUMEL = 1 << 18  # values per batch of look_many (its float64 and int64 copies: ~4 MiB)


# --------------------------------------------------------------------------------------------
# Measuring


def _empty_stats(source: str = "measured") -> Stats:
    return Stats(None, None, None, None, source=source)


def _minmax(flat: torch.Tensor) -> tuple[float, float, bool]:
    """(min, max) of the non-NaN values (nan, nan when there are none) and whether any is NaN."""
    lo, hi = (x.item() for x in torch.aminmax(flat))
    if not (math.isnan(lo) or math.isnan(hi)):
        return lo, hi, False
    lo, hi = math.inf, -math.inf
    for i in range(0, flat.numel(), _CHUNK):
        c = flat[i : i + _CHUNK]
        c = c[~torch.isnan(c)]
        if c.numel():
            cmin, cmax = torch.aminmax(c)
            lo, hi = min(lo, cmin.item()), max(hi, cmax.item())
    if lo > hi:
        return math.nan, math.nan, True
    return lo, hi, True


def _values(tensor: torch.Tensor) -> Optional[torch.Tensor]:
    """The tensor's values as a flat real tensor (bool/int as float), or None when it has none."""
    t = tensor.detach()
    if t.numel() == 0 or t.is_meta or t.is_complex():
        return None
    if not t.is_floating_point():
        t = t.to(torch.float64)
    return t.reshape(-1)


def measure(tensor: torch.Tensor, _minmax_of=None) -> Stats:
    """mean, population std (correction=0), min, max as Python floats, accumulated in float64.

    NaN/Inf do not crash: mean/std then are nan/inf, min/max are over the non-NaN values
    (nan when all are NaN). Empty or meta tensors (no values): all None.
    """
    flat = _values(tensor)
    if flat is None:
        return _empty_stats()
    n = flat.numel()
    lo, hi, any_nan = _minmax_of or _minmax(flat)
    if any_nan or not (math.isfinite(lo) and math.isfinite(hi)):
        mean = math.nan if any_nan else float(flat.sum(dtype=torch.float64).item()) / n
        return Stats(mean=mean, std=math.nan, min=lo, max=hi, source="measured")
    # Chan et al.'s pairwise merge of per-chunk (count, mean, M2), each chunk in float64.
    count, mean, m2 = 0, 0.0, 0.0
    for i in range(0, n, _CHUNK):
        c = flat[i : i + _CHUNK].to(torch.float64, copy=True)
        k = c.numel()
        cm = c.sum().item() / k
        c.sub_(cm)
        cm2 = c.mul_(c).sum().item()  # as look_many's rows: the same values, bit for bit (not torch.dot's order)
        delta = cm - mean
        tot = count + k
        mean += delta * k / tot
        m2 += cm2 + delta * delta * count * k / tot
        count = tot
    return Stats(mean=mean, std=math.sqrt(max(m2, 0.0) / count), min=lo, max=hi, source="measured")


@dataclass
class Look:
    """What one look at a parameter's values gives (see look())."""

    stats: Stats
    histogram: Optional[list]
    lints: list  # lint_tensor()'s diagnostics


def look(param_name: str, layer_path: Optional[str], tensor: torch.Tensor, *, histograms: bool = True,
         lint: bool = True) -> Look:
    """measure(), histogram() and lint_tensor() of one tensor, sharing its min/max pass."""
    t = tensor.detach()
    flat = _values(t)
    mm = _minmax(flat) if flat is not None else None
    stats = measure(t, mm)
    hist = histogram(t, _minmax_of=mm) if histograms else None
    return Look(stats, hist, lint_tensor(param_name, layer_path, t, stats) if lint else [])


def look_many(items: list, *, histograms: bool = True, lint: bool = True) -> list:
    """look() of each (param_name, layer_path, tensor) in `items`, the same Looks bit for bit, with the
    tensors of one shape and dtype measured together: a few torch ops for all of them instead of a dozen
    each (10,000 Linear layers: 20,000 small tensors). Only small CPU tensors gain: stack them first."""
    out: list = [None] * len(items)
    groups: dict = {}
    kinds = (torch.float32, torch.float64)
    for i, (_, _, t) in enumerate(items):
        if t.is_cpu and 0 < t.numel() <= _CHUNK and t.dtype in kinds:  # is_cpu: device.type costs ~0.3 µs
            key = (t.dtype, t.shape)
            group = groups.get(key)
            if group is None:
                group = groups[key] = []
            group.append(i)
    for (dtype, shape), idx in groups.items():
        if len(idx) < 2:
            continue
        per = max(2, _BATCH_NUMEL // max(math.prod(shape), 1))  # bounded copies: float64 values, int64 bins
        for j in range(0, len(idx), per):
            some = idx[j:j + per]
            x = torch.stack([items[i][2] for i in some]).detach().reshape(len(some), -1)
            for i, look_ in zip(some, _looks(x, shape, [items[i] for i in some], histograms, lint)):
                out[i] = look_
    for i, (name, layer, t) in enumerate(items):
        if out[i] is None:  # alone of its kind, not on the CPU, another dtype, or not finite: one by one
            out[i] = look(name, layer, t, histograms=histograms, lint=lint)
    return out


def _looks(x: torch.Tensor, shape: tuple, items: list, histograms: bool, lint: bool) -> list:
    """The Looks of the rows of `x` (k tensors of `shape`, flattened); None for a row with NaN or Inf,
    which look() takes one by one. Each value is what measure()/histogram()/lint_tensor() give for the row."""
    k, n = x.shape
    lo, hi = torch.aminmax(x, dim=1)
    lo, hi = lo.tolist(), hi.tolist()
    finite = [math.isfinite(a) and math.isfinite(b) for a, b in zip(lo, hi)]
    if not all(finite):  # measured without the rows that are not finite (those go one by one)
        keep = [r for r in range(k) if finite[r]]
        looks = iter(_looks(x[keep], shape, [items[r] for r in keep], histograms, lint) if keep else ())
        return [next(looks) if finite[r] else None for r in range(k)]
    x64 = x.to(torch.float64, copy=True)
    sums = x64.sum(dim=1)
    m2 = x64.sub_((sums / n)[:, None]).mul_(x64).sum(dim=1).tolist()  # as measure(): one chunk, (c - mean)²
    sums = sums.tolist()
    hists = _histograms(x, lo, hi) if histograms else None
    distinct = _first_column_distinct(x, shape) if lint else None
    out = []
    flat = len(shape) < 2  # no rows to compare: lint_tensor finds nothing in finite values
    for r, (total, dev, least, most, (name, layer, t)) in enumerate(zip(sums, m2, lo, hi, items)):
        cm = total / n
        st = Stats(0.0 + cm * n / n, math.sqrt(max(dev, 0.0) / n), least, most, "measured")
        rows_ok = distinct is not None and distinct[r]
        if not lint or (flat or not _is_weight(name) or (least != most and (shape[0] < 2 or rows_ok))):
            lints = []  # what lint_tensor finds in finite values: nothing here (the common case, without the call)
        else:
            lints = lint_tensor(name, layer, t.detach(), st, distinct_rows=rows_ok)
        out.append(Look(st, hists[r] if hists is not None else None, lints))
    return out


def _histograms(x: torch.Tensor, lo: list, hi: list, bins: int = 8) -> list:
    """histogram() of each row: torch.histc's own arithmetic ((v - min) * bins / (max - min), truncated,
    the maximum in the last bin), in the rows' dtype; a constant row in the middle bin."""
    k, n = x.shape
    low = torch.tensor(lo, dtype=x.dtype)[:, None]
    width = torch.tensor(hi, dtype=x.dtype)[:, None] - low
    same = width == 0
    pos = ((x - low) * bins / torch.where(same, torch.ones_like(width), width)).to(torch.int64).clamp_(max=bins - 1)
    pos.masked_fill_(same, bins // 2)
    pos += torch.arange(k)[:, None] * bins
    return torch.bincount(pos.reshape(-1), minlength=k * bins).reshape(k, bins).tolist()


def _first_column_distinct(x: torch.Tensor, shape: tuple) -> list | None:
    """Per row of `x`: whether no two rows of the tensor (dim 0 of `shape`) start with the same value, the
    first test of lint_tensor's duplicate-rows check (which then needs nothing more); None where it does
    not apply."""
    if len(shape) < 2 or shape[0] < 2:
        return None
    rows = shape[0]
    first = x.reshape(len(x), rows, -1)[:, :, 0] + 0.0  # -0.0 becomes 0.0, as _duplicate_rows compares
    ordered = first.sort(dim=1).values
    return (ordered[:, 1:] != ordered[:, :-1]).all(dim=1).tolist()


def sample(
    shape: Sequence[int],
    module: Optional[nn.Module] = None,
    local_name: str = "weight",
    scheme: Optional[InitScheme] = None,
    max_numel: int = 1_000_000,
    seed: int = 0,
) -> Optional[torch.Tensor]:
    """Up to `max_numel` values drawn from the distribution the parameter is initialized from
    (a float32 1-D tensor), from a private generator (the global RNG is untouched); None when
    the distribution is unknown. Orthogonal is approximated by a normal of the same std."""
    shape = [int(s) for s in shape]
    _, dist, _ = _resolve(module, local_name, shape, scheme)
    numel = math.prod(shape)
    if dist is None or numel == 0:
        return None
    gen = torch.Generator().manual_seed(seed)
    return dist.sample(min(numel, int(max_numel)), gen)


def sampled_measure(
    shape: Sequence[int],
    module: Optional[nn.Module] = None,
    local_name: str = "weight",
    scheme: Optional[InitScheme] = None,
    max_numel: int = 1_000_000,
    seed: int = 0,
) -> Optional[Stats]:
    """measure() of sample(...): statistics of a huge (or meta) tensor's init, with
    source="sampled"; None when the distribution is unknown. About 10 ms for 1M values."""
    s = sample(shape, module, local_name, scheme, max_numel, seed)
    if s is None:
        return None
    st = measure(s)
    st.source = "sampled"
    return st


def histogram(tensor: torch.Tensor, bins: int = 8, _minmax_of=None) -> list[int]:
    """Counts of the finite values in `bins` equal bins over [min, max] (NaN/Inf not counted).
    A constant tensor puts every value in the middle bin; no finite values: all zeros."""
    counts = [0] * max(bins, 0)
    flat = _values(tensor)
    if flat is None or bins <= 0:
        return counts
    lo, hi, any_nan = _minmax_of or _minmax(flat)
    clean = not any_nan and math.isfinite(lo) and math.isfinite(hi)
    if not clean:  # the range of the finite values
        lo, hi = math.inf, -math.inf
        for i in range(0, flat.numel(), _CHUNK):
            c = flat[i : i + _CHUNK]
            c = c[torch.isfinite(c)]
            if c.numel():
                cmin, cmax = torch.aminmax(c)
                lo, hi = min(lo, cmin.item()), max(hi, cmax.item())
        if lo > hi:
            return counts
    if clean and lo < hi and flat.numel() <= _CHUNK and flat.dtype in (torch.float32, torch.float64):
        return [int(x) for x in torch.histc(flat, bins=bins, min=lo, max=hi).tolist()]  # one chunk: as below
    total = torch.zeros(bins, dtype=torch.float64)
    for i in range(0, flat.numel(), _CHUNK):
        c = flat[i : i + _CHUNK]
        if c.dtype not in (torch.float32, torch.float64):
            c = c.to(torch.float32)  # histc counts in the input's dtype: exact in float32 per chunk
        if not clean:
            c = c[torch.isfinite(c)]
        if not c.numel():
            continue
        if lo == hi:
            total[bins // 2] += c.numel()
        else:
            total += torch.histc(c, bins=bins, min=lo, max=hi).to(torch.float64)
    return [int(x) for x in total.tolist()]
