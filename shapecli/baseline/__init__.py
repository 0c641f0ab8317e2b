"""Baselines: find them (targets), write and read them (document), compare them, total the results."""
from __future__ import annotations

from shapecli.baseline.changes import Change, Detail, compare  # noqa: F401
from shapecli.baseline.document import (  # noqa: F401
    DEFAULT_TOLERANCE,
    INPUT_FROM_CLI,
    INPUT_FROM_SPEC,
    KIND,
    MAX_BYTES,
    MAX_DEPTH,
    SCHEMA_VERSION,
    SPEC_SUFFIXES,
    STAT_KEYS,
    SUFFIX,
    dumps,
    from_report,
    loads,
    read,
    validate,
    without_stats,
    write_error,
)
from shapecli.baseline.results import (  # noqa: F401
    Result,
    check_document,
    exit_code,
    summary,
    total_bytes,
    totals_delta,
)
from shapecli.baseline.targets import (  # noqa: F401
    Target,
    baseline_for,
    default_path,
    expand_specs,
    is_dir_target,
    plan_targets,
)
