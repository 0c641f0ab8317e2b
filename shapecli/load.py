"""Loading a spec: the parser (no torch), then, where it found problems, argument binding.

Two explicit stages: `spec.parser.parse_partial` gives the spec as far as it parsed and its
problems; when there are any, the items that did parse are bound to their constructors
(model.args, which needs torch) so one run reports every problem, in line order. A clean spec's
arguments are bound when it is built.
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
    """Parse and validate spec text into a Spec; SpecError with every problem, in line order."""
    from shapecli.spec.parser import in_line_order, parse_partial
    from shapecli.spec.problems import condense

    spec, problems = parse_partial(text, file, overrides)
    if problems:
        from shapecli.model.args import argument_problems

        raise SpecError(condense(in_line_order(problems + argument_problems(spec), file), text, file, spec.sets))
    return spec
