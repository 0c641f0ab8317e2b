"""Shape-only forwards for well-known layers (activations, dropout, normalization, RNNs,
ceil-mode pooling), swapped in during the symbolic trace because PyTorch's own kernels are slow
(or unroll time) with symbolic sizes. They follow the documented shapes and make the same size
checks with `torch._check`, so what they guard is a shape check; the concrete runs that check
the formulas use the real forwards."""
from __future__ import annotations

import contextlib

from shapecli import layers as layer_types
from shapecli.analyses.symbolic.context import _Unfollowable
from shapecli.layers.record import NATIVE, resolve


def _rnn_forward(self, input, hx=None):
    """Shape-only forward for nn.RNN/LSTM/GRU (their decomposition unrolls time: slow and
    specializing). Follows the documented shapes, with the same size checks."""
    import torch

    if not isinstance(input, torch.Tensor):
        raise _Unfollowable(f"{type(self).__name__} with a {type(input).__name__} input (only tensors are followed)")
    torch._check(input.dim() in (2, 3), lambda: f"{type(self).__name__}: expected a 2-D or 3-D input, got {input.dim()}-D")
    batched = input.dim() == 3
    torch._check(
        input.shape[-1] == self.input_size,
        lambda: f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got {input.shape[-1]}",
    )
    D = 2 if self.bidirectional else 1
    out_size = self.proj_size if getattr(self, "proj_size", 0) else self.hidden_size
    if batched:
        T, B = (input.shape[1], input.shape[0]) if self.batch_first else (input.shape[0], input.shape[1])
        out_shape = (B, T, D * out_size) if self.batch_first else (T, B, D * out_size)
        h_shape, c_shape = (D * self.num_layers, B, out_size), (D * self.num_layers, B, self.hidden_size)
    else:
        T = input.shape[0]
        out_shape = (T, D * out_size)
        h_shape, c_shape = (D * self.num_layers, out_size), (D * self.num_layers, self.hidden_size)
    is_lstm = isinstance(self, torch.nn.LSTM)
    if hx is not None:
        hs = hx if isinstance(hx, (tuple, list)) else (hx,)
        want = (h_shape, c_shape) if is_lstm else (h_shape,)
        for got, exp in zip(hs, want):
            torch._check(got.dim() == len(exp), lambda: f"{type(self).__name__}: hidden state has the wrong number of dims")
            for a, b in zip(got.shape, exp):
                torch._check(a == b, lambda: f"{type(self).__name__}: expected hidden size {tuple(exp)}, got {tuple(got.shape)}")
    out = input.new_empty(out_shape)
    h = input.new_empty(h_shape)
    if is_lstm:
        return out, (h, input.new_empty(c_shape))
    return out, h


def _same_shape_forward(self, x, *args, **kwargs):
    """Shape-only forward for layers whose output has their input's shape (activations,
    dropout): fake elementwise ops with symbolic sizes are slow (strides are worked out
    symbolically), and these layers cannot change a shape."""
    return x.new_empty(x.shape)


def _batchnorm_forward(self, x):
    import torch

    want = layer_types.of_module(self).ranks
    if want:
        torch._check(x.dim() in want, lambda: f"expected {'D or '.join(map(str, want))}D input (got {x.dim()}D input)")
    torch._check(x.dim() >= 2, lambda: f"expected at least 2D input (got {x.dim()}D input)")
    torch._check(
        x.shape[1] == self.num_features,
        lambda: f"running_mean should contain {x.shape[1]} elements not {self.num_features}",
    )
    return x.new_empty(x.shape)


def _layernorm_forward(self, x):
    import torch

    ns = tuple(self.normalized_shape)
    torch._check(x.dim() >= len(ns), lambda: f"LayerNorm: input has fewer dims than normalized_shape {list(ns)}")
    for a, b in zip(x.shape[x.dim() - len(ns):], ns):
        torch._check(
            a == b,
            lambda: f"Given normalized_shape={list(ns)}, expected input with shape [*, {', '.join(map(str, ns))}], but got input of size{list(x.shape)}",
        )
    return x.new_empty(x.shape)


def _groupnorm_forward(self, x):
    import torch

    torch._check(x.dim() >= 2, lambda: "GroupNorm: expected at least 2D input")
    torch._check(
        x.shape[1] == self.num_channels,
        lambda: f"Expected number of channels in input to be divisible by num_groups, but got input of shape {list(x.shape)} and num_groups={self.num_groups}",
    )
    return x.new_empty(x.shape)


def _ceil_pool_forward(self, x):
    """Shape-only forward for max/avg pooling with ceil_mode=True. PyTorch computes
    o = ceil((H + 2p - d(k-1) - 1)/s) + 1 and then drops the last window when it starts past
    the input (a branch); that is o = min(o, ceil((H + p)/s)) without branching."""
    import torch

    nd = layer_types.of_module(self).spatial
    def tup(v, default=None):
        if v is None:
            v = default
        return tuple(v) if isinstance(v, (tuple, list)) else (v,) * nd

    k = tup(self.kernel_size)
    s = tup(self.stride, self.kernel_size) if self.stride is not None else k
    p = tup(self.padding)
    d = tup(getattr(self, "dilation", 1))
    torch._check(x.dim() in (nd + 1, nd + 2), lambda: f"{type(self).__name__}: expected {nd + 1}D or {nd + 2}D input, got {x.dim()}D")
    sizes = list(x.shape[x.dim() - nd:])
    outs = []
    for H, k_, s_, p_, d_ in zip(sizes, k, s, p, d):
        o = (H + 2 * p_ - d_ * (k_ - 1) - 1 + (s_ - 1)) // s_ + 1
        o = torch.sym_min(o, (H + p_ + s_ - 1) // s_)
        torch._check(o >= 1, lambda: f"Given input size {list(x.shape)}, the calculated output size is too small")
        outs.append(o)
    shape = list(x.shape[: x.dim() - nd]) + outs
    out = x.new_empty(shape)
    if getattr(self, "return_indices", False):
        return out, x.new_empty(shape, dtype=torch.int64)
    return out


# The shape-only forwards a record's `symbolic` names (shapecli/layers/catalog.py).
RULES = {"same": _same_shape_forward, "batchnorm": _batchnorm_forward, "ceil_pool": _ceil_pool_forward,
         "layernorm": _layernorm_forward, "groupnorm": _groupnorm_forward, "rnn": _rnn_forward}


def _shape_models():
    """Exact layer type -> shape-only forward used during the symbolic trace."""
    return {c: resolve(lt.symbolic, RULES, "symbolic") for c, lt in layer_types.classes().items()
            if lt.symbolic != NATIVE}


@contextlib.contextmanager
def _shape_only_layers(model):
    """Swap in shape-only forwards for well-known layers (exact types only, never subclasses
    with their own forward); the concrete runs that check the formulas use the real ones."""
    table = _shape_models()
    patched = []
    for mod in model.modules():
        fn = table.get(type(mod))
        if fn is _ceil_pool_forward and not getattr(mod, "ceil_mode", False):
            continue  # floor mode: PyTorch's own shape function has no branch
        if fn is not None and "forward" not in mod.__dict__:
            mod.forward = fn.__get__(mod, type(mod))
            patched.append(mod)
    try:
        yield
    finally:
        for mod in patched:
            mod.__dict__.pop("forward", None)
