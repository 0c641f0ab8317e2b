"""`shapecli layers`: the listing (a rich table) and one layer type's detail view (plain text), from layerdoc's data."""
from __future__ import annotations

import textwrap

from shapecli.layerdoc import LayerDetail, arg_text

ARGS_HEADER = "Arguments (positional order; * inferred from the data)"
FOOTER = ("Containers: Sequential, Residual, Concat, Add, Multiply (docs/spec.md). "
          "Aliases: LazyLinear, LazyConv2d, ... name the same layers. `shapecli layers NAME` shows one in detail.\n")


def listing(details: list):
    """Every layer type with its arguments and PyTorch's defaults, as a rich Table."""
    from rich import box
    from rich.table import Table

    t = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for c in ("Layer", "Group", ARGS_HEADER):
        t.add_column(c, no_wrap=c != ARGS_HEADER)
    for d in details:
        t.add_row(d.name, d.group, ", ".join(arg_text(a) for a in d.args) or "—")
    return t


def detail_text(d: LayerDetail, width: int = 100) -> str:
    """One layer type: what it is, its signature, each argument (inferred from where, default, allowed values,
    PyTorch's help), and an example item."""
    width = max(40, width)
    out = []

    def para(text: str, indent: str = "") -> None:
        out.extend(textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent) or [indent.rstrip()])

    origin = "shapecli glue layer (docs/spec.md)" if d.glue else f"torch.nn.{d.name}"
    para(f"{d.name}: {d.summary}" if d.summary else d.name)
    facts = [origin, f"group {d.group}"]
    if d.multi_input:
        facts.append("takes several input tensors")
    if d.tuple_output:
        facts.append("returns a tuple (pick one element with Item)")
    if d.aliases:
        facts.append("also written " + ", ".join(d.aliases))
    para(" · ".join(facts), "  ")
    out.append("")
    out.append(f"Signature: {d.signature}")  # one line, whatever its length: it is what a user copies or greps
    if any(a.inferred for a in d.args):
        para("(* inferred from the data: leave it out)", "  ")
    out.append("")
    out.append("Arguments:" if d.args else "Arguments: none")
    for a in d.args:
        if a.inferred:
            how = f"inferred from {a.inferred_from}"
        elif a.required:
            how = "required"
        else:
            how = f"default {a.default!r}"
        para(f"{a.name} ({a.type}): {how}", "  ")
        if a.choices:
            para("one of: " + ", ".join(map(str, a.choices)), "      ")
        if a.description:
            para(a.description, "      ")
    out.append("")
    out.append("Example:")
    out.append("  " + d.example)
    return "\n".join(out) + "\n"
