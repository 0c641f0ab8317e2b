"""Materialize: push sample inputs through a fresh lazy model and gather a Report.

The first input materializes the model (RNG seeded right before, inside `fork_rng` so the
caller's global RNG is untouched); each later input goes through the same materialized model,
as calling `net(X)` again would. Small models run for real on the CPU, giving real init
statistics; a model whose parameters or activations would exceed the memory budget is shaped on
the meta device instead (no memory, analytic statistics).
"""
from __future__ import annotations

import gc
import math
import queue
import threading
import warnings
from dataclasses import dataclass, field

from ._torch import nn, torch

from . import registry
from ._fastmeta import fast_meta
from .model import BuildContext, OverBudget, build, check_refit, shape_of
from .errors import Problem, ShapeCliError, ShapeError, UsageError, literal
from .report import (BufferInfo, Diagnostic, InitInfo, LayerInfo, ParamInfo, Report, Run, Stats, TensorInfo, Totals)
from .spec import Spec

DEFAULT_BUDGET = 256 << 20  # real parameter bytes before switching to meta; see docs/performance.md
DEFAULT_ACT_BUDGET = 512 << 20  # one activation tensor
STATS_MAX_NUMEL = 50_000_000  # measured statistics up to this many elements per model, then analytic
LINT_MAX_NUMEL = 10_000_000  # lint_tensor's value checks on parameters up to this size
HELP_MIN_NUMEL = 1 << 16  # _Measurer.results: the caller's thread helps with tensors this big


@dataclass
class Options:
    seed: int = 0
    device: str = "auto"  # "auto" | "cpu" | "meta"
    budget: int = DEFAULT_BUDGET
    act_budget: int = DEFAULT_ACT_BUDGET
    stats: bool = True  # measured init statistics (CPU only)
    activations: bool = False  # per-layer output mean/std at init
    sampled: bool = False  # on meta: statistics measured on a sample of each init distribution
    histograms: bool = True
    progress: object = None  # called with (layers done, layers in all) during the first pass
    symbolic: bool = True  # formulas and constraints when the input names dimensions


def _dtype(name: str) -> torch.dtype:
    return {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
            "bfloat16": torch.bfloat16, "int64": torch.int64, "int32": torch.int32, "int16": torch.int16,
            "int8": torch.int8, "uint8": torch.uint8, "bool": torch.bool, "complex64": torch.complex64}[name]


def _bytes(spec_inputs: list) -> int:
    return sum(math.prod(i.shape) * torch.empty((), dtype=_dtype(i.dtype)).element_size() for i in spec_inputs)


def make_inputs(sample: list, device: str, seed: int) -> list:
    """Tensors for one sample: standard normal floats (own generator: the global RNG is for init), zero ids."""
    g = torch.Generator().manual_seed(seed + 1)
    out = []
    for s in sample:
        dt = _dtype(s.dtype)
        if device == "meta":
            out.append(torch.empty(s.shape, dtype=dt, device="meta"))
        elif dt.is_floating_point:
            out.append(torch.randn(s.shape, generator=g, dtype=dt))
        else:
            out.append(torch.zeros(s.shape, dtype=dt))  # valid ids for any vocabulary
    return out


def describe(x):
    if isinstance(x, torch.Tensor):
        return TensorInfo(list(x.shape), str(x.dtype).replace("torch.", ""))
    if isinstance(x, (tuple, list)):
        return [describe(y) for y in x]
    return None


# ---------------------------------------------------------------------------- hooks

@dataclass
class _Recorder:
    """Forward hooks on every spec item: output shapes, the layer being run, refit checks."""

    nodes: dict  # path -> Node
    ctx: BuildContext
    act_budget: int
    device: str
    activations: bool = False
    stack: list = field(default_factory=list)
    outputs: dict = field(default_factory=dict)  # path -> Output, for the current run
    acts: dict = field(default_factory=dict)
    in_shapes: dict = field(default_factory=dict)  # path -> the shapes it was last given (for error messages)
    run: int = 0
    progress: object = None
    _sizes: dict = field(default_factory=dict)

    def pre(self, path):
        node = self.nodes[path]

        def hook(module, inputs):
            self.stack.append(path)
            self.in_shapes[path] = [list(x.shape) if isinstance(x, torch.Tensor) else x for x in inputs]
            if self.run > 0 and not node.is_container and path in self.sizes:
                check_refit(node, self.sizes[path], inputs)
        return hook

    def post(self, path):
        def hook(module, inputs, output):
            self.stack.pop()
            self.outputs[path] = describe(output)
            if self.progress is not None and self.run == 0:
                self.progress(len(self.outputs), len(self.nodes))
            if isinstance(output, torch.Tensor):
                if self.device != "meta" and output.numel() * output.element_size() > self.act_budget:
                    raise OverBudget(path)
                if self.activations and self.device != "meta" and output.is_floating_point() and output.numel():
                    o = output.detach().double()
                    self.acts[path] = {"mean": o.mean().item(), "std": o.std(correction=0).item()}
        return hook

    @property
    def sizes(self) -> dict:
        if len(self._sizes) != len(self.ctx.trace):  # rebuilt only when layers were added
            self._sizes = {t["layer"]: t["sizes"] for t in self.ctx.trace}
        return self._sizes


def _attach(model: nn.Module, rec: _Recorder) -> None:
    for path in rec.nodes:
        m = model.get_submodule(path)
        m.register_forward_pre_hook(rec.pre(path))
        m.register_forward_hook(rec.post(path))


def _run(model, xs, rec: _Recorder, spec: Spec):
    """One forward pass; any failure becomes a ShapeError naming the innermost layer."""
    rec.stack.clear()
    rec.outputs = {}
    try:
        with torch.no_grad():
            return model(*xs)
    except OverBudget:
        raise
    except ShapeCliError as e:
        raise _locate(e.problems[0].message, rec, spec, xs) from e
    except (RuntimeError, ValueError, TypeError, IndexError, AssertionError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "can't allocate memory" in msg or "DefaultCPUAllocator" in msg:
            raise OverBudget("allocation") from e
        raise _locate(literal(msg, 200), rec, spec, xs, with_input=True) from e


def _locate(message: str, rec: _Recorder, spec: Spec, xs, with_input: bool = False) -> ShapeError:
    """The error at the innermost layer still running; torch's own messages get that layer's input shape."""
    path = rec.stack[-1] if rec.stack else None
    if path is None:
        return ShapeError(Problem(f"{message} (input {shape_of(xs)})", None))
    node = rec.nodes[path]
    if with_input and path in rec.in_shapes:
        message = f"input {', '.join(map(str, rec.in_shapes[path]))}: {message}"
    return ShapeError(Problem(message, node.loc, node.label()))


# ---------------------------------------------------------------------------- the pass

def materialize(spec: Spec, inputs: list | None = None, options: Options | None = None, **kw):
    """Build a fresh model from `spec`, push `inputs` through it, return (model, Report).

    `inputs`: a list of samples, each a list of InputSpec (one per model input); the first sample
    materializes the model. Defaults to the spec's `input`. Keyword arguments set Options fields.
    When the first sample names dimensions (`B,3,H,W`), a symbolic pass adds each layer's output
    shape as formulas and the constraints the network puts on the named sizes.
    """
    opts = options or Options(**kw)
    model, report = _engine(spec, inputs, opts)
    first = inputs[0] if inputs else spec.inputs
    if opts.symbolic and any(i.symbolic for i in first):
        symbolic(model, report, first)
    return model, report


def symbolic(model: nn.Module, report: Report, sample: list) -> None:
    """Run the symbolic pass (symbolic/) for a sample with named dims and attach it to the report."""
    from . import symbolic as sym

    layers = {lay.path: model.get_submodule(lay.path) for lay in report.layers}
    layers[""] = model
    names = [d.name for d in sample[0].dims]
    batch = next((i for i, n in enumerate(names) if n in ("B", "N", "batch", "batch_size")), 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = sym.symbolic_pass(model, [(i.dims, _dtype(i.dtype)) for i in sample], layers, batch_dim=batch)
    sym.attach(report, result)
    report.symbolic["input_dims"] = [",".join(map(str, i.dims)) + ("" if i.dtype == "float32" else f":{i.dtype}")
                                     for i in sample]  # as `--input` text: how a baseline re-runs it
    if not result.batch_ok and result.batch_issue:  # constraints stay in report.symbolic: they are facts, not faults
        report.diagnostics.append(Diagnostic("warning", "batch-folded", literal(result.batch_issue, 300)))


def _engine(spec: Spec, inputs: list | None, opts: Options):
    """Materialize on the right device: real CPU tensors within the budget, else meta."""
    if type(opts.seed) is not int or not -(1 << 63) <= opts.seed < (1 << 64) - 1:  # torch's seed range (seed + 1 too)
        raise UsageError(f"--seed {literal(opts.seed, 40)}: give an integer from {-(1 << 63)} to {(1 << 64) - 2}")
    samples = inputs or ([spec.inputs] if spec.inputs else None)
    if not samples or not samples[0]:
        raise UsageError(f"{spec.file}: the spec has no `input:`; give a sample input with --input (e.g. --input 2,20)")
    device = opts.device
    biggest = max(_bytes(s) for s in samples)  # every sample runs on the device the first one chose
    if device == "auto":
        device = "meta" if biggest > opts.act_budget else "cpu"
    elif device == "cpu" and biggest > opts.act_budget:  # refuse before allocating (or being OOM-killed)
        big = next(s for s in samples if _bytes(s) == biggest)
        raise UsageError(f"the sample input {';'.join(','.join(map(str, i.shape)) for i in big)}: {biggest:,} bytes is more than "
                         f"one tensor may take on cpu ({opts.act_budget:,}); use --device meta (shapes only)")
    if device == "cpu" and opts.device == "auto" and _table_bytes(spec) > opts.budget // 4:
        # Big embedding tables (GPT-2 small): a shape pass on meta decides first, rather than
        # filling memory up to the budget with real values and then starting again on meta.
        try:
            model, report = _materialize(spec, samples, opts, "meta")
            if report.totals.param_bytes + report.totals.buffer_bytes > opts.budget:
                return model, report
        except (ShapeCliError, OverBudget):
            pass  # the CPU pass below reports it in its own terms
    try:
        return _materialize(spec, samples, opts, device)
    except OverBudget:
        if opts.device != "auto":
            raise UsageError(f"{spec.file}: the model needs more memory than --max-memory allows on {device}; "
                             "use --device meta (shapes only) or raise --max-memory") from None
    gc.collect()  # the failed attempt's real tensors sit in a reference cycle (model <-> context): free them first
    return _materialize(spec, samples, opts, "meta")


def _table_bytes(spec: Spec) -> int:
    """float32 bytes of the spec's Embedding tables: sizes known before any data arrives."""
    total = 0
    for n in spec.nodes():
        if n.type in ("Embedding", "EmbeddingBag"):
            a = dict(zip(("num_embeddings", "embedding_dim"), n.args)) | n.kwargs
            v, d = a.get("num_embeddings"), a.get("embedding_dim")
            if type(v) is int and type(d) is int and v > 0 and d > 0:
                total += v * d * 4
    return total


def _materialize(spec: Spec, samples: list, opts: Options, device: str):
    if device == "meta":
        with fast_meta():  # meta kernels: skip importing torch._dynamo and searching for numpy (seconds)
            return _materialize_on(spec, samples, opts, device)
    return _materialize_on(spec, samples, opts, device)


def _materialize_on(spec: Spec, samples: list, opts: Options, device: str):
    ctx = BuildContext(budget_bytes=opts.budget if device != "meta" else math.inf)
    measurer = None
    if device != "meta":
        ctx.guard = _OutputGuard(opts.act_budget)
        if opts.stats:
            ctx.on_built = measurer = _Measurer(opts.histograms)
    model = build(spec, ctx)
    nodes = {n.path: n for n in spec.nodes() if n.path}
    rec = _Recorder(nodes, ctx, opts.act_budget, device, opts.activations)
    rec.progress = opts.progress
    _attach(model, rec)
    runs, per_run = [], []
    try:
        # torch's own warnings (e.g. "LSTM with projections is not supported with oneDNN") become
        # diagnostics in the report instead of raw Python warnings on the user's stderr.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _runs(model, spec, samples, opts, device, rec, runs, per_run)
            looks = measurer.results() if measurer else {}
    finally:
        if measurer:
            measurer.stop()
    with _threads(1):  # what gather still measures (lints past the statistics budget, sampled stats): one thread, as _Measurer
        report = gather(spec, model, runs, per_run, ctx, device, opts, rec.acts, looks)
    seen = set()
    for w in caught:
        text = str(w.message).split(" (Triggered internally")[0].strip()
        if text not in seen and "Failed to initialize NumPy" not in text:
            seen.add(text)
            report.diagnostics.append(Diagnostic("info", "torch-warning", literal(text, 200)))
    return model, report


def _runs(model, spec, samples, opts, device, rec, runs, per_run) -> None:
    for i, sample in enumerate(samples):
        rec.run = i
        xs = make_inputs(sample, device, opts.seed)
        info = [TensorInfo(s.shape, s.dtype) for s in sample]
        if i == 0:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(opts.seed)
                out = _run(model, xs, rec, spec)  # ShapeError propagates: nothing to report
            runs.append(Run(info, describe(out)))
        else:
            try:
                out = _run(model, xs, rec, spec)
                runs.append(Run(info, describe(out)))
            except ShapeError as e:
                p = e.problems[0]
                runs.append(Run(info, None, p.message, p.layer))
        per_run.append(dict(rec.outputs))


# ---------------------------------------------------------------------------- gathering

class _Measurer:
    """Looks at each parameter's values (init.look: statistics, histogram, lints) as soon as its
    layer is built and initialized, on a second thread.

    torch's kernels release the GIL, so where a second core is free the statistics of the layers
    built so far are computed while the forward pass goes on, instead of after it (ResNet-50:
    about 0.2 s of statistics over 25.6M values off the critical path). Parameters are taken in
    the order they are built, up to STATS_MAX_NUMEL values per model; the rest get analytic
    statistics. The thread runs one intra-op thread of its own (OpenMP's setting is per thread).
    """

    def __init__(self, histograms: bool):
        self.histograms = histograms
        self.left = STATS_MAX_NUMEL
        self.seen: set = set()
        self.looks: dict = {}  # id(parameter) -> (parameter, init.Look)
        self.error: BaseException | None = None
        self.stopped = False
        self.todo: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._work, name="shapecli-measure", daemon=True)
        self.thread.start()

    def __call__(self, path: str, layer: nn.Module) -> None:  # BuildContext.on_built
        for local, prm in layer.named_parameters():
            if id(prm) in self.seen or prm.numel() > self.left:  # tied: measured where it was built
                continue
            self.seen.add(id(prm))
            self.left -= prm.numel()
            self.todo.put((prm, f"{path}.{local}", path))

    def _work(self) -> None:
        torch.set_num_threads(1)
        while (item := self.todo.get()) is not None:
            self._look(item)

    def _look(self, item) -> None:
        from . import init as initmod

        if self.stopped or self.error is not None:
            return
        prm, name, layer = item
        try:
            with torch.no_grad():
                look = initmod.look(name, layer, prm, histograms=self.histograms, lint=prm.numel() <= LINT_MAX_NUMEL)
        except BaseException as e:  # noqa: BLE001 - raised again in the caller's thread
            self.error = e
            return
        self.looks[id(prm)] = (prm, look)

    def results(self) -> dict:
        """Every parameter handed over so far, looked at: {id(parameter): (parameter, Look)}.
        The caller's thread, done with the forward pass, takes a share of the big tensors left
        (small ones are Python-bound: two threads would only take turns at the GIL)."""
        with _threads(1):
            for _ in range(self.todo.qsize()):  # one pass over what is queued now
                try:
                    item = self.todo.get_nowait()
                except queue.Empty:
                    break
                if item is not None and item[0].numel() >= HELP_MIN_NUMEL:
                    self._look(item)
                else:
                    self.todo.put(item)  # back to the measuring thread (the order does not matter)
        self.todo.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.looks

    def stop(self) -> None:
        """Drop whatever is still queued (a failed run) and end the thread."""
        self.stopped = True
        if self.thread.is_alive():
            self.todo.put(None)
            self.thread.join()


def gather(spec: Spec, model: nn.Module, runs, per_run, ctx, device: str, opts: Options, acts,
           looks: dict | None = None) -> Report:
    """The Report of a materialized model. `looks`: _Measurer.results() (CPU statistics)."""
    from . import init as initmod
    nodes = [n for n in spec.nodes() if n.path]
    paths = {n.path: n for n in nodes}

    def owner(name: str) -> str:
        parts = name.split(".")
        for k in range(len(parts) - 1, 0, -1):
            p = ".".join(parts[:k])
            if p in paths:
                return p
        return ""

    seen: dict = {}
    params, lints = [], []
    looks = looks or {}
    for name, prm in model.named_parameters(remove_duplicate=False):
        layer = owner(name)
        info = ParamInfo(name, layer, list(prm.shape), prm.numel(), str(prm.dtype).replace("torch.", ""),
                         prm.requires_grad)
        if id(prm) in seen:
            info.shared_with = seen[id(prm)]
            params.append(info)
            continue
        seen[id(prm)] = name
        local = name[len(layer) + 1:] if layer else name
        module = model.get_submodule(layer) if layer else model
        scheme = ctx.schemes.get(layer, {}).get(local)  # what model.py applied
        try:
            info.init = initmod.expected(module, local, list(prm.shape), scheme)
        except Exception:  # an init formula we lack must not break the report
            info.init = InitInfo(scheme=scheme.describe() if scheme else "default")
        looked = looks.get(id(prm))
        if looked is not None and looked[0] is prm:
            look = looked[1]
            info.stats, info.histogram = look.stats, look.histogram
            if info.init and info.init.expected:
                info.init.flagged = initmod.flag(info.stats, info.init, prm.numel(), dtype=info.dtype)
            for d in look.lints:  # named as the report names the parameter
                d.param, d.layer = name, layer
            lints.extend(look.lints)
        elif opts.sampled and info.init and info.init.expected:
            info.stats = initmod.sampled_measure(list(prm.shape), module, local, scheme, seed=opts.seed)
        elif info.init and info.init.expected:
            e = info.init.expected
            info.stats = Stats(e.mean, e.std, e.min, e.max, source="analytic")
        if looked is None and device != "meta" and prm.numel() <= LINT_MAX_NUMEL:  # beyond the statistics budget
            lints.extend(initmod.lint_tensor(name, layer, prm.detach()))
        params.append(info)

    buffers = [BufferInfo(n, owner(n), list(b.shape), b.numel(), str(b.dtype).replace("torch.", ""))
               for n, b in model.named_buffers()]

    counted = [p for p in params if p.shared_with is None]
    by_dtype: dict = {}
    for p in counted:
        by_dtype[p.dtype] = by_dtype.get(p.dtype, 0) + p.numel * _itemsize(p.dtype)
    buf_bytes = 0
    for b in buffers:
        n = b.numel * _itemsize(b.dtype)
        buf_bytes += n
        by_dtype[b.dtype] = by_dtype.get(b.dtype, 0) + n
    totals = Totals(params=sum(p.numel for p in counted), trainable=sum(p.numel for p in counted if p.trainable),
                    buffers=sum(b.numel for b in buffers), bytes=by_dtype,
                    param_bytes=sum(p.numel * _itemsize(p.dtype) for p in counted), buffer_bytes=buf_bytes)

    sizes = {t["layer"]: t for t in ctx.trace}
    owned: dict = {}  # layer path -> the counted parameters it or its descendants own (one pass, not nodes x params)
    for p in counted:
        parts = p.layer.split(".") if p.layer else []
        for k in range(1, len(parts) + 1):
            owned.setdefault(".".join(parts[:k]), []).append(p)
    layers = []
    for n in nodes:
        own = owned.get(n.path, ())
        t = sizes.get(n.path, {})
        layers.append(LayerInfo(
            path=n.path, type=n.block or n.type, depth=n.path.count("."),
            args=dict(t.get("args", {})), inferred=dict(t.get("inferred", {})),
            output_shapes=[r.get(n.path) for r in per_run],
            params=sum(p.numel for p in own), trainable=sum(p.numel for p in own if p.trainable),
            line=n.loc.line, col=n.loc.col, is_container=n.is_container,
            activation=acts.get(n.path)))

    diagnostics = lints + initmod.lint_gain(_weight_stack(nodes, ctx.schemes))
    for d in diagnostics:
        n = paths.get(d.layer or "")
        if n is not None:
            d.line, d.col = n.loc.line, n.loc.col

    return Report(name=spec.name, spec_file=spec.file, seed=opts.seed,
                  torch_version=torch.__version__.split("+")[0], device=device, runs=runs, layers=layers,
                  params=params, buffers=buffers, totals=totals, diagnostics=diagnostics,
                  init_trace=[{"order": t["order"], "layer": t["layer"], "type": t["type"],
                               "inferred": t["inferred"], "schemes": t["schemes"]} for t in ctx.trace])


class _OutputGuard:
    """Before a real layer runs: if its output would exceed the budget, shape on meta instead.

    Most layers' outputs are no bigger than their inputs and weights (checked after them); these
    are the ones that can blow up from a small input: upsampling, padding, convolutions, and
    layers whose output width comes from an argument (Linear, Embedding).
    """

    def __init__(self, limit: int):
        self.limit = limit

    def __call__(self, module, inputs):
        x = inputs[0] if inputs else None
        if not isinstance(x, torch.Tensor) or x.dim() == 0:
            return
        n = _output_numel(module, x)
        if n is not None and n * 4 > self.limit:  # float32 output
            raise OverBudget(type(module).__name__)


def _output_numel(m: nn.Module, x) -> int | None:
    shape = list(x.shape)
    if isinstance(m, nn.Upsample):  # UpsamplingNearest2d/Bilinear2d too
        lead, spatial = shape[:2], shape[2:]
        if m.size is not None:
            size = m.size if isinstance(m.size, (tuple, list)) else [m.size] * len(spatial)
            return math.prod(lead) * math.prod(size)
        f = m.scale_factor if isinstance(m.scale_factor, (tuple, list)) else [m.scale_factor or 1] * len(spatial)
        return math.prod(lead) * math.prod(math.ceil(d * s) for d, s in zip(spatial, f))
    if type(m).__name__.startswith(("ZeroPad", "ConstantPad", "ReflectionPad", "ReplicationPad", "CircularPad")):
        pad = list(m.padding)
        grown = [shape[-1 - i // 2] for i in range(len(pad))]
        out = list(shape)
        for i in range(0, len(pad), 2):
            out[-1 - i // 2] = grown[i] + pad[i] + pad[i + 1]
        return math.prod(out)
    if isinstance(m, nn.modules.conv._ConvTransposeNd):
        n = len(m.stride)
        spatial = shape[-n:]
        out = [(d - 1) * s + dl * (k - 1) + op + 1 for d, s, dl, k, op in
               zip(spatial, m.stride, m.dilation, m.kernel_size, m.output_padding)]
        return math.prod(shape[:-n - 1]) * m.out_channels * math.prod(out)
    if isinstance(m, nn.modules.conv._ConvNd):  # many output channels from a small kernel
        n = len(m.stride)
        spatial = shape[-n:]
        if isinstance(m.padding, str):
            out = spatial if m.padding == "same" else [d - dl * (k - 1) for d, dl, k in zip(spatial, m.dilation, m.kernel_size)]
        else:
            out = [(d + 2 * p - dl * (k - 1) - 1) // s + 1 for d, p, dl, k, s in
                   zip(spatial, m.padding, m.dilation, m.kernel_size, m.stride)]
        return math.prod(shape[:-n - 1]) * m.out_channels * math.prod(max(o, 0) for o in out)
    if isinstance(m, nn.Linear):
        return math.prod(shape[:-1]) * m.out_features
    if isinstance(m, nn.Embedding):
        return math.prod(shape) * m.embedding_dim
    return None


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
            if registry.get(m.type).group in ("activation", "norm"):
                after = m.type
                break
            if "weight" in schemes.get(m.path, {}):
                break
        out.append((n.path, n.type, schemes[n.path]["weight"], after))
    return out


def _itemsize(dtype: str) -> int:
    return _dtype(dtype).itemsize if dtype in _SIZES else 4


class _threads:
    """Run a block with `n` intra-op threads (None: leave as is)."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        if self.n is not None:
            self.old = torch.get_num_threads()
            torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        if self.n is not None:
            torch.set_num_threads(self.old)


_SIZES = {"float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool", "complex64"}
