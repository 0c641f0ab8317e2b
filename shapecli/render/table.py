"""The rich table: layers as a tree, parameter rows under their layer, totals and warnings.

All rich code lives here. Colour only on a terminal (rich honours NO_COLOR); piped output is
plain text at the table's natural width, so nothing wraps.
"""
from __future__ import annotations

import os
import sys

from rich import box
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from shapecli.errors import literal
from shapecli.render import fmt_float, human_bytes, human_count, shape_str, sparkline
from shapecli.render.fasttable import FastTable


def console(file=None, force_terminal: bool | None = None, width: int | None = None) -> Console:
    file = file or sys.stdout
    tty = force_terminal if force_terminal is not None else file.isatty()
    if not tty:
        width = width or 100_000  # never wrap when piped; the table keeps its natural width
    return Console(file=file, force_terminal=tty, width=width, no_color=not tty or "NO_COLOR" in os.environ,
                   highlight=False, emoji=False, soft_wrap=False, color_system="auto" if tty else None)


def _visible(layer, depth: int | None) -> bool:
    return depth is None or layer.depth < depth


def render_table(report, depth: int | None = None, params: bool = True) -> Group:
    runs = report.runs
    title = Text()
    title.append(literal(report.name, 200), style="bold")
    if report.spec_file:
        title.append(f"  ({literal(report.spec_file, 400)})", style="dim")
    ins = ", ".join(f"{shape_str(t)} {t.dtype}" for t in report.inputs)
    title.append(f"\ninput {ins} → output {shape_str(runs[0].output) if runs else '—'}")
    title.append(f"   seed {report.seed} · {report.device} · torch {report.torch_version}", style="dim")

    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title=None)
    t.add_column("Layer / parameter", no_wrap=True)
    t.add_column("Type", no_wrap=True)
    ok_runs = [i for i, r in enumerate(runs) if r.error is None]
    for i in ok_runs:
        t.add_column("Output" if i == 0 else f"Output #{i + 1}", no_wrap=True)
    formulas = any(lay.symbolic for lay in report.layers)
    if formulas:
        t.add_column("Formula", no_wrap=True)
    t.add_column("Shape", no_wrap=True)
    t.add_column("Params", justify="right", no_wrap=True)
    show_stats = params and any(p.stats for p in report.params)
    if show_stats:
        for c in ("mean", "std", "min", "max"):
            t.add_column(c, justify="right", no_wrap=True)
        if any(p.histogram for p in report.params):
            t.add_column("hist", no_wrap=True)
        t.add_column("init: expected", no_wrap=True)

    by_layer: dict = {}
    for p in report.params:
        by_layer.setdefault(p.layer, []).append(p)
    visible = [lay for lay in report.layers if _visible(lay, depth)]
    for lay in visible:
        folded = depth is not None and lay.depth == depth - 1 and lay.is_container
        indent = "  " * lay.depth
        typ = Text(lay.type, style="cyan")
        if lay.inferred:
            typ.append(" (" + ", ".join(f"{k}={v}" for k, v in lay.inferred.items()) + ")", style="dim")
        row = [Text(indent + (lay.path.rsplit(".", 1)[-1] if lay.depth else lay.path), style="bold" if lay.is_container else ""), typ]
        row += [Text(shape_str(lay.output_shapes[i]) if i < len(lay.output_shapes) else "—") for i in ok_runs]
        if formulas:
            row.append(Text(shape_str(lay.symbolic) if lay.symbolic else "", style="magenta"))
        row += ["", f"{lay.params:,}" if lay.params else ("" if lay.is_container else "0")]
        if show_stats:
            row += [""] * (t.columns.__len__() - len(row))
        t.add_row(*row)
        if not params or (lay.is_container and not folded):
            continue
        if folded:
            continue
        owned = by_layer.get(lay.path, [])  # a dict lookup: scanning every layer here was quadratic
        for p in owned:
            prow = [Text(indent + "  " + p.name, style="green" if p.trainable else "dim"), Text("" if p.trainable else "frozen", style="dim")]
            prow += [""] * (len(ok_runs) + formulas)
            prow += [shape_str(type("S", (), {"shape": p.shape})()), f"{p.numel:,}" if not p.shared_with else f"= {p.shared_with}"]
            if show_stats:
                s = p.stats
                vals = [s.mean, s.std, s.min, s.max] if s else [None] * 4
                style = "italic" if s and s.source != "measured" else ""
                prow += [Text(fmt_float(v), style=style) for v in vals]
                if any(q.histogram for q in report.params):
                    prow.append(sparkline(p.histogram) if p.histogram else "")
                flag = " ⚠ " + "; ".join(p.init.flagged) if p.init and p.init.flagged else ""
                prow.append(Text(_expected(p.init) + flag, style="yellow" if flag else "dim"))
            t.add_row(*prow)

    parts = [title, FastTable(t)]  # same output as the rich Table; plain-text fast path when unstyled
    tot = report.totals
    foot = Text()
    foot.append(f"Params: {tot.params:,} ({human_count(tot.params)})", style="bold")
    foot.append(f"  trainable: {tot.trainable:,}  non-trainable: {tot.params - tot.trainable:,}")
    if tot.buffers:
        foot.append(f"  buffers: {tot.buffers:,}")
    foot.append("\nSize: " + ", ".join(f"{k} {human_bytes(v)}" for k, v in tot.bytes.items()) if tot.bytes else "\nSize: 0 B")
    if report.device == "meta":
        foot.append("\nShaped on the meta device: no memory was allocated; statistics in italics are analytic "
                    "(what the init scheme predicts), not measured.", style="dim")
    shared = [p for p in report.params if p.shared_with]
    if shared:
        foot.append("\nTied: " + ", ".join(f"{p.name} = {p.shared_with}" for p in shared) + " (counted once)")
    parts.append(foot)
    if len(runs) > 1:
        rt = Text("\nInputs:")
        for i, r in enumerate(runs):
            ins = ", ".join(shape_str(x) for x in r.inputs)
            if r.error:
                rt.append(f"\n  #{i + 1} {ins} ✗ layer {r.error_layer}: {r.error}", style="red")
            else:
                note = "materialized the model" if i == 0 else "ok, same parameters"
                rt.append(f"\n  #{i + 1} {ins} → {shape_str(r.output)}  {note}")
        parts.append(rt)
    if report.symbolic:
        sy = report.symbolic
        st = Text("\nShapes for any input size" + (" (fitted from concrete probes)" if sy["method"] == "probes" else "") + ":")
        st.append("\n  input " + ", ".join("[" + ", ".join(i) + "]" for i in sy["inputs"]) + " → output "
                  + shape_str({"shape": sy["output"]} if sy["output"] and isinstance(sy["output"][0], str) else None), style="magenta")
        for c in sy["constraints"]:
            st.append(f"\n  • {c['message']}")
        if not sy["constraints"]:
            st.append("\n  • no constraints beyond the sizes being positive")
        if sy.get("note"):
            st.append(f"\n  note: {sy['note']}", style="dim")
        parts.append(st)
    if report.diagnostics:
        dt = Text("\nDiagnostics:")
        for d in report.diagnostics:
            dt.append(f"\n  {d.level}: {d.layer + ': ' if d.layer else ''}[{d.code}] {d.message}",
                      style="yellow" if d.level == "warning" else "dim")
        parts.append(dt)
    return Group(*parts)


def render_trace(report) -> Table:
    """Like d2l's `net.apply(init_weights)` printout: which layer was materialized when, and how."""
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
              title=f"Init trace (materialization order, seed {report.seed})", title_justify="left")
    for c in ("#", "Layer", "Type", "Inferred from the data", "Init"):
        t.add_column(c, no_wrap=c != "Init")
    for e in report.init_trace:
        inferred = ", ".join(f"{k}={v}" for k, v in e["inferred"].items()) or "—"
        schemes = ", ".join(f"{k}: {v}" for k, v in e["schemes"].items()) or "no parameters"
        t.add_row(str(e["order"] + 1), e["layer"], e["type"], inferred, escape(schemes))
    return t


def render_activations(report) -> Table:
    """Each layer's output mean and std at init, with a log-scale bar: vanishing or exploding signals at a glance."""
    import math

    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
              title="Activations at init (standard-normal input)", title_justify="left")
    for c, j in (("Layer", "left"), ("Type", "left"), ("mean", "right"), ("std", "right"), ("log10 std", "left")):
        t.add_column(c, justify=j, no_wrap=True)
    for lay in report.layers:
        a = lay.activation
        if not a or lay.is_container:
            continue
        std = a["std"]
        if std and std > 0 and math.isfinite(std):
            pos = max(0, min(40, round((math.log10(std) + 4) * 5)))  # 1e-4 .. 1e4 over 40 cells; 1.0 at 20
            bar = " " * pos + "█" * (20 - pos) + "│" if pos < 20 else " " * 20 + "│" + "█" * (pos - 20)
            style = "red" if std < 1e-2 or std > 1e2 else ""
        else:
            bar, style = "—", "red"
        t.add_row(lay.path, lay.type, fmt_float(a["mean"]), Text(fmt_float(std), style=style), Text(bar, style=style))
    return t


def _expected(init) -> str:
    """'kaiming_normal: std 0.0625, fan 512→256': the scheme and what its formula predicts."""
    if init is None:
        return ""
    text = _short(init.scheme.split(" (")[0], 32)
    e = init.expected
    if e is not None and e.std is not None:
        text += f": std {fmt_float(e.std)}"
        if e.min is not None and e.max is not None and e.min == -e.max and e.max:
            text += f", ±{fmt_float(e.max)}"
        elif e.min is not None and e.min == e.max:
            text += f" (= {fmt_float(e.min)})"
        elif e.mean:
            text += f", mean {fmt_float(e.mean)}"
    if init.fan_in is not None:
        text += f", fan {init.fan_in}→{init.fan_out}" if init.fan_out is not None else f", fan_in {init.fan_in}"
    return text


def _short(s: str, n: int = 40) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def print_report(report, file=None, depth: int | None = None, params: bool = True, force_terminal=None, width=None,
                 trace: bool = False, exports: dict | None = None) -> None:
    """Print the report; `exports` maps "html"/"svg" to paths to save the same view to."""
    parts = [render_table(report, depth, params)]
    if trace:
        parts.append(render_trace(report))
    if any(lay.activation for lay in report.layers):
        parts.append(render_activations(report))
    if getattr(report, "estimates", None):
        from shapecli.render.estimates import render_estimates

        parts.append(render_estimates(report))
    c = console(file, force_terminal, width)
    c.print(Group(*parts))
    if exports:
        from shapecli.fileio import mark_report, write_output

        rec = Console(record=True, width=max(120, c.width if c.width < 10_000 else 160), force_terminal=True,
                      file=open(os.devnull, "w"), color_system="truecolor")
        rec.print(Group(*parts))
        for kind, path in exports.items():
            text = (rec.export_html(inline_styles=True, clear=False) if kind == "html"
                    else rec.export_svg(title=f"shapecli: {report.name}", clear=False))
            write_output(path, mark_report(text), f"{kind.upper()} report")
