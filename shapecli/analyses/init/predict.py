"""What an init scheme's formula (or PyTorch's default for the layer) predicts: mean, std, bounds.

Shape-only, so it works on the meta device (175B-parameter models). See docs/init.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

from shapecli import layers as layer_types
from shapecli import warncapture
from shapecli._torch import nn, torch
from shapecli.layers.record import CHILDREN, NO_PARAMS, SCHEMES, resolve
from shapecli.report import InitInfo, Stats
from shapecli.spec.initschemes import InitScheme, calculate_gain


def _schemes_of(lt) -> dict[str, InitScheme]:
    return {param: InitScheme(name, args) for param, name, args in lt.init_schemes}


# The defaults of shapecli's glue layers, as data (their records' init_schemes): expected()
# predicts them, and the glue modules draw the same.
GLUE_DEFAULTS: dict[str, dict[str, InitScheme]] = {
    n: _schemes_of(lt) for n, lt in layer_types.BUILTIN.items() if lt.init == SCHEMES and lt.glue}


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
            with warncapture.ignore("mean is more than 2 std"):
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


def _bilinear(module: nn.Module, rel: str, shape: Sequence[int]) -> Optional[_Default]:
    if rel in ("weight", "bias"):
        wshape = _shape_of(module, "weight") or (list(shape) if rel == "weight" else None)
        if wshape is None or len(wshape) < 2:
            return None
        bound = 1 / math.sqrt(wshape[1]) if wshape[1] > 0 else 0.0
        return ("default (U(±1/√in1_features))", _uniform(bound), wshape[1])
    return None


def _transformer(module: nn.Module, rel: str, shape: Sequence[int]) -> Optional[_Default]:
    """Transformer._reset_parameters: xavier_uniform_ on every parameter with dim > 1."""
    if len(shape) > 1:
        return ("default (xavier_uniform)", _scheme_dist(InitScheme("xavier_uniform"), shape), None)
    return None


def _multihead_attention(module: nn.Module, rel: str, shape: Sequence[int]) -> Optional[_Default]:
    if rel in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
        return ("default (xavier_uniform)", _scheme_dist(InitScheme("xavier_uniform"), shape), None)
    if rel in ("in_proj_bias", "out_proj.bias"):
        return ("default (zeros)", Dist("constant"), None)
    if rel in ("bias_k", "bias_v"):
        return ("default (xavier_normal)", _scheme_dist(InitScheme("xavier_normal"), shape), None)
    return None  # out_proj.weight: the Linear's own default


def _recurrent(module: nn.Module, rel: str, shape: Sequence[int]) -> Optional[_Default]:
    h = int(module.hidden_size)
    bound = 1.0 / math.sqrt(h) if h > 0 else 0.0
    return ("default (U(±1/√hidden_size))", _uniform(bound), None)


def _norm(module: nn.Module, rel: str, shape: Sequence[int]) -> Optional[_Default]:
    if rel == "weight":
        return ("default (ones)", Dist("constant", mean=1.0), None)
    if rel == "bias":
        return ("default (zeros)", Dist("constant"), None)
    return None


def _embedding(module: nn.Module, rel: str, shape: Sequence[int]) -> Optional[_Default]:
    if rel == "weight":
        pad = getattr(module, "padding_idx", None)
        rows = int(shape[0]) if len(shape) else 0
        if pad is not None and rows > 0:
            return ("default (normal, padding_idx row zeros)", Dist("normal", std=1.0, zero_frac=1.0 / rows), None)
        return ("default (normal)", Dist("normal", std=1.0), None)
    return None


def _prelu(module: nn.Module, rel: str, shape: Sequence[int]) -> Optional[_Default]:
    if rel == "weight":
        v = float(module.init)
        return (f"default (constant {v!r})", Dist("constant", mean=v), None)
    return None


# The default-init rules a record's `init` names (shapecli/layers/catalog.py).
RULES = {"linear": _linear_like, "bilinear": _bilinear, "transformer": _transformer, "mha": _multihead_attention,
         "rnn": _recurrent, "norm": _norm, "embedding": _embedding, "prelu": _prelu}


def _module_rule(module: nn.Module, rel: str, shape: Sequence[int]) -> Optional[_Default]:
    """PyTorch's default init of parameter `rel` (relative to `module`), or None: not this module's."""
    lt = layer_types.of_module(module)
    if lt is None or lt.init in (NO_PARAMS, CHILDREN):
        return None
    if lt.init == SCHEMES:
        s = _schemes_of(lt).get(rel)
        return None if s is None else (f"default ({s.describe()})", _scheme_dist(s, shape), None)
    return resolve(lt.init, RULES, "default-init")(module, rel, shape)


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
