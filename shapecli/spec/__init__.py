"""The spec language (no torch): YAML loading, expressions, dims, init schemes, the parser."""
from __future__ import annotations

from shapecli.spec.dims import Dim  # noqa: F401
from shapecli.spec.inputs import parse_input_text, parse_set  # noqa: F401
from shapecli.spec.nodes import (  # noqa: F401
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
)
from shapecli.spec.parser import load_spec, parse_spec  # noqa: F401
from shapecli.spec.variables import BAD  # noqa: F401
