"""Materialize: push sample inputs through a fresh lazy model, run the analyses asked for, and
build the Report once from their parts (run/assemble.py).

The first input materializes the model (RNG seeded right before, on a fork so the caller's
global RNG is untouched: run/rng.py); each later input goes through the same materialized model,
as calling `net(X)` again would. Small models run for real on the CPU, giving real init
statistics; a model whose parameters or activations would exceed the memory budget is shaped on
the meta device instead (no memory, analytic statistics).
"""
from __future__ import annotations

import gc
import math
from dataclasses import dataclass

from shapecli import layers as registry
from shapecli import warncapture
from shapecli._torch import nn, torch
from shapecli.errors import ShapeCliError, ShapeError, UsageError, literal
from shapecli.spec.problems import built_with_sets
from shapecli.model.build import build
from shapecli.model.lazy import BuildContext, OverBudget
from shapecli.report import (
    Diagnostic,
    Report,
    Run,
    TensorInfo,
)
from shapecli.run import rng
from shapecli.run.assemble import assemble
from shapecli.run.collect import Gathered, gather
from shapecli.run.guard import _OutputGuard
from shapecli.run.hooks import _attach, _Recorder, _run, attach_swapped, detach, release
from shapecli.run.inputs import _bytes, _dtype, describe, make_inputs
from shapecli.run.measure import _Measurer
from shapecli.run.outline import of_spec
from shapecli.run.threads import one_thread
from shapecli.spec.nodes import TENSORS, Spec

DEFAULT_BUDGET = 256 << 20  # real parameter bytes before switching to meta; see docs/performance.md
DEFAULT_ACT_BUDGET = 512 << 20  # one activation tensor


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
    dtypes: list | None = None  # memory estimates for these dtypes (analyses/estimate.py); float32 with flops
    flops: bool = False  # count forward FLOPs per layer
    backward: bool = False  # also estimate backward and training-step FLOPs (implies flops)


# ---------------------------------------------------------------------------- the pass

def materialize(spec: Spec, inputs: list | None = None, options: Options | None = None, **kw) -> tuple[nn.Module, Report]:
    """Build a fresh model from `spec`, push `inputs` through it, return (model, Report).

    `inputs`: a list of samples, each a list of InputSpec (one per model input); the first sample
    materializes the model. Defaults to the spec's `input`. Keyword arguments set Options fields.
    When the first sample names dimensions (`B,3,H,W`), a symbolic pass adds each layer's output
    shape as formulas and the constraints the network puts on the named sizes; `dtypes`, `flops`
    and `backward` add estimates. The Report is built once, from every pass's result.
    """
    opts = options or Options(**kw)
    model, gathered = shape(spec, inputs, opts)
    return model, analyse(model, gathered, inputs[0] if inputs else spec.inputs, opts)


def analyse(model: nn.Module, gathered: Gathered, first: list, opts: Options) -> Report:
    """The later analyses `opts` asks for (symbolic shapes for named dims, estimates) and the Report
    built once from every part. `first`: the first sample, as InputSpecs."""
    sym = symbolic(model, gathered.layers, first) if opts.symbolic and any(i.symbolic for i in first) else None
    est = None
    if opts.dtypes or opts.flops or opts.backward:
        from shapecli.analyses.estimate import estimate

        est = estimate(model, gathered, None, opts.dtypes or None, flops=opts.flops or opts.backward,
                       backward=opts.backward)
    return assemble(gathered, sym, est)


def shape(spec: Spec, inputs: list | None, opts: Options) -> tuple[nn.Module, Gathered]:
    """The materialized model and what gathering learned from it (no symbolic pass, no estimates)."""
    return _engine(spec, inputs, opts)


def symbolic(model: nn.Module, layers: list, sample: list):
    """The symbolic pass (analyses/symbolic/) for a sample with named dims: a SymbolicResult.

    `layers`: the [LayerInfo] whose outputs get formulas (their paths name submodules of `model`).
    """
    from shapecli.analyses import symbolic as sym

    modules = {lay.path: model.get_submodule(lay.path) for lay in layers if lay.type not in TENSORS}
    modules[""] = model
    names = [d.name for d in sample[0].dims]
    batch = next((i for i, n in enumerate(names) if n in ("B", "N", "batch", "batch_size")), 0)
    # Under the run lock (run/rng.py): run concurrently with another thread's materialization the
    # pass once returned a different constraint (tests/test_threads.py); torch state that
    # `torch.device(...)` contexts set process-wide (torch.utils._device.CURRENT_DEVICE) is the suspect.
    with warncapture.ignore(), rng.forked():
        result = sym.symbolic_pass(model, [(i.dims, _dtype(i.dtype)) for i in sample], modules, batch_dim=batch)
    result.input_dims = [",".join(map(str, i.dims)) + ("" if i.dtype == "float32" else f":{i.dtype}")
                         for i in sample]  # as `--input` text: how a baseline re-runs it
    return result


def _engine(spec: Spec, inputs: list | None, opts: Options):
    """Materialize on the right device: real CPU tensors within the budget, else meta."""
    check_seed(opts.seed)
    samples = inputs or ([spec.inputs] if spec.inputs else None)
    if not samples or not samples[0]:
        raise UsageError(f"{spec.file}: the spec has no `input:`; give a sample input with --input (e.g. --input 2,20)")
    device = input_device(samples, opts)
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


def check_seed(seed) -> None:
    if type(seed) is not int or not -(1 << 63) <= seed < (1 << 64) - 1:  # torch's seed range (seed + 1 too)
        raise UsageError(f"--seed {literal(seed, 40)}: give an integer from {-(1 << 63)} to {(1 << 64) - 2}")


def input_device(samples: list, opts: Options) -> str:
    """The device the samples allow: opts.device, or for "auto" meta when an input is over the
    activation budget; UsageError for an input too big for --device cpu."""
    biggest = max(_bytes(s) for s in samples)  # every sample runs on the device the first one chose
    if opts.device == "auto":
        return "meta" if biggest > opts.act_budget else "cpu"
    if opts.device == "cpu" and biggest > opts.act_budget:  # refuse before allocating (or being OOM-killed)
        big = next(s for s in samples if _bytes(s) == biggest)
        raise UsageError(f"the sample input {';'.join(','.join(map(str, i.shape)) for i in big)}: {biggest:,} bytes is more than "
                         f"one tensor may take on cpu ({opts.act_budget:,}); use --device meta (shapes only)")
    return opts.device


def _table_bytes(spec: Spec) -> int:
    """float32 bytes of the spec's tables (Embedding's): sizes known before any data arrives."""
    total = 0
    for n in spec.nodes():
        lt = None if n.is_container else registry.REGISTRY.get(n.type)
        if lt is not None and lt.table:  # the table's sizes are its first positional arguments
            a = dict(zip(lt.table, n.args)) | n.kwargs
            sizes = [a.get(k) for k in lt.table]
            if all(type(v) is int and v > 0 for v in sizes):
                total += math.prod(sizes) * 4
    return total


def _materialize(spec: Spec, samples: list, opts: Options, device: str):
    # no placeholders: nobody sees this model before the first sample materializes it (10,000 layers: ~0.8 s)
    ctx = BuildContext(budget_bytes=opts.budget if device != "meta" else math.inf, placeholders=False)
    measurer = None
    if device != "meta":
        ctx.guard = _OutputGuard(opts.act_budget)
        if opts.stats:
            measurer = _Measurer(opts.histograms)
    fresh = _FreshState()  # what the sample passes change in a layer (BatchNorm's running statistics), as built
    ctx.on_built = _both(measurer, fresh) if device != "meta" else None
    try:
        model = build(spec, ctx)
    except BaseException:
        if measurer:  # a spec error found while building: end the measuring thread too
            measurer.stop()
        raise
    try:
        return shape_model(model, of_spec(spec), samples, opts, device, ctx, measurer, fresh=fresh)
    except ShapeError as e:
        if spec.sets:  # `--set d=7` that makes a constructor refuse: the message names it
            e.problems = built_with_sets(e.problems, spec.sets)
            e.args = ("\n".join(str(p) for p in e.problems),)
        raise


def shape_model(model: nn.Module, outline, samples: list, opts: Options, device: str, ctx: BuildContext,
                measurer=None, before_results=None, fresh=None) -> tuple[nn.Module, Gathered]:
    """Push `samples` through `model` with a hook on each layer of `outline` (run/outline.py) and
    gather what it holds: the one pass a spec's lazy model and a Python model share.
    `measurer`: a running _Measurer; `before_results(model)` runs after the forward passes, before
    the measurer's results are taken (a Python model hands over the parameters its lazy layers made)."""
    rec = _Recorder({d.path: d for d in outline.layers}, ctx, opts.act_budget, device, opts.activations)
    rec.progress = opts.progress
    rec.where = outline.where if outline.spec_file is None else None
    handles = _attach(model, rec)
    runs, per_run, per_run_inputs = [], [], []
    try:
        # torch's own warnings (e.g. "LSTM with projections is not supported with oneDNN") become
        # diagnostics in the report instead of raw Python warnings on the user's stderr.
        with warncapture.capture() as caught:  # thread-safe, unlike warnings.catch_warnings
            _runs(model, samples, opts, device, rec, runs, per_run, per_run_inputs)
            if before_results is not None:
                before_results(model)
            looks = measurer.results() if measurer else {}
    finally:
        if measurer:
            measurer.stop()
        release(rec)
        detach(model, handles + ctx.handles, moved=rec.on_placeholders)  # the model handed back is plain: no hook of the run's
        if fresh is not None:  # BatchNorm's running statistics as a fresh model has them
            fresh.restore()
    seen, notes = set(), []
    for w in caught:
        text = str(w.message).split(" (Triggered internally")[0].strip()
        if text not in seen and "Failed to initialize NumPy" not in text:
            seen.add(text)
            notes.append(Diagnostic("info", "torch-warning", literal(text, 200)))
    with one_thread():  # what gather still measures (lints past the statistics budget, sampled stats): one thread, as _Measurer
        return model, gather(outline, model, runs, per_run, ctx, device, opts, rec.acts, looks, notes, per_run_inputs)


class _FreshState:
    """Each built layer's running statistics as a fresh model has them, put back after the sample passes."""

    def __init__(self):
        self.kept: list = []  # (buffer, its value when built)

    def __call__(self, path: str, layer: nn.Module) -> None:  # BuildContext.on_built
        # a plain attribute (or the class's): a miss through nn.Module.__getattr__ costs ~10 µs a layer
        d = vars(layer)
        if d["track_running_stats"] if "track_running_stats" in d else getattr(type(layer), "track_running_stats", False):
            self.kept.extend((b, b.clone()) for b in layer.buffers())

    def restore(self) -> None:
        with torch.no_grad():
            for b, value in self.kept:
                b.copy_(value)
        self.kept.clear()


def _both(*calls):
    calls = [c for c in calls if c is not None]

    def on_built(path, layer):
        for c in calls:
            c(path, layer)
    return on_built


def _runs(model, samples, opts, device, rec, runs, per_run, per_run_inputs) -> None:
    with rng.forked():  # later inputs (Dropout) draw from the caller's RNG state, as `net(X)` would, on a fork
        _each(model, samples, opts, device, rec, runs, per_run, per_run_inputs)


def _each(model, samples, opts, device, rec, runs, per_run, per_run_inputs) -> None:
    for i, sample in enumerate(samples):
        rec.run = i
        xs = make_inputs(sample, device, opts.seed)
        info = [TensorInfo(s.shape, s.dtype) for s in sample]
        if i == 0:
            with rng.forked(opts.seed):
                out = _run(model, xs, rec)  # ShapeError propagates: nothing to report
            runs.append(Run(info, describe(out)))
        else:
            attach_swapped(model, rec)
            try:
                out = _run(model, xs, rec)
                runs.append(Run(info, describe(out)))
            except ShapeError as e:
                p = e.problems[0]
                runs.append(Run(info, None, p.message, p.layer))
        per_run.append(dict(rec.outputs))
        per_run_inputs.append(dict(rec.inputs))
