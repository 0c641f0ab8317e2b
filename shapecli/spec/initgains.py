"""The numbers behind init schemes, without torch: torch.nn.init's gains and trunc_normal's acceptance."""
from __future__ import annotations

import math
from typing import Optional

# The nonlinearities torch.nn.init.calculate_gain knows.
NONLINEARITIES = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "selu",
)


def calculate_gain(nonlinearity: str, param: Optional[float] = None) -> float:
    """torch.nn.init.calculate_gain, without torch (same values; tests compare them)."""
    if nonlinearity in NONLINEARITIES[:7] or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


# parse_scheme refuses a trunc_normal whose torch sampler accepts fewer of its draws than this.
TRUNC_NORMAL_MIN_ACCEPTANCE = 0.05


def trunc_normal_acceptance(mean: float, std: float, a: float, b: float) -> float:
    """The share of draws torch.nn.init.trunc_normal_ keeps per pass: the mass p of [a, b] when
    p > 0.3 (it samples the normal and redraws the rejects), else the acceptance of its
    uniform-proposal rejection sampler. The number of passes grows as ln(numel) / acceptance."""
    def cdf(x: float) -> float:
        return 0.5 * math.erfc(-x / math.sqrt(2.0))

    p = cdf((b - mean) / std) - cdf((a - mean) / std)
    if p > 0.3:
        return p
    mode = max(a, min(mean, b))
    peak = math.exp(-0.5 * ((mode - mean) / std) ** 2)
    return std * math.sqrt(2 * math.pi) * p / (peak * (b - a))
