"""Initialization you can see and trust: apply schemes, predict and measure their statistics, lint.

- apply_scheme: a spec's scheme, applied with torch.nn.init's own functions (global RNG).
- expected: what a scheme's formula (or PyTorch's default for the layer) predicts: mean, std,
  bounds. Shape-only, so it works on the meta device (175B-parameter models).
- measure / sampled_measure / histogram: what the tensor holds (or a cheap sample of it);
  look: measure, histogram and lint_tensor of one tensor in one go.
- flag: measured values outside what sampling error allows (k = FLAG_K standard errors).
- lint_tensor / lint_gain: warnings (report.Diagnostic) about inits that cannot train well.

Typical use after materializing (see docs/init.md):
    apply_scheme(p, scheme)                       # if the spec names one
    stats = measure(p)                            # or sampled_measure(...) on meta
    info = expected(module, local_name, p.shape, scheme)
    info.flagged = flag(stats, info, p.numel(), dtype=str(p.dtype))
    diagnostics += lint_tensor(name, layer_path, p)
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Optional, Sequence

from ._torch import nn, torch
from .initschemes import InitScheme, calculate_gain
from .report import Diagnostic, InitInfo, Stats

# The defaults of shapecli's glue layers, as data: the glue modules apply exactly these in
# reset_parameters (apply_scheme(self.token, GLUE_DEFAULTS["ClassToken"]["token"])), and
# expected() predicts them. Keyed by class name so this module does not import the glue.
GLUE_DEFAULTS: dict[str, dict[str, InitScheme]] = {
    "ClassToken": {"token": InitScheme("zeros")},
    "PositionalEmbedding": {"weight": InitScheme("normal", (("std", 0.02),))},
}

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

_CHUNK = 1 << 22  # values per float64 chunk in measure()/histogram()


# --------------------------------------------------------------------------------------------
# Applying a scheme


def apply_scheme(tensor: torch.Tensor, scheme: InitScheme, generator: Optional[torch.Generator] = None) -> None:
    """Initialize `tensor` in place with `scheme`, drawing from the global RNG (the caller seeds).

    `default` does nothing: the layer's own reset_parameters already ran. Raises ValueError
    when a scheme that needs fan_in/fan_out (kaiming, xavier) or rows (orthogonal) is given a
    tensor with fewer than 2 dimensions.
    """
    name = scheme.name
    if name == "default":
        return
    if scheme.needs_2d and tensor.dim() < 2:
        raise ValueError(
            f"{scheme.describe()} needs a tensor with at least 2 dimensions "
            f"({'rows and columns' if name == 'orthogonal' else 'it uses fan_in and fan_out'}), "
            f"but this one has shape {list(tensor.shape)}; for 1-D parameters such as biases and "
            "norm scales use zeros, ones, constant, normal, uniform or trunc_normal"
        )
    a = scheme.args
    with torch.no_grad():
        if tensor.numel() == 0:
            return  # torch.nn.init warns that this is a no-op; it is
        g = {"generator": generator} if generator is not None else {}
        if name == "kaiming_uniform":
            nn.init.kaiming_uniform_(tensor, a=a["a"], mode=a["mode"], nonlinearity=a["nonlinearity"], **g)
        elif name == "kaiming_normal":
            nn.init.kaiming_normal_(tensor, a=a["a"], mode=a["mode"], nonlinearity=a["nonlinearity"], **g)
        elif name == "xavier_uniform":
            nn.init.xavier_uniform_(tensor, gain=a["gain"], **g)
        elif name == "xavier_normal":
            nn.init.xavier_normal_(tensor, gain=a["gain"], **g)
        elif name == "normal":
            nn.init.normal_(tensor, mean=a["mean"], std=a["std"], **g)
        elif name == "trunc_normal":
            with warnings.catch_warnings():
                # "mean is more than 2 std from [a, b]": torch's sampler is exact there too
                # (rejection from the bounds), and expected() predicts that distribution.
                warnings.filterwarnings("ignore", message="mean is more than 2 std")
                nn.init.trunc_normal_(tensor, mean=a["mean"], std=a["std"], a=a["a"], b=a["b"], **g)
        elif name == "uniform":
            nn.init.uniform_(tensor, a=a["a"], b=a["b"], **g)
        elif name == "orthogonal":
            nn.init.orthogonal_(tensor, gain=a["gain"], **g)
        elif name == "zeros":
            nn.init.zeros_(tensor)
        elif name == "ones":
            nn.init.ones_(tensor)
        elif name == "constant":
            nn.init.constant_(tensor, a["val"])
        else:  # pragma: no cover - initschemes.SCHEMES and this list are kept in step by tests
            raise ValueError(f"unknown init scheme {name!r}")


# --------------------------------------------------------------------------------------------
# Distributions: what a scheme (or a layer's default) draws from, as data


def fans(shape: Sequence[int]) -> tuple[Optional[int], Optional[int]]:
    """(fan_in, fan_out) as torch.nn.init._calculate_fan_in_and_fan_out; (None, None) below 2-D."""
    shape = [int(s) for s in shape]
    if len(shape) < 2:
        return None, None
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


@dataclass(frozen=True)
class Dist:
    """A distribution of values: uniform(lo, hi), normal(mean, std), trunc_normal(mean, std, lo, hi),
    constant(mean), orthogonal(std, bound = gain). `zero_frac`: a fraction of exact zeros mixed
    in (an Embedding's padding row)."""

    kind: str
    mean: float = 0.0
    std: float = 0.0
    lo: Optional[float] = None
    hi: Optional[float] = None
    zero_frac: float = 0.0

    def stats(self) -> Stats:
        m, s = self.mean, self.std
        if self.kind == "uniform":
            m, s = (self.lo + self.hi) / 2, (self.hi - self.lo) / math.sqrt(12)
        elif self.kind == "trunc_normal":
            m, s = _trunc_normal_moments(self.mean, self.std, self.lo, self.hi)
        lo, hi = self.lo, self.hi
        if self.kind == "constant":
            lo = hi = m
        if self.zero_frac:
            f = self.zero_frac
            m2 = (1 - f) * (s * s + m * m)
            m = (1 - f) * m
            s = math.sqrt(max(m2 - m * m, 0.0))
            if lo is not None:
                lo, hi = min(lo, 0.0), max(hi, 0.0)
        return Stats(mean=m, std=s, min=lo, max=hi, source="analytic")

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        t = torch.empty(n, dtype=torch.float32)
        if self.kind == "uniform":
            t.uniform_(self.lo, self.hi, generator=generator)
        elif self.kind == "normal":
            t.normal_(self.mean, self.std, generator=generator)
        elif self.kind == "trunc_normal":
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="mean is more than 2 std")
                nn.init.trunc_normal_(t, self.mean, self.std, self.lo, self.hi, generator=generator)
        elif self.kind == "orthogonal":
            # Entries of a large random orthogonal matrix are close to N(0, 1/max(rows, cols)).
            t.normal_(0.0, self.std, generator=generator).clamp_(self.lo, self.hi)
        else:
            t.fill_(self.mean)
        if self.zero_frac:
            t[: int(round(n * self.zero_frac))] = 0.0
        return t


def _phi(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi) if math.isfinite(x) else 0.0


def _trunc_normal_moments(mu: float, sigma: float, a: float, b: float) -> tuple[float, float]:
    """Mean and std of N(mu, sigma²) truncated to [a, b] (a, b absolute, as in torch)."""
    al, be = (a - mu) / sigma, (b - mu) / sigma
    flip = al > 0  # both bounds in the upper tail: mirror, so the tail sums stay accurate
    if flip:
        al, be = -be, -al
    # Z = Phi(be) - Phi(al), with Phi(x) = erfc(-x/√2)/2 (accurate in the lower tail)
    z = 0.5 * (math.erfc(-be / math.sqrt(2)) - math.erfc(-al / math.sqrt(2)))
    if z <= 1e-300:
        # Far in a tail: the mass sits in an exponential of scale 1/|be| next to the bound.
        s = min(1.0 / abs(be), be - al)
        m = be - s
    else:
        pa, pb = _phi(al), _phi(be)
        m = (pa - pb) / z
        ta = al * pa if math.isfinite(al) else 0.0
        tb = be * pb if math.isfinite(be) else 0.0
        var = 1.0 + (ta - tb) / z - m * m
        s = math.sqrt(max(var, 0.0))
    if flip:
        m = -m
    return mu + sigma * m, sigma * s


def _uniform(bound: float) -> Dist:
    return Dist("uniform", lo=-bound, hi=bound)


def _scheme_dist(scheme: InitScheme, shape: Sequence[int]) -> Optional[Dist]:
    """The distribution an explicit scheme draws from for a tensor of `shape` (None: default)."""
    name, a = scheme.name, scheme.args
    if name == "default":
        return None
    if name in ("zeros", "ones", "constant"):
        return Dist("constant", mean={"zeros": 0.0, "ones": 1.0}.get(name, a.get("val", 0.0)))
    if name == "normal":
        return Dist("normal", mean=a["mean"], std=a["std"])
    if name == "uniform":
        return Dist("uniform", lo=a["a"], hi=a["b"])
    if name == "trunc_normal":
        return Dist("trunc_normal", mean=a["mean"], std=a["std"], lo=a["a"], hi=a["b"])
    fan_in, fan_out = fans(shape)
    if fan_in is None:
        return None  # apply_scheme refuses these
    if name.startswith("kaiming"):
        fan = fan_in if a["mode"] == "fan_in" else fan_out
        std = calculate_gain(a["nonlinearity"], a["a"]) / math.sqrt(fan)
        return _uniform(math.sqrt(3.0) * std) if name == "kaiming_uniform" else Dist("normal", std=std)
    if name.startswith("xavier"):
        std = a["gain"] * math.sqrt(2.0 / float(fan_in + fan_out))
        return _uniform(math.sqrt(3.0) * std) if name == "xavier_uniform" else Dist("normal", std=std)
    if name == "orthogonal":
        rows = int(shape[0])
        cols = math.prod(int(s) for s in shape) // rows
        # (Semi-)orthogonal: the sum of squares is gain²·min(rows, cols) over rows·cols values.
        return Dist("orthogonal", std=a["gain"] / math.sqrt(max(rows, cols)), lo=-a["gain"], hi=a["gain"])
    return None


# A layer's default, described: (text for InitInfo.scheme, distribution, fan_in used or None)
_Default = tuple


def _shape_of(module: nn.Module, name: str) -> Optional[list]:
    p = getattr(module, name, None)
    if isinstance(p, torch.Tensor) and not isinstance(p, nn.parameter.UninitializedParameter):
        return list(p.shape)
    return None


def _linear_like(module: nn.Module, rel: str, shape: Sequence[int]) -> Optional[_Default]:
    """Linear and Conv*: weight kaiming_uniform(a=√5) = U(±1/√fan_in); bias U(±1/√fan_in(weight))."""
    if rel == "weight":
        fan_in, _ = fans(shape)
        return ("default (kaiming_uniform a=√5)", _uniform(1 / math.sqrt(fan_in)) if fan_in else Dist("constant"), fan_in)
    if rel == "bias":
        wshape = _shape_of(module, "weight")
        fan_in = fans(wshape)[0] if wshape else None
        if fan_in is None:
            return None
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        return ("default (U(±1/√fan_in))", _uniform(bound) if bound else Dist("constant"), fan_in)
    return None


def _module_rule(module: nn.Module, rel: str, shape: Sequence[int]) -> Optional[_Default]:
    """PyTorch's default init of parameter `rel` (relative to `module`), or None: not this module's."""
    name = type(module).__name__
    glue = GLUE_DEFAULTS.get(name)
    if glue is not None and rel in glue:
        s = glue[rel]
        return (f"default ({s.describe()})", _scheme_dist(s, shape), None)
    if isinstance(module, nn.Transformer):
        # Transformer._reset_parameters: xavier_uniform_ on every parameter with dim > 1.
        if len(shape) > 1:
            return ("default (xavier_uniform)", _scheme_dist(InitScheme("xavier_uniform"), shape), None)
        return None
    if isinstance(module, nn.MultiheadAttention):
        if rel in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
            return ("default (xavier_uniform)", _scheme_dist(InitScheme("xavier_uniform"), shape), None)
        if rel in ("in_proj_bias", "out_proj.bias"):
            return ("default (zeros)", Dist("constant"), None)
        if rel in ("bias_k", "bias_v"):
            return ("default (xavier_normal)", _scheme_dist(InitScheme("xavier_normal"), shape), None)
        return None  # out_proj.weight: the Linear's own default
    if isinstance(module, (nn.Linear, nn.modules.conv._ConvNd)):
        return _linear_like(module, rel, shape)
    if isinstance(module, nn.Bilinear):
        if rel in ("weight", "bias"):
            wshape = _shape_of(module, "weight") or (list(shape) if rel == "weight" else None)
            if wshape is None or len(wshape) < 2:
                return None
            bound = 1 / math.sqrt(wshape[1]) if wshape[1] > 0 else 0.0
            return ("default (U(±1/√in1_features))", _uniform(bound), wshape[1])
        return None
    if isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
        h = int(module.hidden_size)
        bound = 1.0 / math.sqrt(h) if h > 0 else 0.0
        return ("default (U(±1/√hidden_size))", _uniform(bound), None)
    norms = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)
    if isinstance(module, norms) or name == "RMSNorm":
        if rel == "weight":
            return ("default (ones)", Dist("constant", mean=1.0), None)
        if rel == "bias":
            return ("default (zeros)", Dist("constant"), None)
        return None
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        if rel == "weight":
            pad = getattr(module, "padding_idx", None)
            rows = int(shape[0]) if len(shape) else 0
            if pad is not None and rows > 0:
                return ("default (normal, padding_idx row zeros)", Dist("normal", std=1.0, zero_frac=1.0 / rows), None)
            return ("default (normal)", Dist("normal", std=1.0), None)
        return None
    if isinstance(module, nn.PReLU):
        if rel == "weight":
            v = float(module.init)
            return (f"default (constant {v!r})", Dist("constant", mean=v), None)
        return None
    return None


def _default(module: Optional[nn.Module], local_name: str, shape: Sequence[int]) -> Optional[_Default]:
    """Walk from `module` down to the parameter's owner; the outermost module with a rule wins
    (its reset runs last: nn.Transformer re-inits its children, MultiheadAttention zeroes
    out_proj.bias)."""
    if module is None:
        return None
    parts = local_name.split(".")
    mod: Optional[nn.Module] = module
    for i in range(len(parts)):
        rel = ".".join(parts[i:])
        rule = _module_rule(mod, rel, shape)
        if rule is not None:
            return rule
        if i == len(parts) - 1:
            break
        mod = mod._modules.get(parts[i]) if isinstance(mod, nn.Module) else None
        if mod is None:
            return None
    return None


def _resolve(module, local_name, shape, scheme) -> tuple[str, Optional[Dist], Optional[int]]:
    """(scheme text, distribution or None, fan_in used by a default's bias rule)."""
    if scheme is not None and scheme.name != "default":
        return scheme.describe(), _scheme_dist(scheme, shape), None
    rule = _default(module, local_name, shape)
    if rule is None:
        return "default", None, None
    return rule


def expected(
    module: Optional[nn.Module],
    local_name: str,
    shape: Sequence[int],
    scheme: Optional[InitScheme] = None,
) -> InitInfo:
    """What the init of parameter `local_name` of `module` predicts: InitInfo with
    expected=Stats(mean, std, min, max, source="analytic").

    `scheme` None or `default` means PyTorch's default for the module type. min/max are the
    bounds of a bounded distribution (uniform, trunc_normal, constant, orthogonal: ±gain);
    None for a normal (unbounded). Uses shapes only: works on the meta device. Unknown module
    type (default scheme): InitInfo("default", expected=None).
    """
    shape = [int(s) for s in shape]
    text, dist, bias_fan_in = _resolve(module, local_name, shape, scheme)
    fan_in, fan_out = fans(shape)
    if fan_in is None and bias_fan_in is not None:
        fan_in = bias_fan_in
    if dist is None or math.prod(shape) == 0:
        return InitInfo(scheme=text, fan_in=fan_in, fan_out=fan_out, expected=None)
    return InitInfo(scheme=text, fan_in=fan_in, fan_out=fan_out, expected=dist.stats())


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
        cm2 = torch.dot(c, c).item()
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


# --------------------------------------------------------------------------------------------
# Flags: measured vs expected


_EPS = {
    "torch.float64": 1e-12,
    "torch.float32": 1e-6,
    "torch.float16": 1e-3,
    "torch.bfloat16": 8e-3,
}


def _g(x: float) -> str:
    return f"{x:.4g}"


def _is_uniform(e: Stats) -> bool:
    return (
        e.min is not None
        and e.max is not None
        and e.std is not None
        and e.max > e.min
        and math.isclose(e.std, (e.max - e.min) / math.sqrt(12), rel_tol=1e-9)
    )


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
    out: list[str] = []
    if not all(v is not None and math.isfinite(v) for v in (measured.mean, measured.std, measured.min, measured.max)):
        return ["non-finite values (NaN or Inf)"]
    eps = _EPS.get(dtype or "torch.float32", 1e-6)
    mu, sigma = e.mean, e.std or 0.0
    scale = max(abs(mu), abs(e.min or 0.0), abs(e.max or 0.0), sigma, 1e-30)
    tol_abs = eps * scale * 4  # rounding of the bound/value to the tensor's dtype

    if sigma == 0.0:
        if abs(measured.min - mu) > tol_abs or abs(measured.max - mu) > tol_abs:
            out.append(
                f"expected every value to be {_g(mu)}, found values in [{_g(measured.min)}, {_g(measured.max)}]"
            )
        return out

    n = int(numel)
    if n >= FLAG_MIN_NUMEL:
        se_mean = sigma / math.sqrt(n)
        if abs(measured.mean - mu) > k * se_mean + tol_abs:
            out.append(f"mean {_g(measured.mean)}, expected {_g(mu)} ± {_g(k * se_mean)} (n={n})")
        kurt = 1.8 if _is_uniform(e) else 3.0
        se_std = sigma * math.sqrt((kurt - 1) / (4 * n))
        if abs(measured.std - sigma) > k * se_std + tol_abs:
            out.append(f"std {_g(measured.std)}, expected {_g(sigma)} ± {_g(k * se_std)} (n={n})")
    if e.min is not None and measured.min < e.min - tol_abs:
        out.append(f"min {_g(measured.min)} below the bound {_g(e.min)}")
    if e.max is not None and measured.max > e.max + tol_abs:
        out.append(f"max {_g(measured.max)} above the bound {_g(e.max)}")
    if e.min is None and e.max is None:
        # Normal: P(any of n draws beyond t·σ) = n·erfc(t/√2) ≤ 1e-9.
        t = _normal_extreme(n)
        lo, hi = mu - t * sigma, mu + t * sigma
        if measured.min < lo - tol_abs or measured.max > hi + tol_abs:
            out.append(
                f"values [{_g(measured.min)}, {_g(measured.max)}] beyond ±{t:.1f}σ of a normal({_g(mu)}, {_g(sigma)})"
            )
    return out


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
                stats: Optional[Stats] = None) -> list[Diagnostic]:
    """Warnings about one initialized parameter.

    - non-finite: NaN/Inf values (any parameter)
    - zero-init / constant-init: a weight (name starts or ends with "weight") with ≥ 2
      dimensions whose values are all zero / all equal. 1-D weights (norm scales, PReLU) and
      biases are not linted: ones, zeros and constants are normal there.
    - duplicate-rows: identical rows (dim 0) in a ≥ 2-D weight, checked up to DUP_ROWS_MAX_NUMEL.
    No values (meta) or integer tensors: nothing. `stats`, this tensor's measure(), saves two
    passes over it: a finite mean means no NaN/Inf, and min/max are known.
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
    if t.shape[0] >= 2 and t.numel() <= DUP_ROWS_MAX_NUMEL:
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


# Activation type -> the gains that preserve the signal's scale through it.
_ACT_GAINS: dict[str, tuple[str, tuple[float, ...]]] = {
    "ReLU": ("relu", (math.sqrt(2.0),)),
    "ReLU6": ("relu", (math.sqrt(2.0),)),
    "LeakyReLU": ("leaky_relu", (calculate_gain("leaky_relu"),)),
    "RReLU": ("leaky_relu", (calculate_gain("leaky_relu", (1 / 8 + 1 / 3) / 2),)),
    "PReLU": ("leaky_relu", (calculate_gain("leaky_relu", 0.25),)),
    "Tanh": ("tanh", (5.0 / 3,)),
    "Sigmoid": ("sigmoid", (1.0,)),
    # torch's docs: for self-normalizing nets use nonlinearity='linear' (gain 1); 'selu' is 3/4.
    "SELU": ("linear", (1.0, 0.75)),
}
# A normalization right after the layer resets the scale: any gain is fine.
_RESETS = (
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "LayerNorm", "GroupNorm", "RMSNorm",
    "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "LocalResponseNorm",
)


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
        if scheme is None or act is None or act in _RESETS or act not in _ACT_GAINS:
            continue
        g = _gain_of(scheme)
        if g is None:
            continue
        act_nl, ideals = _ACT_GAINS[act]
        ratio = min((g / ideal for ideal in ideals), key=lambda r: abs(math.log(r)))
        if abs(math.log(ratio)) <= math.log(GAIN_TOLERANCE):
            continue
        groups.setdefault((scheme, act), []).append((path, typ, ratio, act_nl))
    out: list[Diagnostic] = []
    for (scheme, act), members in groups.items():
        kaiming = scheme.name.startswith("kaiming")
        if not kaiming and len(members) < GAIN_MIN_LAYERS:
            continue
        path, _type, ratio, act_nl = members[0]
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
                f"(nonlinearity: {act_nl}) or xavier with gain {_ACT_GAINS[act][1][0]:.3g}"
            )
        out.append(_warn("gain-mismatch", msg + more, path, None))
    return out
