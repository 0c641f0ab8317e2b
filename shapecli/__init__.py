"""shapecli: inspect the shapes of a PyTorch network written as a YAML spec.

    import shapecli
    spec = shapecli.load_spec("configs/mlp.yaml")
    model = shapecli.build(spec)                      # lazy: no parameters yet
    model, report = shapecli.materialize(spec)        # a plain, materialized nn.Module + Report
    report = shapecli.inspect("configs/mlp.yaml", inputs="2,20")

Importing shapecli does not import torch; the functions that need it import it when called.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["load_spec", "parse_spec", "build", "materialize", "inspect", "parse_input", "export_code", "__version__"]


def load_spec(path, overrides=None):
    """Parse and validate a spec file ('-' for stdin) into a Spec."""
    from shapecli.spec.parser import load_spec as _load

    return _load(str(path), overrides)


def parse_spec(text: str, file: str = "<spec>", overrides=None):
    from shapecli.spec.parser import parse_spec as _parse

    return _parse(text, file, overrides)


def parse_input(text: str, spec=None):
    """`"2,20"` or `"B,3,H=224,W=224"` into a sample: a list of InputSpec, one per model input."""
    from shapecli.spec.parser import parse_input_text

    return parse_input_text(text, spec.inputs if spec is not None else None)


def build(spec):
    """The lazy nn.Module for a spec: parameters appear when the first input arrives."""
    from shapecli.model.lazy import build as _build

    return _build(spec)


def materialize(spec, inputs=None, **options):
    """(model, report): a fresh model materialized by the first of `inputs`, each input's outcome reported.

    `inputs`: None (the spec's `input`), a list of samples (each a list of InputSpec, or text like "2,20").
    Options: seed=0, device="auto"|"cpu"|"meta", budget, stats, activations.
    """
    from shapecli.run.engine import materialize as _mat

    if isinstance(spec, (str, bytes)) or hasattr(spec, "__fspath__"):
        spec = load_spec(spec)
    if inputs is not None:
        inputs = [parse_input(s, spec) if isinstance(s, str) else s for s in ([inputs] if isinstance(inputs, str) else inputs)]
    return _mat(spec, inputs, **options)


def inspect(spec, inputs=None, **options):
    """The Report for a spec (a path or a Spec): see shapecli.report.Report."""
    return materialize(spec, inputs, **options)[1]


def export_code(spec, inputs=None, class_name=None, **options) -> str:
    """A standalone PyTorch file (as text) for a spec: one class per block, sizes written out (docs/export.md)."""
    from shapecli.export import export_code as _export

    return _export(spec, inputs, class_name, **options)
