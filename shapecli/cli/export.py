"""`shapecli export`: a spec as a standalone PyTorch file (docs/export.md). torch only inside the command."""
from __future__ import annotations

import os
import sys
from typing import List, Optional

import typer

from shapecli.cli import complete
from shapecli.cli.options import InputOpt, SetOpt
from shapecli.errors import UsageError


def export(
    spec: str = typer.Argument(..., metavar="SPEC", autocompletion=complete.spec_files, help="A spec file, or - for stdin."),
    input: Optional[List[str]] = InputOpt,
    set_: Optional[List[str]] = SetOpt,
    output: Optional[str] = typer.Option(None, "--output", "-o", metavar="PATH",
                                         help="Write the file here (atomically) instead of to stdout."),
    force: bool = typer.Option(False, "--force", help="Replace PATH if it exists."),
    class_name: Optional[str] = typer.Option(None, "--class-name", metavar="NAME",
                                             help="The model class's name (default: from the spec's name)."),
) -> None:
    """Write the spec as plain PyTorch: one nn.Module class per block, every inferred size written out."""
    from shapecli.load import load_spec
    from shapecli.spec.inputs import parse_input_text, parse_set

    if input and len(input) > 1:
        raise UsageError("export takes one --input: the sizes written into the code come from one sample")
    if output is not None:
        if os.path.isdir(output):
            raise UsageError(f"--output {output}: is a directory")
        if not os.path.isdir(os.path.dirname(os.path.abspath(output))):
            raise UsageError(f"--output {output}: no such directory")
        if os.path.lexists(output) and not force:
            raise UsageError(f"--output {output}: exists; pass --force to replace it")
    sp = load_spec(spec, parse_set(set_ or []))
    samples = [parse_input_text(input[0], sp.inputs)] if input else None
    from shapecli.export import export_code

    source = export_code(sp, samples, class_name=class_name)
    if output is None:
        sys.stdout.write(source)
        return
    from shapecli.fileio import write_atomic

    try:
        write_atomic(output, source)
    except OSError as e:
        raise UsageError(f"--output {output}: cannot write: {e.strerror or e}") from None
    sys.stderr.write(f"{output}: written ({len(source.splitlines())} lines)\n")
