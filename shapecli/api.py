"""The library: every workflow the CLI offers, as a call that returns plain data.

    import shapecli
    report = shapecli.inspect("configs/mlp.yaml", "2,20", flops=True)   # the complete Report
    run = shapecli.check(["configs/"])                                  # run.results, run.exit_code
    run = shapecli.snapshot("configs/mlp.yaml")                         # writes configs/mlp.shapes.json

A spec is a path (str or os.PathLike, '-' for stdin), spec text (a str with a newline), or a
Spec. Inputs are what --input takes, as text ("2,20", "B,3,H=224,W=224", "2,16:int64",
"2,10;2,20" for two tensors) or as a shape ((2, 20), a torch.Size), a list of those (one sample
each: the first materializes the model), a list of InputSpec (one sample), or a list of samples
(each a text, a shape, a list of shapes or a list of InputSpec). Dtypes are what --dtype and
--input take: "bfloat16", "bf16", "fp16", ..., or a torch.dtype (shapecli/dtypes.py parses both). Bad arguments raise shapecli.errors.UsageError; an invalid spec SpecError;
a spec that data cannot flow through ShapeError (all ShapeCliError, exit code 2).
Importing this module does not import torch: the calls that need it import it when called.
"""
from __future__ import annotations

import os

from shapecli.load import load_spec, parse_spec

__all__ = ["build", "check", "inspect", "load_spec", "materialize", "parse_input", "parse_spec", "run_problems",
           "snapshot", "summary"]


def parse_input(text: str, spec=None) -> list:
    """`"2,20"` or `"B,3,H=224,W=224"` into a sample: a list of InputSpec, one per model input."""
    from shapecli.spec.inputs import parse_input_text

    return parse_input_text(text, spec.inputs if spec is not None else None)


def build(spec):
    """The lazy nn.Module for a spec: parameters appear when the first input arrives."""
    from shapecli.model.build import build as _build

    return _build(_spec(spec))


def materialize(spec, inputs=None, **options):
    """(model, report): a fresh model materialized by the first of `inputs`, each input's outcome reported.

    Options (run.engine.Options): seed=0, device="auto"|"cpu"|"meta", budget, stats, activations,
    sampled, dtypes, flops, backward, progress. See `inspect` for what they mean.
    """
    from shapecli.run.engine import materialize as _materialize

    sp = _spec(spec)
    return _materialize(sp, _samples(inputs, sp), **options)


def inspect(spec, inputs=None, *, overrides: dict | None = None, seed: int = 0, device: str = "auto",
            dtypes=None, flops: bool = False, backward: bool = False, estimates: bool = False,
            activations: bool = False, stats: bool = True, sampled: bool = False, budget: int | None = None,
            progress=None):
    """The complete Report of a spec: what the CLI's `inspect` prints, built once.

    `spec` may also be a model written in Python: a target text (`"pkg.mod:Net"`,
    `"net.py:make(width=64)"`: its module is imported) or an nn.Module (see `summary`).

    inputs: `--input` text (`"2,20"`, several samples as a list), or for a spec with named inputs
    `{"src": "2,7", "tgt": (2, 5)}` (an input left out keeps the spec's). overrides: `--set` values
    for a spec path or text. device: "auto" (real CPU tensors within
    `budget` bytes of parameters, else meta), "cpu" or "meta". dtypes: memory estimates for these
    dtypes (names or "float32,bf16" text); flops: count forward FLOPs per layer; backward: also
    backward and training-step FLOPs; estimates: all of them (dtypes default float32, bfloat16).
    activations: each layer's output mean/std at init. stats: measured init statistics.
    sampled: on meta, statistics of a sample of each init distribution. progress(done, total):
    called during the first pass. An input named by dimensions (`B,3,H,W`) adds symbolic shapes.
    A later input that does not fit is reported in `report.runs` (see `run_problems`).
    """
    from shapecli.baseline.workflow import check_device

    check_device(device)
    args = (seed, device, dtypes, flops, backward, estimates, activations, stats, sampled, budget, progress)
    if _is_python(spec):  # a model written in Python: an nn.Module, or a target named by the caller
        if overrides:
            from shapecli.errors import UsageError

            raise UsageError("overrides (--set) apply to specs; give a Python target its arguments: "
                             "'pkg.mod:make(width=64)'")
        from shapecli.python.run import inspect_module

        opts = _options(*args)
        model, name, source = _python_model(spec, device, opts.budget)
        return inspect_module(model, _samples(inputs, None), opts, name=name, source=source)[1]
    sp = _spec(spec, overrides)
    samples = _samples(inputs, sp)
    from shapecli.run.engine import materialize as _materialize

    return _materialize(sp, samples, _options(*args))[1]


def summary(model, input_size=None, input_data=None, *, dtypes=None, device=None, seed: int = 0,
            stats: bool = True, estimates: bool = False, flops: bool = False, activations: bool = False,
            budget: int | None = None):
    """The Report of an nn.Module you already have, with torchinfo's argument names; the model is
    never touched (a structural copy runs: docs/python.md).

    input_size: a shape (`(1, 3, 224, 224)`), a list of shapes (one per model input), or `--input`
    text (`"B,3,H=224,W=224"`, named dims add symbolic shapes). input_data: a tensor or a list of
    tensors (only their shapes and dtypes are used). dtypes: a dtype per input (torch.int64, "int64",
    "bf16": what --input takes after its colon).
    device: None/"auto" (real CPU values for a CPU model within the budgets, else meta), "cpu" or
    "meta" (shapes only). estimates/flops: as for `inspect`.
    """
    from shapecli.baseline.workflow import check_device
    from shapecli.python.run import inspect_module, samples_from

    device = check_device("auto" if device is None else str(device))
    if isinstance(input_size, str):
        sample = parse_input(input_size)
        if dtypes is not None:  # "1,16" with dtypes=[torch.int64]: as "1,16:int64"
            sample = parse_input(";".join(f"{t}:{d}" for t, d in zip(input_size.split(";"), _count(dtypes, sample))))
    else:
        sample = samples_from(input_size, input_data, dtypes)
    opts = _options(seed, device, None, flops, False, estimates, activations, stats, False, budget, None)
    return inspect_module(model, [sample], opts, name=type(model).__name__, source=_instance_source(model))[1]


def _count(dtypes, sample) -> list:
    from shapecli.errors import UsageError

    dtypes = [dtypes] if isinstance(dtypes, str) or not hasattr(dtypes, "__iter__") else list(dtypes)
    if len(dtypes) != len(sample):
        raise UsageError(f"dtypes: {len(dtypes)} given for {len(sample)} inputs")
    return [str(d) for d in dtypes]


def _options(seed, device, dtypes, flops, backward, estimates, activations, stats, sampled, budget, progress):
    names = None
    if dtypes or flops or backward or estimates:
        from shapecli.dtypes import parse_estimate

        names = parse_estimate(dtypes) or (
            ["float32", "bfloat16"] if estimates else ["float32"])
    from shapecli.run.engine import Options

    opts = Options(seed=seed, device=device, progress=progress, activations=activations, stats=stats,
                   sampled=sampled, dtypes=names, flops=flops or estimates, backward=backward or estimates)
    if budget is not None:
        opts.budget = budget
    return opts


def _is_python(spec) -> bool:
    import sys

    if isinstance(spec, str):
        from shapecli.python.target import is_target

        return "\n" not in spec and is_target(spec)
    torch = sys.modules.get("torch")  # an nn.Module means torch is imported already
    return torch is not None and isinstance(spec, torch.nn.Module)


def _python_model(spec, device: str, budget: int):
    """(model, name, source) for an nn.Module or a target text (imported: the caller named it)."""
    if isinstance(spec, str):
        from shapecli.python.run import load_target
        from shapecli.python.target import parse

        return load_target(spec, device, budget), parse(spec).name, parse(spec).text
    return spec, type(spec).__name__, _instance_source(spec)


def _instance_source(model) -> str:
    return f"<{type(model).__qualname__}>"


def snapshot(specs, out: str | None = None, inputs=None, overrides: dict | None = None, *, force: bool = False,
             stats: bool = False, seed: int = 0, device: str = "auto", progress=None):
    """Record each spec's architecture in a baseline (baseline/workflow.py): a SnapshotRun.

    specs: paths, directories or globs of spec files. out: a file (one spec), a directory, or "-"
    (each result's `text`); default: beside each spec (x.yaml -> x.shapes.json). inputs: `--input`
    texts to record. An existing baseline that differs is replaced only with `force`.
    exit_code: 0, or 2 when some spec could not be recorded.
    """
    from shapecli.baseline.workflow import snapshot as _snapshot

    texts = None if inputs is None else [inputs] if isinstance(inputs, str) else list(inputs)
    return _snapshot(_paths(specs), out, texts, overrides, force=force, stats=stats, seed=seed, device=device,
                     progress=progress)


def check(specs, baseline: str | None = None, *, update: bool = False, stats: bool = False,
          tolerance: float | None = None, skip_missing: bool = False, device: str = "auto", progress=None):
    """Check each spec against its baseline (baseline/workflow.py): a CheckRun.

    baseline: a file (one spec) or a directory; default: beside each spec. A checkpoint
    (`.safetensors`, `.pt`, `.pth`, `.bin`) is compared by names, shapes and dtypes with the spec
    built from its own input (docs/checkpoints.md); it is never written (no `update`, no `stats`).
    tolerance: relative, for `stats` (default baseline.DEFAULT_TOLERANCE).
    results: a baseline.Result per spec (status ok, changed, error or skipped; its changes).
    exit_code: 0 all match · 1 an architecture changed · 2 something could not be checked.
    """
    from shapecli.baseline.workflow import DEFAULT_TOLERANCE, check as _check

    return _check(_paths(specs), baseline, update=update, stats=stats,
                  tolerance=DEFAULT_TOLERANCE if tolerance is None else tolerance,
                  skip_missing=skip_missing, device=device, progress=progress)


def run_problems(report) -> list:
    """A Problem per sample input of `report` that did not fit the materialized model."""
    from shapecli.baseline.workflow import run_problems as _problems

    return _problems(report)


def _spec(spec, overrides: dict | None = None):
    if isinstance(spec, str) and "\n" in spec:
        return parse_spec(spec, "<spec>", overrides)
    if isinstance(spec, (str, bytes)) or hasattr(spec, "__fspath__"):
        return load_spec(os.fsdecode(spec), overrides)
    if overrides:
        from shapecli.errors import UsageError

        raise UsageError("overrides apply to a spec file or text; this spec is already parsed")
    return spec


def _samples(inputs, spec):
    """None (the spec's input), or a list of samples, each a list of InputSpec. A shape is read as its
    --input text (`(2, 20)` as "2,20"), so it takes the spec's dtype as --input does."""
    if inputs is None:
        return None
    from shapecli.spec.nodes import InputSpec

    if isinstance(inputs, dict):  # {"src": "2,7:int64", "tgt": (2, 5)}: a spec's named inputs, one sample
        inputs = ";".join(f"{k}={v if isinstance(v, str) else ','.join(map(str, v))}" for k, v in inputs.items())
    if isinstance(inputs, str) or _is_shape(inputs):
        inputs = [inputs]
    inputs = list(inputs)
    if inputs and all(isinstance(s, InputSpec) for s in inputs):
        return [inputs]
    return [_sample(s, spec) for s in inputs]


def _is_shape(x) -> bool:
    """(2, 20), [2, 20] or a torch.Size: whole numbers only."""
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(type(d) is int for d in x)


def _sample(s, spec) -> list:
    from shapecli.errors import UsageError
    from shapecli.spec.nodes import InputSpec

    if isinstance(s, str):
        return parse_input(s, spec)
    if _is_shape(s):
        return parse_input(",".join(map(str, s)), spec)
    if isinstance(s, (list, tuple)) and s and all(isinstance(t, InputSpec) for t in s):
        return list(s)
    if isinstance(s, (list, tuple)) and s and all(_is_shape(t) for t in s):  # one sample of several tensors
        return parse_input(";".join(",".join(map(str, t)) for t in s), spec)
    raise UsageError(f"inputs: {s!r} is not a sample: give text ('2,20' or 'B,3,H=224,W=224'), a shape (2, 20), "
                     "a list of shapes (one per model input) or a list of InputSpec")


def _paths(specs) -> list:
    if isinstance(specs, (str, bytes)) or hasattr(specs, "__fspath__"):
        specs = [specs]
    return [os.fsdecode(s) for s in specs]
