"""`shapecli layers` and `shapecli schema`: what a spec may contain."""
from __future__ import annotations

import sys
from typing import Optional

import typer

from shapecli.cli import complete
from shapecli.errors import UsageError


def layers(
    name: Optional[str] = typer.Argument(None, autocompletion=complete.layer_names, help="Show one layer type in detail."),
    json_: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List every layer type a spec may use, with its arguments and PyTorch's defaults; NAME shows one in detail."""
    import json

    from shapecli import layerdoc
    from shapecli import layers as registry
    from shapecli.errors import did_you_mean

    if name is not None:
        canon = registry.canonical(name)
        if canon in registry.CONTAINERS:
            sys.stdout.write(f"{canon}: a container; see docs/spec.md\n")
            return
        from shapecli.spec.nodes import TENSORS

        if name in TENSORS:  # spec/tensors.py: an item, not a layer
            sys.stdout.write(f"{name}: a tensor the enclosing container owns, {{shape: [...], init: ...}}; "
                             "see docs/spec.md, Parameters and buffers\n")
            return
        if canon is None:
            raise UsageError(f"unknown layer type '{name}'{did_you_mean(name, registry.known_names())}")
    found = [layerdoc.detail(name)] if name is not None else layerdoc.details()
    if json_:
        sys.stdout.write(json.dumps([d.as_dict() for d in found], indent=2) + "\n")
        return
    from shapecli.render import layers as render_layers
    from shapecli.render.terminal import console

    if name is not None:
        sys.stdout.write(render_layers.detail_text(found[0], console().width if sys.stdout.isatty() else 100))
        return
    console().print(render_layers.listing(found))
    sys.stdout.write(render_layers.FOOTER)


def schema(
    out: Optional[str] = typer.Option(None, "--out", "-o", metavar="PATH", help="Write it to PATH (e.g. "
                                      ".shapecli/spec.schema.json) instead of stdout; replaces only a file it wrote."),
    report: bool = typer.Option(False, "--report", help="The JSON Schema of the report that `inspect --json` "
                                                        "prints, instead of the spec's."),
) -> None:
    """Print the JSON Schema of the spec language (for YAML language servers in editors; docs/editors.md)."""
    import json

    if report:  # no torch: the file shipped with the package
        from shapecli.report import json_schema_text

        text = json_schema_text()
        if out is None:
            sys.stdout.write(text)
            return
        from shapecli.fileio import SCHEMA_MARK, write_schema_file

        doc = json.loads(text)
        write_schema_file(out, {k: doc[k] for k in ("$schema", "$id") if k in doc} | {"$comment": SCHEMA_MARK} | doc)
        return
    from shapecli.schema import spec_schema, write_schema

    if out is not None:
        write_schema(out)
        return
    sys.stdout.write(json.dumps(spec_schema(), indent=2) + "\n")
