"""The spec language (no torch): YAML loading, expressions, dims, init schemes, the parser."""
from __future__ import annotations

from shapecli.spec.dims import Dim  # noqa: F401
from shapecli.spec.parser import (  # noqa: F401
    BAD,
    DTYPES,
    IDENT,
    MAX_INT,
    MAX_NODES,
    MAX_REPEAT,
    MAX_VAR_DEPTH,
    RESERVED,
    TOP_KEYS,
    InputSpec,
    Node,
    Spec,
    load_spec,
    parse_input_text,
    parse_set,
    parse_spec,
)
