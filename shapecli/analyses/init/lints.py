"""Init lints: measured values outside sampling error (`flag`), and warnings about inits that cannot train."""
from __future__ import annotations

import functools
import math
from typing import Optional, Sequence

from shapecli import layers as layer_types
from shapecli._torch import torch
from shapecli.report import Diagnostic, InitInfo, Stats
from shapecli.spec.initschemes import InitScheme, calculate_gain

# flag(): how many standard errors a measured mean/std may be off before it is flagged.
# At k = 6 a correct init is flagged by chance about once in 5e8 checks.
FLAG_K = 6.0
# flag() skips the mean/std checks below this many values (bounds are still checked).
FLAG_MIN_NUMEL = 16
# lint_tensor(): duplicate-rows is checked only on weights up to this many values.
DUP_ROWS_MAX_NUMEL = 1 << 25
# lint_gain(): a scale mismatch of xavier/orthogonal is warned about from this many layers.
GAIN_MIN_LAYERS = 8
# lint_gain(): gains within this ratio count as matching.
GAIN_TOLERANCE = 1.15


# --------------------------------------------------------------------------------------------
# Flags: measured vs expected


_EPS = {  # by the Report's dtype names (dtypes.torch_name); "torch.float16" is read as "float16"
    "float64": 1e-12,
    "float32": 1e-6,
    "float16": 1e-3,
    "bfloat16": 8e-3,
}


def _g(x: float) -> str:
    return f"{x:.4g}"


def _is_uniform(std, least, most) -> bool:
    """Whether a distribution with this std and these bounds is a uniform one over them."""
    return (least is not None and most is not None and std is not None and most > least
            and math.isclose(std, (most - least) / math.sqrt(12), rel_tol=1e-9))


_finite = math.isfinite


def flag(measured: Optional[Stats], info: Optional[InitInfo], numel: int, *, dtype: Optional[str] = None, k: float = FLAG_K) -> list[str]:
    """Measured statistics outside what sampling error allows for `numel` values.

    - mean: |mean - μ| > k·σ/√n
    - std: |std - σ| > k·σ·√((κ-1)/(4n)), κ the kurtosis: 3 for normal-like (conservative for
      trunc_normal and orthogonal), 9/5 for uniform (the standard error of a sample std)
    - min/max outside the bounds of a bounded distribution (rounding to `dtype` allowed)
    - a normal's extreme values beyond what n draws reach with probability ~1e-9
    - constant inits: any value different from the constant
    Mean/std are skipped below FLAG_MIN_NUMEL values. Use on measured stats only (sampled stats
    agree by construction).
    """
    if measured is None or info is None or info.expected is None or not numel:
        return []
    e = info.expected
    if measured.mean is None or e.mean is None:
        return []
    mean, std, least, most = measured.mean, measured.std, measured.min, measured.max
    if std is None or least is None or most is None or not (_finite(mean) and _finite(std) and _finite(least)
                                                            and _finite(most)):
        return ["non-finite values (NaN or Inf)"]
    mu, sigma = e.mean, e.std or 0.0
    tol_abs, mean_tol, std_tol, below, above, normal = _limits(mu, sigma, e.min, e.max, int(numel), dtype, k)
    out: list[str] = []
    if sigma == 0.0:
        if abs(least - mu) > tol_abs or abs(most - mu) > tol_abs:
            out.append(f"expected every value to be {_g(mu)}, found values in [{_g(least)}, {_g(most)}]")
        return out
    n = int(numel)
    if mean_tol is not None:
        if abs(mean - mu) > mean_tol[0]:
            out.append(f"mean {_g(mean)}, expected {_g(mu)} ± {_g(mean_tol[1])} (n={n})")
        if abs(std - sigma) > std_tol[0]:
            out.append(f"std {_g(std)}, expected {_g(sigma)} ± {_g(std_tol[1])} (n={n})")
    if below is not None and least < below:
        out.append(f"min {_g(least)} below the bound {_g(e.min)}")
    if above is not None and most > above:
        out.append(f"max {_g(most)} above the bound {_g(e.max)}")
    if normal is not None:
        t, lo, hi = normal
        if least < lo or most > hi:
            out.append(f"values [{_g(least)}, {_g(most)}] beyond ±{t:.1f}σ of a normal({_g(mu)}, {_g(sigma)})")
    return out


@functools.lru_cache(maxsize=1024)  # a pure function of its numbers: a model's equal layers share one
def _limits(mu: float, sigma: float, least, most, n: int, dtype, k: float) -> tuple:
    """flag()'s thresholds for an expected distribution (mean, std, bounds) and n values: (the rounding
    tolerance, (mean limit, k·σ/√n) or None, (std limit, k·se) or None, the lowest and highest value
    allowed or None, (t, lowest, highest) of a normal or None), each computed as flag() compares it."""
    eps = _EPS.get((dtype or "float32").removeprefix("torch."), 1e-6)
    scale = max(abs(mu), abs(least or 0.0), abs(most or 0.0), sigma, 1e-30)
    tol_abs = eps * scale * 4  # rounding of the bound/value to the tensor's dtype
    if sigma == 0.0:
        return tol_abs, None, None, None, None, None
    mean_tol = std_tol = None
    if n >= FLAG_MIN_NUMEL:
        se_mean = sigma / math.sqrt(n)
        mean_tol = (k * se_mean + tol_abs, k * se_mean)
        kurt = 1.8 if _is_uniform(sigma, least, most) else 3.0
        se_std = sigma * math.sqrt((kurt - 1) / (4 * n))
        std_tol = (k * se_std + tol_abs, k * se_std)
    below = least - tol_abs if least is not None else None
    above = most + tol_abs if most is not None else None
    normal = None
    if least is None and most is None:
        # Normal: P(any of n draws beyond t·σ) = n·erfc(t/√2) ≤ 1e-9.
        t = _normal_extreme(n)
        normal = (t, mu - t * sigma - tol_abs, mu + t * sigma + tol_abs)
    return tol_abs, mean_tol, std_tol, below, above, normal


@functools.lru_cache(maxsize=1024)  # a pure function, 60 erfc calls: once per size (a model's normal weights share few)
def _normal_extreme(n: int, p: float = 1e-9) -> float:
    """t with n·erfc(t/√2) = p (bisection; t ≈ 6.1 at n = 1, 8.3 at n = 1e6)."""
    lo, hi = 0.0, 50.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if n * math.erfc(mid / math.sqrt(2)) > p:
            lo = mid
        else:
            hi = mid
    return hi


# --------------------------------------------------------------------------------------------
# Lints


def _is_weight(param_name: str) -> bool:
    leaf = param_name.rsplit(".", 1)[-1]
    return leaf.startswith("weight") or leaf.endswith("weight")


def _warn(code: str, message: str, layer: Optional[str], param: Optional[str]) -> Diagnostic:
    return Diagnostic(level="warning", code=code, message=message, layer=layer, param=param)


def lint_tensor(param_name: str, layer_path: Optional[str], tensor: torch.Tensor,
                stats: Optional[Stats] = None, distinct_rows: bool = False) -> list[Diagnostic]:
    """Warnings about one initialized parameter.

    - non-finite: NaN/Inf values (any parameter)
    - zero-init / constant-init: a weight (name starts or ends with "weight") with ≥ 2
      dimensions whose values are all zero / all equal. 1-D weights (norm scales, PReLU) and
      biases are not linted: ones, zeros and constants are normal there.
    - duplicate-rows: identical rows (dim 0) in a ≥ 2-D weight, checked up to DUP_ROWS_MAX_NUMEL.
    No values (meta) or integer tensors: nothing. `stats`, this tensor's measure(), saves two
    passes over it: a finite mean means no NaN/Inf, and min/max are known. `distinct_rows`: the
    caller found that no two rows start with the same value (stats.look_many), so none is a duplicate.
    """
    t = tensor.detach()
    if t.is_meta or t.numel() == 0 or not (t.is_floating_point() or t.is_complex()):
        return []
    out: list[Diagnostic] = []
    known = stats is not None and stats.source == "measured" and all(
        v is not None and math.isfinite(v) for v in (stats.mean, stats.min, stats.max))
    finite = None if known else torch.isfinite(t)
    if finite is not None and not bool(finite.all()):
        n_nan = int(torch.isnan(t).sum())
        n_inf = int((~finite).sum()) - n_nan
        parts = [f"{n_nan} NaN" if n_nan else "", f"{n_inf} Inf" if n_inf else ""]
        out.append(
            _warn(
                "non-finite",
                f"{' and '.join(p for p in parts if p)} value(s) of {t.numel()} at init: "
                "the first forward pass will produce NaN",
                layer_path,
                param_name,
            )
        )
        return out
    if t.dim() < 2 or not _is_weight(param_name) or t.is_complex():
        return out
    if known:
        lo, hi = stats.min, stats.max
    else:
        lo, hi = torch.aminmax(t.reshape(-1))
        lo, hi = lo.item(), hi.item()
    if lo == hi:
        if lo == 0:
            out.append(
                _warn(
                    "zero-init",
                    "all weights are zero: symmetry never breaks: every unit gets the same gradient "
                    "(and no gradient flows back through this layer)",
                    layer_path,
                    param_name,
                )
            )
        else:
            out.append(
                _warn(
                    "constant-init",
                    f"every weight is {lo:.4g}: symmetry never breaks: every unit gets the same gradient",
                    layer_path,
                    param_name,
                )
            )
        return out
    if t.shape[0] >= 2 and t.numel() <= DUP_ROWS_MAX_NUMEL and not distinct_rows:
        dup = _duplicate_rows(t.reshape(t.shape[0], -1))
        if dup:
            n_dup, first, second = dup
            out.append(
                _warn(
                    "duplicate-rows",
                    f"{n_dup} row(s) duplicate another (e.g. rows {first} and {second} are identical): "
                    "identical units get identical gradients and stay identical",
                    layer_path,
                    param_name,
                )
            )
    return out


def _duplicate_rows(m: torch.Tensor) -> Optional[tuple[int, int, int]]:
    """(number of rows equal to an earlier row, first pair) or None. Exact: rows are grouped by
    their first column (a 1-D sort), the few groups of two or more by a fingerprint of a few
    columns, and those rows are then compared in full."""
    rows, cols = m.shape
    if rows < 2 or cols == 0:
        return None
    first = m[:, 0] + 0.0  # -0.0 becomes 0.0: rows are compared by value
    if torch.unique(first).numel() == rows:  # the usual case for a random init: no two rows even start alike
        return None
    _, inverse, counts = torch.unique(first, return_inverse=True, return_counts=True)
    candidates = torch.nonzero(counts[inverse] >= 2).flatten()
    idx = torch.linspace(0, cols - 1, steps=min(cols, 8)).round().long().unique()
    fingerprint = m[candidates][:, idx] + 0.0
    _, inverse, counts = torch.unique(fingerprint, dim=0, return_inverse=True, return_counts=True)
    if int(counts.max()) < 2:
        return None
    n_dup, pair = 0, None
    for g in torch.nonzero(counts >= 2).flatten().tolist():
        members = candidates[torch.nonzero(inverse == g).flatten()]
        block = m[members]
        remaining = list(range(len(members)))
        # Partition the group into classes of identical rows.
        while len(remaining) > 1:
            ref = remaining[0]
            same = (block[remaining] == block[ref]).all(dim=1).tolist()
            cls = [r for r, s in zip(remaining, same) if s]
            if len(cls) > 1:
                n_dup += len(cls) - 1
                if pair is None:
                    pair = (int(members[cls[0]]), int(members[cls[1]]))
            remaining = [r for r, s in zip(remaining, same) if not s]
    if not n_dup:
        return None
    return n_dup, min(pair), max(pair)
def _ideal_gains(act: str) -> Optional[tuple[str, tuple[float, ...]]]:
    """(nonlinearity, the gains that preserve the signal's scale) of an activation type, from its
    record; None for a normalization (it resets the scale: any gain is fine) or an unknown gain."""
    lt = layer_types.REGISTRY.get(act)
    if lt is None or not isinstance(lt.gain, tuple) or not lt.gain:
        return None
    return lt.gain[0][0], tuple(calculate_gain(nl, param) for nl, param in lt.gain)


def _gain_of(scheme: InitScheme) -> Optional[float]:
    """The gain (std × √fan) an explicit scheme gives, or None when it is not a gain scheme."""
    a = scheme.args
    if scheme.name.startswith("kaiming"):
        return calculate_gain(a["nonlinearity"], a["a"])
    if scheme.name.startswith("xavier") or scheme.name == "orthogonal":
        return a["gain"]  # xavier: for fan_in ≈ fan_out
    return None


def lint_gain(layers: Sequence[tuple]) -> list[Diagnostic]:
    """Gain mismatches in a stack. `layers`: (path, type, weight_scheme or None, next_activation_type
    or None) for the weight layers along the stack, in order; next_activation_type is the type of
    the first layer after it that is an activation or a normalization (None when there is none).

    gain-mismatch warnings:
    - kaiming_* whose nonlinearity's gain differs (by more than GAIN_TOLERANCE) from the gain of
      the activation that follows (kaiming relu before Tanh, kaiming linear before ReLU): one
      warning per (scheme, activation) pair.
    - xavier_* / orthogonal before an activation whose gain it lacks (xavier before ReLU: std
      too small by √2 per layer), when at least GAIN_MIN_LAYERS layers of the stack do so: the
      scale of the activations then changes by ratio^layers.
    PyTorch's defaults (None/default) and fixed-std schemes are not linted; nor are layers
    followed by a normalization.
    """
    groups: dict[tuple, list] = {}
    for item in layers:
        path, typ, scheme, act = (list(item) + [None] * 4)[:4]
        gains = _ideal_gains(act) if scheme is not None and act is not None else None
        if gains is None:
            continue
        g = _gain_of(scheme)
        if g is None:
            continue
        act_nl, ideals = gains
        ratio = min((g / ideal for ideal in ideals), key=lambda r: abs(math.log(r)))
        if abs(math.log(ratio)) <= math.log(GAIN_TOLERANCE):
            continue
        groups.setdefault((scheme, act), []).append((path, typ, ratio, act_nl, ideals[0]))
    out: list[Diagnostic] = []
    for (scheme, act), members in groups.items():
        kaiming = scheme.name.startswith("kaiming")
        if not kaiming and len(members) < GAIN_MIN_LAYERS:
            continue
        path, _type, ratio, act_nl, ideal = members[0]
        n = len(members)
        where = f"{n} layers" if n > 1 else "this layer"
        more = ""
        if n > 1:
            more = " (layers " + ", ".join(str(m[0]) for m in members[:4]) + (", ..." if n > 4 else "") + ")"
        if kaiming:
            msg = (
                f"{scheme.describe()} is scaled for nonlinearity {scheme.args['nonlinearity']} "
                f"but {where} feed{'s' if n == 1 else ''} {act}: the activations' std changes ×{ratio:.2f} per layer; "
                f"use nonlinearity: {act_nl}"
            )
        else:
            total = ratio**n
            direction = "vanish" if total < 1 else "explode"
            msg = (
                f"{scheme.describe()} before {act} in {n} layers: std ×{ratio:.2f} per layer, "
                f"×{total:.3g} after {n} layers, so activations {direction}; use kaiming_normal "
                f"(nonlinearity: {act_nl}) or xavier with gain {ideal:.3g}"
            )
        out.append(_warn("gain-mismatch", msg + more, path, None))
    return out
