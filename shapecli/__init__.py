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

__all__ = ["__version__", "build", "check", "inspect", "load_spec", "materialize", "parse_input", "parse_spec",
           "snapshot", "summary"]
