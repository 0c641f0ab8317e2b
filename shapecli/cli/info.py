"""`shapecli layers` and `shapecli schema`: what a spec may contain."""
from __future__ import annotations

import sys
from typing import Optional

import typer

from shapecli.errors import UsageError


def layers(
    name: Optional[str] = typer.Argument(None, help="Show one layer type in detail."),
    json_: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List every layer type a spec may use, with its arguments; inferred ones are marked."""
    import json

    from shapecli import layers as registry
    from shapecli.errors import did_you_mean

    names = sorted(registry.REGISTRY, key=lambda n: (registry.REGISTRY[n].group, n))
    if name is not None:
        canon = registry.canonical(name)
        if canon is None or canon in registry.CONTAINERS:
            if canon in registry.CONTAINERS:
                sys.stdout.write(f"{canon}: a container; see docs/spec.md\n")
                return
            raise UsageError(f"unknown layer type '{name}'{did_you_mean(name, registry.known_names())}")
        names = [canon]
    rows = []
    for n in names:
        sig = registry.signature(n)
        rows.append({"name": n, "group": registry.REGISTRY[n].group, "glue": registry.REGISTRY[n].glue,
                     "args": [{"name": p.name, "type": p.kind, "required": p.required, "inferred": p.inferred,
                               "default": None if callable(p.default) else p.default, "choices": list(p.choices)}
                              for p in sig.params]})
    if json_:
        sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
        return
    from rich import box
    from rich.table import Table

    from shapecli.render.table import console

    t = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for c in ("Layer", "Group", "Arguments (positional order; * inferred from the data)"):
        t.add_column(c, no_wrap=c != "Arguments (positional order; * inferred from the data)")
    for r in rows:
        args = ", ".join(("*" if a["inferred"] else "") + a["name"] + ("" if a["required"] or a["inferred"] else f"={a['default']!r}")
                         for a in r["args"])
        t.add_row(r["name"], r["group"], args or "—")
    console().print(t)
    sys.stdout.write("Containers: Sequential, Residual, Concat, Add, Multiply (docs/spec.md). "
                     "Aliases: LazyLinear, LazyConv2d, ... name the same layers.\n")


def schema() -> None:
    """Print the JSON Schema of the spec language (for YAML language servers in editors)."""
    import json

    from shapecli.schema import spec_schema

    sys.stdout.write(json.dumps(spec_schema(), indent=2) + "\n")
