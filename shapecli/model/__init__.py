"""Build: a Spec becomes a lazy nn.Module."""
from __future__ import annotations

from shapecli.model.args import Bound, bind, bind_all, check_value, convert  # noqa: F401
from shapecli.model.lazy import (  # noqa: F401
    BuildContext,
    Deferred,
    Network,
    OverBudget,
    build,
    check_input,
    check_refit,
    finalize,
    infer,
    resolve,
    shape_of,
)
