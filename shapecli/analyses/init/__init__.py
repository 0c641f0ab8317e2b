"""Init analysis: apply schemes, predict their statistics, measure, lint."""
from __future__ import annotations

from shapecli.analyses.init.apply import apply_scheme  # noqa: F401
from shapecli.analyses.init.predict import GLUE_DEFAULTS, Dist, expected, fans  # noqa: F401
from shapecli.analyses.init.lints import (  # noqa: F401
    DUP_ROWS_MAX_NUMEL,
    FLAG_K,
    FLAG_MIN_NUMEL,
    GAIN_MIN_LAYERS,
    GAIN_TOLERANCE,
    flag,
    lint_gain,
    lint_tensor,
)
from shapecli.analyses.init.stats import (  # noqa: F401
    Look,
    histogram,
    look,
    measure,
    sample,
    sampled_measure,
)
