"""Gather: what a materialized model holds (parameters, buffers, totals, layers, lints), as the
Report's parts; run/assemble.py builds the Report from them and the later analyses' results."""
from __future__ import annotations

from dataclasses import dataclass, field

from shapecli import dtypes
from shapecli import layers as registry
from shapecli._torch import nn, torch
from shapecli.report import (
    BufferInfo,
    InitInfo,
    LayerInfo,
    ParamInfo,
    Stats,
    TensorInfo,
    Totals,
)
from shapecli.names import local_name
from shapecli.run.measure import LINT_MAX_NUMEL
from shapecli.spec.nodes import TENSORS


@dataclass
class Gathered:
    """What one materialization learned: the Report's fields but those of the later analyses."""

    name: str
    spec_file: str | None
    source: str | None  # the Python target the model came from (None for a spec)
    seed: int
    torch_version: str
    device: str
    runs: list  # [Run]
    layers: list  # [LayerInfo], without symbolic formulas or FLOPs
    params: list  # [ParamInfo]
    buffers: list  # [BufferInfo]
    totals: Totals
    diagnostics: list  # [Diagnostic]: the lints
    init_trace: list
    warnings: list = field(default_factory=list)  # [Diagnostic]: torch's own warnings during the runs

    @property
    def inputs(self) -> list:
        return self.runs[0].inputs if self.runs else []


def gather(outline, model: nn.Module, runs, per_run, ctx, device: str, opts, acts,
           looks: dict | None = None, warnings: list | None = None, per_run_inputs: list | None = None) -> Gathered:
    """What a materialized model holds. `outline`: run.outline.Outline, the layers to report.
    `looks`: _Measurer.results() (CPU statistics); `warnings`: torch's warnings during the runs;
    `per_run_inputs`: per run, each layer's inputs (path -> [Output])."""
    from shapecli.analyses import init as initmod
    nodes = outline.layers
    paths = {n.path: n for n in nodes}

    tensors = {n.path for n in nodes if n.kind in TENSORS}

    def owner(name: str) -> str:
        if name in tensors:  # a Parameter/Buffer item's tensor: the item is its layer
            return name
        parts = name.split(".")
        for k in range(len(parts) - 1, 0, -1):
            p = ".".join(parts[:k])
            if p in paths:
                return p
        return ""

    seen: dict = {}
    params, lints = [], []
    looks = looks or {}
    modules, named_params, named_buffers, transient = _walk(model)
    sizes = {t["layer"]: t for t in ctx.trace}  # each built layer: its arguments, inferred sizes, schemes
    predicted: dict = {}  # (class, arguments, parameter, shape, scheme) -> InitInfo
    arg_keys: dict = {}  # id(args) -> repr(args): equal layers share one args dict (model/reading.py)
    for name, prm, at, local in named_params:  # at: the path of the module holding it, local: its name there
        layer = at if at in paths and name not in tensors else owner(name)
        info = ParamInfo(name, layer, list(prm.shape), prm.numel(), dtypes.torch_name(prm.dtype), prm.requires_grad)
        pid = id(prm)
        if pid in seen:
            info.shared_with = seen[pid]
            params.append(info)
            continue
        seen[pid] = name
        if layer != at:
            local = local_name(name, layer)
        holder = layer.rpartition(".")[0] if layer in tensors else layer  # the module the tensor is on
        module = modules.get(holder) if holder else model
        if module is None:  # a module reached by a second path (named_modules lists it once)
            module = model.get_submodule(holder)
        scheme = ctx.schemes.get(layer, _EMPTY).get(local)  # what model/lazy.py applied
        # a spec's layers of one class built with the same arguments predict alike (a repeat's copies)
        built = sizes.get(layer)
        key = None
        if built is not None and module is not None and holder == layer:
            args = built["args"]
            arg_key = arg_keys.get(id(args))
            if arg_key is None:
                arg_key = arg_keys[id(args)] = repr(args)
            key = (type(module), arg_key, local, prm.shape, repr(scheme))  # torch.Size: a tuple
        known = predicted.get(key) if key is not None else None
        if known is not None:
            info.init = _copied(known)
        else:
            try:
                info.init = initmod.expected(module, local, list(prm.shape), scheme)
            except Exception:  # an init formula we lack must not break the report
                info.init = InitInfo(scheme=scheme.describe() if scheme else "default")
            if key is not None:
                predicted[key] = _copied(info.init)
        looked = looks.get(pid)
        if looked is not None and looked[0] is prm:
            look = looked[1]
            info.stats, info.histogram = look.stats, look.histogram
            if info.init.expected:
                info.init.flagged = initmod.flag(info.stats, info.init, info.numel, dtype=info.dtype)
            for d in look.lints:  # named as the report names the parameter
                d.param, d.layer = name, layer
            lints.extend(look.lints)
        elif opts.sampled and info.init and info.init.expected:
            info.stats = initmod.sampled_measure(list(prm.shape), module, local, scheme, seed=opts.seed)
        elif info.init and info.init.expected:
            e = info.init.expected
            info.stats = Stats(e.mean, e.std, e.min, e.max, source="analytic")
        if looked is None and device != "meta" and info.numel <= LINT_MAX_NUMEL:  # beyond the statistics budget
            lints.extend(initmod.lint_tensor(name, layer, prm.detach()))
        params.append(info)

    buffers = [BufferInfo(n, owner(n), list(b.shape), b.numel(), dtypes.torch_name(b.dtype), n not in transient)
               for n, b in named_buffers]

    # totals, bytes by dtype, and each layer's own [parameters, trainable], in one pass (shared counted once)
    total = trainable = param_bytes = 0
    by_dtype: dict = {}
    direct: dict = {}  # layer path -> [parameters, trainable] of its own
    sizes_of: dict = {}  # dtype name -> bytes an element
    for p in params:
        if p.shared_with is not None:
            continue
        n = p.numel
        size = sizes_of.get(p.dtype)
        if size is None:
            size = sizes_of[p.dtype] = _itemsize(p.dtype)
        total += n
        param_bytes += n * size
        by_dtype[p.dtype] = by_dtype.get(p.dtype, 0) + n * size
        sums = direct.get(p.layer)
        if sums is None:
            sums = direct[p.layer] = [0, 0]
        sums[0] += n
        if p.trainable:
            trainable += n
            sums[1] += n
    buf_bytes = 0
    for b in buffers:
        n = b.numel * _itemsize(b.dtype)
        buf_bytes += n
        by_dtype[b.dtype] = by_dtype.get(b.dtype, 0) + n
    totals = Totals(params=total, trainable=trainable, buffers=sum(b.numel for b in buffers), bytes=by_dtype,
                    param_bytes=param_bytes, buffer_bytes=buf_bytes)

    owned: dict = {}  # layer path -> [parameters, trainable] it and its descendants own (counted once)
    for path, (numel, train) in direct.items():
        while path:  # the layer, then each container above it
            sums = owned.get(path)
            if sums is None:
                sums = owned[path] = [0, 0]
            sums[0] += numel
            sums[1] += train
            path = path.rpartition(".")[0]
    layers = []
    per_run_inputs = per_run_inputs or []
    none = (0, 0)
    one = per_run[0] if len(per_run) == 1 else None  # one input: no list comprehension per layer
    one_in = per_run_inputs[0] if len(per_run_inputs) == 1 else None
    for n in nodes:
        path = n.path
        own = owned.get(path, none)
        t = sizes.get(path)
        outputs = [one.get(path)] if one is not None else [r.get(path) for r in per_run]
        if t is not None and path in tensors:  # the tensor itself, as it was built
            outputs = [TensorInfo(list(t["args"]["shape"]), t["args"]["dtype"]) for _ in per_run]
        # read from __dict__: a miss through nn.Module.__getattr__ costs a formatted AttributeError (~10 µs)
        attrs = getattr(modules.get(path), "__dict__", None) or {}
        ks, st = attrs.get("kernel_size"), attrs.get("stride")
        layers.append(LayerInfo(
            path=path, type=n.type, depth=path.count("."),
            args=dict(t["args"]) if t is not None else {}, inferred=dict(t["inferred"]) if t is not None else {},
            output_shapes=outputs, params=own[0], trainable=own[1],
            line=n.loc.line, col=n.loc.col, is_container=n.is_container,
            activation=acts.get(path),
            input_shapes=[one_in.get(path)] if one_in is not None else [r.get(path) for r in per_run_inputs],
            kernel_size=None if ks is None else _ints(ks), stride=None if st is None else _ints(st)))

    diagnostics = lints + initmod.lint_gain(_weight_stack(nodes, ctx.schemes))
    for d in diagnostics:
        n = paths.get(d.layer or "")
        if n is not None:
            d.line, d.col = n.loc.line, n.loc.col

    return Gathered(name=outline.name, spec_file=outline.spec_file, source=outline.source, seed=opts.seed,
                    torch_version=torch.__version__.split("+")[0], device=device, runs=runs, layers=layers,
                    params=params, buffers=buffers, totals=totals, diagnostics=diagnostics,
                    init_trace=[{"order": t["order"], "layer": t["layer"], "type": t["type"],
                                 "inferred": t["inferred"], "schemes": t["schemes"]} for t in ctx.trace],
                    warnings=list(warnings or ()))


_EMPTY: dict = {}  # read only


def _walk(model: nn.Module) -> tuple:
    """One walk over the model for what four of torch's would give: {path: module} (every path a module is
    reached by), named_parameters(remove_duplicate=False) (each with the path of the module holding it and its
    name there), named_buffers() and the buffer names state_dict() leaves out, in their orders. (10,000
    Linear+ReLU pairs: each walk of the 30,001 modules costs ~70 ms.)"""
    modules, params, buffers, transient = {}, [], [], set()
    seen_modules, seen_buffers = set(), set()
    stack = [("", model)]  # named_modules(remove_duplicate=False)'s pre-order, without its nested generators
    while stack:
        path, m = stack.pop()
        modules.setdefault(path, m)
        pre = f"{path}." if path else ""
        if m._modules:
            stack.extend((pre + k, c) for k, c in reversed(m._modules.items()) if c is not None)
        for k, v in m._parameters.items():
            if v is not None:
                params.append((pre + k, v, path, k))
        if id(m) in seen_modules:  # named_buffers() and the non-persistent names: a module once
            continue
        seen_modules.add(id(m))
        for k, v in m._buffers.items():
            if v is not None and id(v) not in seen_buffers:
                seen_buffers.add(id(v))
                buffers.append((pre + k, v))
        if m._non_persistent_buffers_set:
            transient.update(pre + b for b in m._non_persistent_buffers_set)
    return modules, params, buffers, transient


def _weight_stack(nodes: list, schemes: dict) -> list:
    """(path, type, weight scheme, the activation or norm that follows) for each weight layer, in order."""
    leaves = [n for n in nodes if not n.is_container]
    out = []
    for i, n in enumerate(leaves):
        if "weight" not in schemes.get(n.path, {}):
            continue
        after = None
        for j in range(i + 1, len(leaves)):  # by index: slicing leaves[i + 1:] copied it, quadratic in depth
            m = leaves[j]
            lt = registry.REGISTRY.get(m.kind)
            if lt is not None and lt.group in ("activation", "norm"):
                after = m.kind
                break
            if "weight" in schemes.get(m.path, {}):
                break
        out.append((n.path, n.kind, schemes[n.path]["weight"], after))
    return out


def _copied(info: InitInfo) -> InitInfo:
    """A shallow copy of an InitInfo (copy.copy's generic path cost ~10 µs; 20,000 parameters)."""
    out = object.__new__(InitInfo)
    out.__dict__.update(info.__dict__)
    return out


def _ints(v):
    """A module's kernel_size/stride as a list of ints (PyTorch keeps an int or a tuple), or None."""
    if isinstance(v, int) and not isinstance(v, bool):
        return [v]
    if isinstance(v, (tuple, list)) and v and all(isinstance(x, int) for x in v):
        return list(v)
    return None


def _itemsize(dtype: str) -> int:
    return dtypes.bits(dtype) // 8 if dtype in dtypes.INPUT else 4
