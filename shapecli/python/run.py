"""Inspect a model written in Python: the same pass and the same Report as a spec's (run/engine.py),
on a structural copy (structure.py), so the user's model is never touched.

Device policy: a model on the CPU runs for real (measured statistics) while its inputs and its
layers' outputs fit the budgets, else on meta; a model on meta (or any other device) is shaped on
meta. A factory target is first called on meta to count its parameters: over the budget it stays
there and is never built for real (a 7B-parameter model in a few hundred MiB).
"""
from __future__ import annotations

import gc

from shapecli._torch import nn, torch
from shapecli.errors import UsageError
from shapecli.model.lazy import BuildContext, OverBudget
from shapecli.python import target as targets
from shapecli.python.structure import device_of, is_lazy, nbytes, structural_copy
from shapecli.run.engine import (
    Options,
    analyse,
    check_seed,
    input_device,
    shape_model,
)
from shapecli.run.guard import _OutputGuard
from shapecli.run.measure import _Measurer
from shapecli.run import rng
from shapecli.run.outline import of_module

_INFERRED = ("in_features", "in_channels", "num_features", "in1_features", "in2_features")  # lazy layers' sizes


def load_target(text: str, device: str = "auto", budget: int | None = None) -> nn.Module:
    """The nn.Module a target names (importing its module: only for a target the user named).
    A factory: on meta with --device meta, or when its parameters would exceed `budget` bytes."""
    t = targets.parse(text)
    obj = targets.resolve(t)
    if isinstance(obj, nn.Module):
        return targets.instantiate(t, obj)
    if device == "meta":
        return targets.instantiate(t, obj, "meta")
    if device == "auto":
        probe = targets.instantiate(t, obj, "meta")  # sizes without values: count first, as specs do
        if nbytes(probe) > (Options.budget if budget is None else budget):
            return probe
        del probe
    return targets.instantiate(t, obj)


def inspect_module(model: nn.Module, samples: list, opts: Options, *, name: str, source: str):
    """(the copy that ran, Report) for `model` and `samples` (lists of InputSpec)."""
    check_seed(opts.seed)
    if not samples or not samples[0]:
        raise UsageError(f"{source}: a model written in Python has no sample input; give one with --input "
                         "(e.g. --input 1,3,224,224)")
    where = device_of(model)
    if where == "meta" and opts.device == "cpu":
        raise UsageError(f"{source}: the model's parameters are on the meta device (no values); "
                         "use --device meta or auto")
    device = input_device(samples, opts)
    if where != "cpu":
        device = "meta"
    # lazy init and dropout in every run draw from the global RNG: forked (the caller's state is
    # untouched), and one pass at a time (run/rng.py's lock) so that threads' draws do not interleave
    with rng.forked():
        if device == "cpu":
            try:
                return _inspect_on(model, samples, opts, "cpu", name, source)
            except OverBudget:
                if opts.device != "auto":
                    raise UsageError(f"{source}: a layer's output needs more memory than one tensor may take on "
                                     "cpu; use --device meta (shapes only)") from None
            gc.collect()
        return _inspect_on(model, samples, opts, "meta", name, source)


def _inspect_on(model: nn.Module, samples: list, opts: Options, device: str, name: str, source: str):
    work = structural_copy(model, meta=device == "meta")
    outline = of_module(work, name, source)
    modules = {d.path: work.get_submodule(d.path) for d in outline.layers}
    lazy = [(p, m) for p, m in modules.items() if is_lazy(m)]
    ctx = BuildContext()
    measurer = None
    if device != "meta":
        guard = _OutputGuard(opts.act_budget)
        for d in outline.layers:
            if not d.is_container:
                modules[d.path].register_forward_pre_hook(guard)
        if opts.stats:
            measurer = _Measurer(opts.histograms)
            _hand_over(work, measurer)

    def after(_model) -> None:  # the lazy layers have their sizes now (and their class: LazyLinear -> Linear)
        kinds = {d.path: d for d in outline.layers}
        for order, (path, m) in enumerate(lazy):
            kinds[path].type = kinds[path].kind = type(m).__name__
            inferred = {k: getattr(m, k) for k in _INFERRED if isinstance(getattr(m, k, None), int)}
            ctx.trace.append({"order": order, "layer": path, "type": type(m).__name__, "inferred": inferred,
                              "args": dict(inferred), "sizes": dict(inferred), "schemes": {}})
        if measurer is not None and lazy:
            _hand_over(work, measurer)

    work, gathered = shape_model(work, outline, samples, opts, device, ctx, measurer, after)
    return work, analyse(work, gathered, samples[0], opts)


def _hand_over(model: nn.Module, measurer: _Measurer) -> None:
    """Queue every initialized parameter for measuring, named as named_parameters() names it."""
    for path, module in model.named_modules():
        for local, prm in module.named_parameters(recurse=False):
            if not isinstance(prm, nn.parameter.UninitializedTensorMixin):
                measurer.take(prm, f"{path}.{local}" if path else local, path)


def samples_from(input_size=None, input_data=None, dtypes=None) -> list:
    """torchinfo's input arguments as samples: `input_size` a shape or a list of shapes (one per
    model input), `input_data` a tensor or a list/tuple of tensors (their shapes and dtypes),
    `dtypes` a dtype per input (torch.int64, "int64", "bf16"). One sample (a list of InputSpec)."""
    from shapecli.dtypes import INPUT, input_name
    from shapecli.spec.dims import Dim
    from shapecli.spec.nodes import InputSpec

    if (input_size is None) == (input_data is None):
        raise UsageError("give input_size or input_data (one of them)")
    if isinstance(dtypes, (str, torch.dtype)):  # one input's
        dtypes = [dtypes]
    if input_data is not None:
        tensors = [input_data] if isinstance(input_data, torch.Tensor) else list(input_data)
        if not all(isinstance(t, torch.Tensor) for t in tensors):
            raise UsageError("input_data: give a tensor or a list of tensors")
        shapes, kinds = [list(t.shape) for t in tensors], [t.dtype for t in tensors]
    else:
        sizes = list(input_size)
        shapes = [list(s) for s in sizes] if sizes and isinstance(sizes[0], (list, tuple, torch.Size)) else [sizes]
        kinds = list(dtypes) if dtypes else [torch.float32] * len(shapes)
    if dtypes and input_data is not None:
        kinds = list(dtypes)
    if len(kinds) != len(shapes):
        raise UsageError(f"dtypes: {len(kinds)} given for {len(shapes)} inputs")
    out = []
    for shape, dt in zip(shapes, kinds):
        if not all(type(d) is int and d >= 0 for d in shape):
            raise UsageError(f"input size {shape}: give whole numbers >= 0")
        name = input_name(dt)  # torch.int64, "int64" or an alias such as "bf16", as --input takes it
        if name is None:
            raise UsageError(f"dtypes: '{dt}' is not a dtype a sample input may have (one of {', '.join(INPUT)})")
        out.append(InputSpec([Dim(None, d) for d in shape], name))
    return out
