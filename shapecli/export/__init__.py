"""Export: a spec as a standalone PyTorch file (only `torch` and the standard library imported).

    source = shapecli.export_code("configs/resnet18.yaml")

The file holds one nn.Module class per block definition (per distinct structure of one) and the
model's class, every inferred size written out; constructed with the same seed, the model has
the spec model's parameter names, order, shapes, dtypes and initial values. docs/export.md.
"""
from __future__ import annotations

from shapecli.export.plan import ExportError, Plan

__all__ = ["ExportError", "Plan", "export_code"]


def export_code(spec, inputs=None, class_name: str | None = None, **options) -> str:
    """The Python source of a standalone module for `spec` (a Spec or a path), sized by `inputs`.

    `inputs`: as for shapecli.materialize (None: the spec's `input`). `class_name`: the model
    class's name (default: from the spec's name). Options go to materialize (seed, device, ...).
    """
    import shapecli
    from shapecli.export.emit import Emitter
    from shapecli.shapes import shape_text
    from shapecli.export.pyfmt import class_name as make_name
    from shapecli.export.pyfmt import identifier

    if isinstance(spec, (str, bytes)) or hasattr(spec, "__fspath__"):
        spec = shapecli.load_spec(spec)
    if class_name is not None and not identifier(class_name):
        raise ExportError(f"class name '{class_name}' is not a Python identifier")
    options.setdefault("stats", False)
    options.setdefault("histograms", False)
    _, report = shapecli.materialize(spec, inputs, **options)
    plan = Plan(spec, report, class_name or make_name(spec.name))
    dims = (report.symbolic or {}).get("input_dims")
    inputs_text = "; ".join(dims) if dims else "; ".join(shape_text(t) + ("" if t.dtype == "float32" else f" {t.dtype}") for t in report.inputs)
    header = (f"{spec.name}: plain PyTorch, exported by shapecli {shapecli.__version__} from {spec.file}.\n\n"
              f"Sized for the input {inputs_text}. Construct it after torch.manual_seed(seed) for the initial\n"
              f"values shapecli's model has with that seed.\n")
    return Emitter(plan, len(report.inputs)).file(header)
