"""`skip_init()`: construct layers on the meta device without running their value initialization.

Constructing a layer on the meta device still runs its `reset_parameters`, and `normal_` or
`trunc_normal_` on meta go through torch's Python references: measurable time per layer for
values that do not exist. While the context is active, the calls listed below return their meta
tensor untouched. The list is explicit: the `torch.nn.init` functions, and the in-place tensor
methods that only write values (what those functions and the registered layers'
`reset_parameters` call: `uniform_`, `normal_`, `zero_`, `fill_`, `copy_`, `mul_`, ...). An
in-place method that changes a tensor's shape, strides or flags (`unsqueeze_`, `t_`,
`resize_`, `requires_grad_`, ...) is not on it and runs as always, as does everything on a real
tensor.

A TorchFunctionMode lives on torch's per-thread mode stack: the context affects only the thread
that entered it, and nothing process-wide.
"""
from __future__ import annotations

from contextlib import contextmanager

from shapecli._torch import torch

INIT_FUNCTIONS = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
                  "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
                  "sparse_")  # torch.nn.init
VALUE_METHODS = ("normal_", "uniform_", "zero_", "fill_", "copy_", "exponential_", "bernoulli_", "random_",
                 "geometric_", "cauchy_", "log_normal_", "erfinv_", "clamp_", "clamp_min_", "clamp_max_", "mul_",
                 "div_", "add_", "sub_", "pow_", "log_", "exp_", "sqrt_", "abs_", "neg_", "fill_diagonal_",
                 "masked_fill_", "index_fill_")  # torch.Tensor: each keeps its tensor's shape, dtype and strides

_SKIPPED = frozenset([getattr(torch.nn.init, n) for n in INIT_FUNCTIONS] + [getattr(torch.Tensor, n) for n in VALUE_METHODS])


class _SkipInit(torch.overrides.TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _SKIPPED:
            t = args[0] if args else kwargs.get("tensor", kwargs.get("self"))  # nn.init passes tensor=
            if isinstance(t, torch.Tensor) and t.is_meta:
                return t
        return func(*args, **kwargs)


@contextmanager
def skip_init():
    with _SkipInit():
        yield
