"""Memory and compute estimates for a materialized model (`shapecli inspect --dtype/--flops`).

    est = estimate(model, report, inputs, dtypes=["float32", "bfloat16"], flops=True, backward=True)
    est.summary                     # what Report.estimates holds; est.layer_flops: {layer path: FLOPs}

What is counted (docs/estimates.md has the details):

* Weights and buffers per dtype: every parameter once (tied parameters are one parameter), each
  floating-point parameter and buffer stored in the dtype asked for; integer buffers
  (BatchNorm's num_batches_tracked) keep their own dtype.
* Training memory per floating dtype, for Adam: weights + gradients (trainable parameters) + Adam's
  two moments, all in that dtype, + fp32 master weights when the dtype is narrower than float32
  (mixed precision keeps them; shown as its own line so it can be left out), + buffers +
  activations.
* Activations: what a backward pass keeps, approximated by the sum of the output bytes of every
  layer and merge that makes a new tensor (views such as Flatten/Reshape/Permute are left out),
  plus the model's input, for the first sample input. Layer internals (attention scores, LSTM
  gates, normalization statistics, dropout masks) are not included: the true figure is higher.
* FLOPs: one forward pass under a dispatch mode using torch.utils.flop_counter's formulas
  (matmuls, convolutions, attention; a multiply-add counts 2). Every other operation that does
  arithmetic is listed as not counted, with its number of calls and output elements; data
  movement (views, copies, indexing, concatenation) is zero by convention and listed apart.
  Backward is estimated as 2x forward. Runs where the model lives: on the meta device (nothing
  allocated) for big models, for real on the CPU for small ones (whose attention kernel,
  `_scaled_dot_product_flash_attention_for_cpu`, torch's counter lacks; it is counted here with
  the same formula as the other attention kernels).
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from shapecli import dtypes
from shapecli import dtypes as _dtypes  # estimate()'s argument is called dtypes
from shapecli import layers as layer_types
from shapecli._torch import nn, torch
from shapecli.run import rng

# bits per element of the dtypes one can ask for (the table: shapecli/dtypes.py)
DTYPE_BITS = {name: dtypes.BITS[name] for name in dtypes.ESTIMATE}
FLOAT_DTYPES = dtypes.FLOATING
ALIASES = dtypes.ALIASES
DEFAULT_DTYPES = ("float32",)

FLOP_UNIT = "FLOPs (floating-point operations; one multiply-add counts 2)"
ACTIVATION_NOTE = ("outputs of every layer and merge that makes a new tensor, plus the input, for the first sample "
                   "input; layer internals (attention scores, LSTM gates, norm statistics, dropout masks) not "
                   "included, so the true figure is higher")


def _nbytes(numel: int, bits: int) -> int:
    return (numel * bits + 7) // 8


# ---------------------------------------------------------------------------- memory

def _tensor_leaves(out):
    """(numel, dtype) of every tensor in a report Output (a TensorInfo, a dict, or a nested list)."""
    if out is None:
        return
    if isinstance(out, dict):
        yield math.prod(out["shape"]), out["dtype"]
    elif isinstance(out, (list, tuple)):
        for o in out:
            yield from _tensor_leaves(o)
    elif hasattr(out, "shape"):
        yield math.prod(out.shape), out.dtype


def activation_elements(report) -> list:
    """[(numel, dtype)] of the tensors a backward pass keeps (approximately): see ACTIVATION_NOTE."""
    items = []
    for t in report.inputs:
        items.append((math.prod(t.shape), t.dtype))
    for lay in report.layers:
        if not lay.output_shapes:
            continue
        if lay.is_container:
            if lay.type not in layer_types.MERGES:
                continue  # a block's output is its last layer's, already counted
        elif getattr(layer_types.REGISTRY.get(lay.type), "view", False):
            continue  # a view of its input: no new memory
        items.extend(_tensor_leaves(lay.output_shapes[0]))
    return items


def _as(dtype_bits: int, own: str) -> int:
    """Bits of one element stored "in dtype": floating tensors take the dtype, others keep theirs."""
    return dtype_bits if own.startswith(("float", "bfloat", "complex")) else dtypes.bits(own)


def memory(report, dtype: str) -> dict:
    bits = DTYPE_BITS[dtype]
    counted = [p for p in report.params if p.shared_with is None]
    weights = sum(_nbytes(p.numel, _as(bits, p.dtype)) for p in counted)
    buffers = sum(_nbytes(b.numel, _as(bits, b.dtype)) for b in report.buffers)
    row = {"dtype": dtype, "bits": bits, "weights": weights, "buffers": buffers, "inference": weights + buffers,
           "activations": None, "training": None}
    if dtype in FLOAT_DTYPES:
        acts = sum(_nbytes(n, _as(bits, dt)) for n, dt in activation_elements(report))
        trainable = [p for p in counted if p.trainable]
        t_elems = sum(p.numel for p in trainable)
        grads = sum(_nbytes(p.numel, _as(bits, p.dtype)) for p in trainable)
        master = _nbytes(t_elems, 32) if bits < 32 else 0
        train = {"optimizer": "Adam", "weights": weights, "gradients": grads, "adam_m": grads, "adam_v": grads,
                 "master_weights_fp32": master, "buffers": buffers, "activations": acts}
        train["total"] = weights + 3 * grads + master + buffers + acts
        row["activations"] = acts
        row["training"] = train
    return row


# ---------------------------------------------------------------------------- FLOPs

# aten ops that move or reinterpret data, or make constants: zero FLOPs by convention.
_ZERO_COST = {
    "view", "_unsafe_view", "reshape", "t", "transpose", "permute", "expand", "unsqueeze", "squeeze", "select",
    "slice", "split", "split_with_sizes", "chunk", "unbind", "as_strided", "detach", "alias", "lift_fresh",
    "empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "zeros", "zeros_like", "ones",
    "ones_like", "full", "full_like", "new_zeros", "new_ones", "new_full", "fill", "fill_", "zero_", "scalar_tensor",
    "arange", "clone", "copy", "copy_", "_to_copy", "contiguous", "cat", "stack", "index", "index_select",
    "embedding", "gather", "triu", "tril", "masked_fill", "where", "flatten", "unflatten", "_reshape_alias",
    "constant_pad_nd", "pad", "repeat", "roll", "flip", "_local_scalar_dense", "lift_fresh_copy", "native_dropout",
    "bernoulli_", "bernoulli", "max_pool2d_with_indices", "max_pool1d_with_indices", "max_pool3d_with_indices",
    "unfold", "im2col", "col2im", "narrow", "movedim", "diagonal", "view_as", "type_as", "to", "_assert_tensor_metadata",
    "sym_size", "sym_stride", "sym_numel", "sym_storage_offset", "is_same_size",
}


def _cpu_sdpa_flop(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _registry() -> dict:
    from torch.utils.flop_counter import FlopCounterMode

    aten = torch.ops.aten
    custom = {}
    for name in ("_scaled_dot_product_flash_attention_for_cpu",):
        op = getattr(aten, name, None)
        if op is not None:
            custom[op] = _cpu_sdpa_flop
    fc = FlopCounterMode(display=False, custom_mapping=custom)
    return fc.flop_registry  # torch's formulas, each taking (*args, out_val=..., **kwargs)


def _first_numel(out) -> int:
    if isinstance(out, torch.Tensor):
        return out.numel()
    if isinstance(out, (tuple, list)):
        for o in out:
            n = _first_numel(o)
            if n:
                return n
    return 0


def _counting_mode(registry, stack, per_path, by_op, uncounted, zero):
    from torch.utils._python_dispatch import TorchDispatchMode

    class _Count(TorchDispatchMode):
        @classmethod
        def _should_skip_dynamo(cls) -> bool:  # shapecli never compiles; wrapping would import dynamo (~1.3 s)
            return False

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            packet = func._overloadpacket
            if packet not in registry:
                with self:  # composite ops (linear, layer_norm, ...) split into counted pieces where they can
                    r = func.decompose(*args, **kwargs)
                if r is not NotImplemented:
                    return r
            out = func(*args, **kwargs)
            name = str(packet)  # "aten.mm"
            if packet in registry:
                n = int(registry[packet](*args, **kwargs, out_val=out))
                by_op[name] += n
                for p in set(stack):
                    per_path[p] += n
                per_path[""] += n
            else:
                base = name.split(".", 1)[-1]
                if base in _ZERO_COST or base.rstrip("_") in _ZERO_COST:
                    zero[name] += 1
                else:
                    u = uncounted[name]
                    u[0] += 1
                    u[1] += _first_numel(out)
                    if stack:
                        u[2].add(stack[-1])
            return out

    return _Count()


class _Push:
    def __init__(self, stack, path):
        self.stack, self.path = stack, path

    def __call__(self, module, inputs):
        self.stack.append(self.path)  # returns None: the input is unchanged


class _Pop:
    def __init__(self, stack):
        self.stack = stack

    def __call__(self, module, inputs, output):
        if self.stack:
            self.stack.pop()  # returns None: the output is unchanged


def count_flops(model: nn.Module, xs: list, paths: list) -> dict:
    """One forward pass of `model` on tensors `xs`, counting FLOPs per spec path (inclusive)."""
    registry = _registry()
    stack: list = []
    per_path: dict = defaultdict(int)
    by_op: dict = defaultdict(int)
    uncounted: dict = defaultdict(lambda: [0, 0, set()])
    zero: dict = defaultdict(int)
    handles = []
    device = next((x.device for x in xs if isinstance(x, torch.Tensor)), torch.device("cpu"))
    saved = {}
    if device.type != "meta":  # BatchNorm's running statistics must not move
        saved = {n: b.detach().clone() for n, b in model.named_buffers()}
    try:  # the materialized model carries no hook of the run's (run/hooks.py detach): only these count
        for path in paths:
            try:
                m = model.get_submodule(path)
            except AttributeError:
                continue
            handles.append(m.register_forward_pre_hook(_Push(stack, path)))
            handles.append(m.register_forward_hook(_Pop(stack), always_call=True))
        with rng.forked(), torch.no_grad(), \
                _counting_mode(registry, stack, per_path, by_op, uncounted, zero):
            model(*xs)
        for h in handles:
            h.remove()
        handles = []
    finally:
        for h in handles:
            h.remove()
        if saved:
            with torch.no_grad():
                for n, b in model.named_buffers():
                    if n in saved:
                        b.copy_(saved[n])
    return {
        "total": per_path.get("", 0),
        "per_path": dict(per_path),
        "by_op": dict(sorted(by_op.items(), key=lambda kv: -kv[1])),
        "not_counted": [{"op": k, "calls": v[0], "elements": v[1], "layers": len(v[2])}
                        for k, v in sorted(uncounted.items(), key=lambda kv: -kv[1][1])],
        "zero_cost": dict(sorted(zero.items())),
        "device": device.type,
    }


# ---------------------------------------------------------------------------- entry point

def _tensors(model, inputs) -> list:
    """Tensors for one sample, on the model's device: given tensors as they are; anything with
    .shape and .dtype (InputSpec, TensorInfo) made like run/inputs.py's (normal floats, zero ids)."""
    if inputs and all(isinstance(x, torch.Tensor) for x in inputs):
        return list(inputs)
    from shapecli.run.inputs import _dtype

    p = next(iter(model.parameters()), None)
    device = "meta" if p is not None and p.is_meta else "cpu"
    g = torch.Generator().manual_seed(1)
    out = []
    for s in inputs:
        dt = _dtype(s.dtype)
        if device == "meta":
            out.append(torch.empty(list(s.shape), dtype=dt, device="meta"))
        elif dt.is_floating_point:
            out.append(torch.randn(list(s.shape), generator=g, dtype=dt))
        else:
            out.append(torch.zeros(list(s.shape), dtype=dt))
    return out


@dataclass
class Estimates:
    """The estimate pass's result: `summary` is what Report.estimates holds; `layer_flops` each
    layer's forward FLOPs (LayerInfo.flops), when FLOPs were counted."""

    summary: dict
    layer_flops: dict | None = None  # layer path -> forward FLOPs


def estimate(model: nn.Module, report, inputs=None, dtypes=None, flops: bool = False,
             backward: bool = False) -> Estimates:
    """Memory (and, with flops, compute) estimates for a materialized model; changes nothing.

    report: what gathering learned (a Report, or run.collect.Gathered): its params, buffers, layers
    and inputs are read. inputs: one sample, as tensors or as InputSpecs/TensorInfos (one per model
    input; default: the report's first input). dtypes: names from DTYPE_BITS (default float32).
    backward implies flops.
    """
    dtypes = _dtypes.parse_estimate(dtypes) or list(DEFAULT_DTYPES)  # 'bf16' as --dtype takes it
    counted = [p for p in report.params if p.shared_with is None]
    est: dict = {
        "counts": {"params": sum(p.numel for p in counted), "trainable": sum(p.numel for p in counted if p.trainable),
                   "buffers": sum(b.numel for b in report.buffers),
                   "tied": sum(1 for p in report.params if p.shared_with)},
        "memory": [memory(report, d) for d in dtypes],
        "notes": {"activations": ACTIVATION_NOTE,
                  "training": "Adam: weights + gradients + 2 moments in the dtype; fp32 master weights added "
                              "for dtypes narrower than float32; activations for the sample input's batch"},
        "flops": None,
    }
    layer_flops = None
    if flops or backward:
        xs = _tensors(model, inputs if inputs is not None else report.inputs)
        paths = [lay.path for lay in report.layers]
        fc = count_flops(model, xs, paths)
        layer_flops = {p: fc["per_path"].get(p, 0) for p in paths}
        fwd = fc["total"]
        est["flops"] = {
            "unit": FLOP_UNIT, "forward": fwd,
            "backward": 2 * fwd if backward else None, "train_step": 3 * fwd if backward else None,
            "backward_note": "backward estimated as 2x forward (gradients for inputs and for weights)" if backward else None,
            "by_op": fc["by_op"], "not_counted": fc["not_counted"], "zero_cost": fc["zero_cost"],
            "counted_on": fc["device"],
            "note": "matmuls, convolutions and attention (full score matrix, causal masks not discounted); "
                    "ops in not_counted do arithmetic that no formula covers; zero_cost ops only move data",
        }
    return Estimates(est, layer_flops)
