"""The report as a GitHub-flavoured markdown table (for pull-request comments and docs)."""
from __future__ import annotations

from shapecli.render import fmt_float, human_bytes, human_count, shape_str


def _cell(text) -> str:
    """Text safe inside a table cell of a PR comment: no pipes, newlines or HTML from the spec."""
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("|", "\\|").replace("\n", " "))


def render_markdown(report, depth: int | None = None, params: bool = True) -> str:
    runs = report.runs
    ins = ", ".join(f"`{shape_str(t)}` {t.dtype}" for t in report.inputs)
    out = [f"### {_cell(report.name)}", "",
           f"input {ins} → output `{shape_str(runs[0].output) if runs else '—'}` · seed {report.seed} · "
           f"{report.device} · torch {report.torch_version}", "",
           "| Layer / parameter | Type | Output | Shape | Params | mean | std | min | max |",
           "|---|---|---|---|--:|--:|--:|--:|--:|"]
    formulas = any(lay.symbolic for lay in report.layers)
    by_layer: dict = {}
    for p in report.params:
        by_layer.setdefault(p.layer, []).append(p)
    for lay in report.layers:
        if depth is not None and lay.depth >= depth:
            continue
        pad = "&nbsp;&nbsp;" * lay.depth
        typ = lay.type + (" (" + ", ".join(f"{k}={v}" for k, v in lay.inferred.items()) + ")" if lay.inferred else "")
        formula = f" = `{_cell(shape_str(lay.symbolic))}`" if formulas and lay.symbolic else ""
        out.append(f"| {pad}`{_cell(lay.path)}` | {_cell(typ)} | `{shape_str(lay.output_shapes[0])}`{formula} | | "
                   f"{lay.params:,} | | | | |")
        if not params or lay.is_container:
            continue
        for p in by_layer.get(lay.path, []):
            s = p.stats
            vals = [fmt_float(v) for v in ((s.mean, s.std, s.min, s.max) if s else (None,) * 4)]
            if s and s.source != "measured":
                vals = [f"*{v}*" for v in vals]
            count = f"= `{p.shared_with}`" if p.shared_with else f"{p.numel:,}"
            out.append(f"| {pad}&nbsp;&nbsp;`{_cell(p.name)}` | {'' if p.trainable else 'frozen'} | | "
                       f"`{shape_str(type('S', (), {'shape': p.shape})())}` | {count} | " + " | ".join(vals) + " |")
    t = report.totals
    out += ["", f"**Params: {t.params:,} ({human_count(t.params)})** · trainable {t.trainable:,} · "
            f"non-trainable {t.params - t.trainable:,}" + (f" · buffers {t.buffers:,}" if t.buffers else "") + " · "
            + ", ".join(f"{k} {human_bytes(v)}" for k, v in t.bytes.items())]
    if report.device == "meta":
        out.append("\n*Shaped on the meta device; statistics in italics are analytic.*")
    if report.symbolic:
        sy = report.symbolic
        out += ["", "**Shapes for any input size**" + (" (fitted from concrete probes)" if sy["method"] == "probes" else ""), ""]
        out += [f"- {_cell(c['message'])}" for c in sy["constraints"]] or ["- no constraints beyond the sizes being positive"]
        if sy.get("note"):
            out.append(f"- note: {_cell(sy['note'])}")
    if len(runs) > 1:
        out += ["", "| Input | Outcome |", "|---|---|"]
        for i, r in enumerate(runs):
            ins = ", ".join(f"`{shape_str(x)}`" for x in r.inputs)
            outcome = f"✗ layer `{_cell(r.error_layer)}`: {_cell(r.error)}" if r.error else f"→ `{shape_str(r.output)}`"
            out.append(f"| #{i + 1} {ins} | {outcome} |")
    if report.diagnostics:
        out += ["", "**Warnings**", ""] + [f"- `{_cell(d.layer or '')}` [{d.code}] {_cell(d.message)}" for d in report.diagnostics]
    return "\n".join(out) + "\n"
