"""Apply a spec's init scheme to a tensor with torch.nn.init's own functions (global RNG)."""
from __future__ import annotations

from typing import Optional

from shapecli import warncapture
from shapecli._torch import nn, torch
from shapecli.spec.initschemes import InitScheme

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
            with warncapture.ignore("mean is more than 2 std"):
                # "mean is more than 2 std from [a, b]": torch's sampler is exact there too
                # (rejection from the bounds), and expected() predicts that distribution.
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
