"""shapecli: inspect the shapes of a PyTorch network written as a YAML spec.

    import shapecli
    spec = shapecli.load_spec("configs/mlp.yaml")
    model = shapecli.build(spec)                      # lazy: no parameters yet
    model, report = shapecli.materialize(spec)        # a plain, materialized nn.Module + Report
    report = shapecli.inspect("configs/mlp.yaml", inputs="2,20", flops=True)   # the complete Report
    run = shapecli.check(["configs/"])                # run.results, run.exit_code (0, 1, 2)
    run = shapecli.snapshot("configs/mlp.yaml")       # writes configs/mlp.shapes.json
    report = shapecli.summary(my_model, (1, 3, 224, 224))   # a model written in Python, left untouched
    report = shapecli.inspect("torchvision.models:resnet50(num_classes=10)", "1,3,224,224")

Importing shapecli does not import torch; the functions that need it import it when called.
"""
from __future__ import annotations

__version__ = "0.1.0"

from shapecli.api import (  # noqa: E402
    build,
    check,
    inspect,
    load_spec,
    materialize,
    parse_input,
    parse_spec,
    snapshot,
    summary,
)

__all__ = ["__version__", "build", "check", "export_code", "fast_meta", "inspect", "load_spec", "materialize",
           "parse_input", "parse_spec", "snapshot", "summary"]


def fast_meta():
    """Opt-in speed-up for shaping big models on the meta device (a context manager).

        with shapecli.fast_meta():
            report = shapecli.inspect("configs/gpt2_small.yaml", device="meta")

    PROCESS-WIDE and NOT THREAD-SAFE: while active, stand-ins for torch._dynamo,
    torch.fx.experimental.symbolic_shapes and sympy (and a missing numpy recorded as missing) sit
    in sys.modules for every thread. Use it only while no other thread uses torch's compiler
    stack (torch.compile, torch.export, sympy), shapecli's symbolic pass included. Without it,
    every library call leaves sys.modules alone. See shapecli/fastmeta.py and docs/performance.md.
    """
    from shapecli.fastmeta import fast_meta as _fast_meta

    return _fast_meta()


def export_code(spec, inputs=None, class_name=None, **options) -> str:
    """A standalone PyTorch file (as text) for a spec: one class per block, sizes written out (docs/export.md)."""
    from shapecli.export import export_code as _export

    return _export(spec, inputs, class_name, **options)
