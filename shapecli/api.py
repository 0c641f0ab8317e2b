"""The library's entry points: load a spec, build it, materialize it, inspect it.

Each stage is a function a caller can use alone; the CLI calls these and only renders. Importing
this module does not import torch: the functions that need it import it when called.
"""
from __future__ import annotations

import os

from shapecli.errors import SpecError


def load_spec(path, overrides: dict | None = None):
    """Read, parse and validate a spec file ('-' for stdin) into a Spec. `overrides`: `--set` values."""
    from shapecli.spec.yamlload import read_text

    path = str(os.fspath(path))
    return parse_spec(read_text(path), "<stdin>" if path == "-" else path, overrides)


def parse_spec(text: str, file: str = "<spec>", overrides: dict | None = None):
    """Parse and validate spec text into a Spec; SpecError with every problem, in line order.

    Two stages: the parser (no torch), then, only when it found problems, the items that did parse
    are bound to their constructors (model.args, which needs torch) so one run reports them all. A
    clean spec's arguments are bound when it is built.
    """
    from shapecli.spec.parser import in_line_order, parse_partial

    spec, problems = parse_partial(text, file, overrides)
    if problems:
        from shapecli.model.args import argument_problems

        raise SpecError(in_line_order(problems + argument_problems(spec), file))
    return spec
