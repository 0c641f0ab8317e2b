"""Run: push sample inputs through a fresh lazy model and gather the Report."""
from __future__ import annotations

from shapecli.run.engine import (  # noqa: F401
    DEFAULT_ACT_BUDGET,
    DEFAULT_BUDGET,
    Options,
    materialize,
    symbolic,
)
from shapecli.run.collect import gather  # noqa: F401
from shapecli.run.guard import _output_numel  # noqa: F401
from shapecli.run.inputs import _dtype, describe, make_inputs  # noqa: F401
from shapecli.run.measure import HELP_MIN_NUMEL, LINT_MAX_NUMEL, STATS_MAX_NUMEL  # noqa: F401
