"""What follows the main table: totals, the inputs' outcomes, symbolic shapes, diagnostics,
the init trace, activations and estimates; each a Section of styled lines and at most one table."""
from __future__ import annotations

import math

from shapecli.view.units import fmt_float, human_bytes, human_count, shape_str
from shapecli.view import Column, Row, Section, Table


def sections(report, folded: list, trace: bool = False, depth: int | None = None) -> list:
    out = [_totals(report, folded)]
    for make in (_inputs, _symbolic, _diagnostics):
        s = make(report)
        if s:
            out.append(s)
    if trace:
        out.append(_trace(report))
    if any(lay.activation for lay in report.layers):
        out.append(_activations(report, depth))
    if getattr(report, "estimates", None):
        from shapecli.view.estimates import estimates_section

        out.append(estimates_section(report))
    return out


def _totals(report, folded: list) -> Section:
    tot = report.totals
    lines = [("bold", f"Params: {tot.params:,} ({human_count(tot.params)})"
                      f"  trainable: {tot.trainable:,}  non-trainable: {tot.params - tot.trainable:,}"
                      + (f"  buffers: {tot.buffers:,}" if tot.buffers else ""))]
    lines.append(("", "Size: " + ", ".join(f"{k} {human_bytes(v)}" for k, v in tot.bytes.items())
                  if tot.bytes else "Size: 0 B"))
    flops = (report.estimates or {}).get("flops") if getattr(report, "estimates", None) else None
    if flops and flops.get("forward") is not None:
        lines.append(("", f"Mult-adds: {flops['forward'] // 2:,} ({human_count(flops['forward'] // 2)}; "
                          "forward FLOPs / 2)"))
    if report.device == "meta":
        lines.append(("dim", "Shaped on the meta device: no memory was allocated; statistics in italics are "
                             "analytic (what the init scheme predicts), not measured."))
    shared = [p for p in report.params if p.shared_with]
    if shared:
        lines.append(("", "Tied: " + ", ".join(f"{p.name} = {p.shared_with}" for p in shared) + " (counted once)"))
    if folded:
        what = ", ".join(f"{path}-{last} × {n}" for path, (n, last, _) in folded[:6])
        more = f" and {len(folded) - 6} more" if len(folded) > 6 else ""
        lines.append(("dim", f"Folded identical blocks: {what}{more}; counts on a folded row are the copies' sum, "
                             "rows inside it are one copy's; --expand shows every copy."))
    return Section("totals", lines)


def _inputs(report):
    runs = report.runs
    if len(runs) <= 1:
        return None
    lines = [("", "")]
    lines.append(("", "Inputs:"))
    for i, r in enumerate(runs):
        ins = ", ".join(shape_str(x) for x in r.inputs)
        if r.error:
            lines.append(("red", f"  #{i + 1} {ins} ✗ layer {r.error_layer}: {r.error}"))
        else:
            note = "materialized the model" if i == 0 else "ok, same parameters"
            lines.append(("", f"  #{i + 1} {ins} → {shape_str(r.output)}  {note}"))
    return Section("inputs", lines)


def _symbolic(report):
    sy = report.symbolic
    if not sy:
        return None
    lines = [("", ""), ("", "Shapes for any input size" + (" (fitted from concrete probes)" if sy["method"] == "probes" else "") + ":")]
    out = shape_str({"shape": sy["output"]} if sy["output"] and isinstance(sy["output"][0], str) else None)
    lines.append(("magenta", "  input " + ", ".join("[" + ", ".join(i) + "]" for i in sy["inputs"]) + " → output " + out))
    lines += [("", f"  • {c['message']}") for c in sy["constraints"]]
    if not sy["constraints"]:
        lines.append(("", "  • no constraints beyond the sizes being positive"))
    if sy.get("note"):
        lines.append(("dim", f"  note: {sy['note']}"))
    return Section("symbolic", lines)


def _diagnostics(report):
    if not report.diagnostics:
        return None
    lines = [("", ""), ("", "Diagnostics:")]
    for d in report.diagnostics:
        lines.append(("yellow" if d.level == "warning" else "dim",
                      f"  {d.level}: {d.layer + ': ' if d.layer else ''}[{d.code}] {d.message}"))
    return Section("diagnostics", lines)


def _plain(cells: dict, styles: dict | None = None, pieces: dict | None = None) -> Row:
    return Row("plain", cells, 0, "", pieces or {}, styles or {})


def _trace(report) -> Section:
    cols = [Column("order", "#", "left"), Column("layer", "Layer"), Column("type", "Type"),
            Column("inferred", "Inferred from the data", priority=1, breaks=True),
            Column("init", "Init", priority=2, breaks=True)]
    rows = []
    for e in report.init_trace:
        inferred = ", ".join(f"{k}={v}" for k, v in e["inferred"].items()) or "—"
        schemes = ", ".join(f"{k}: {v}" for k, v in e["schemes"].items()) or "no parameters"
        rows.append(_plain({"order": str(e["order"] + 1), "layer": e["layer"], "type": e["type"],
                            "inferred": inferred, "init": schemes},
                           pieces={"inferred": (_split(inferred), "  "), "init": (_split(schemes), "  ")}))
    return Section("trace", table=Table(cols, rows, title=f"Init trace (materialization order, seed {report.seed})",
                                        key_title="Layer"))


def _split(text: str, sep: str = ", ") -> list:
    parts = text.split(sep)
    return [parts[0]] + [sep + p for p in parts[1:]]


def _activations(report, depth: int | None = None) -> Section:
    """One row per leaf layer; with `depth`, a container at the cut stands for what it holds (its output)."""
    cols = [Column("layer", "Layer"), Column("type", "Type"), Column("mean", "mean", "right"),
            Column("std", "std", "right"), Column("bar", "log10 std", priority=1)]
    rows = []
    for lay in report.layers:
        a = lay.activation
        if depth is not None and lay.depth >= depth:
            continue
        cut = depth is not None and lay.depth == depth - 1
        if not a or (lay.is_container and not cut):
            continue
        std = a["std"]
        if std and std > 0 and math.isfinite(std):
            pos = max(0, min(40, round((math.log10(std) + 4) * 5)))  # 1e-4 .. 1e4 over 40 cells; 1.0 at 20
            bar = " " * pos + "█" * (20 - pos) + "│" if pos < 20 else " " * 20 + "│" + "█" * (pos - 20)
            style = "red" if std < 1e-2 or std > 1e2 else ""
        else:
            bar, style = "—", "red"
        rows.append(_plain({"layer": lay.path, "type": lay.type, "mean": fmt_float(a["mean"]),
                            "std": fmt_float(std), "bar": bar}, {"std": style, "bar": style}))
    return Section("activations", table=Table(cols, rows, title="Activations at init (standard-normal input)",
                                              key_title="Layer"))
