"""HTML: the view as real tables (for notebooks' `_repr_html_` and `inspect --html`), at natural width."""
from __future__ import annotations

from html import escape

STYLE = ("<style>.shapecli{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px}"
         ".shapecli table{border-collapse:collapse;margin:.4em 0}"
         ".shapecli th{text-align:left;border-bottom:1px solid #888;padding:0 .8em 0 0}"
         ".shapecli td{padding:0 .8em 0 0;white-space:pre;vertical-align:top}"
         ".shapecli .r{text-align:right}.shapecli .bold{font-weight:bold}.shapecli .dim{opacity:.65}"
         ".shapecli .italic{font-style:italic}.shapecli .green{color:#2a7a2a}.shapecli .yellow{color:#a07000}"
         ".shapecli .red{color:#c00}.shapecli .magenta{color:#a0a}.shapecli .cyan{color:#077}"
         ".shapecli p{margin:.1em 0;white-space:pre-wrap}</style>")


def _span(style: str, text: str) -> str:
    return f'<span class="{style}">{escape(text)}</span>' if style else escape(text)


def render(view, width: int | None = None) -> str:
    out = [STYLE, '<div class="shapecli">']
    for line in view.heading:
        out.append("<p>" + "".join(_span(s, t) for s, t in line) + "</p>")
    out.append(table(view.table))
    for s in view.sections:
        out += [f"<p>{_span(st, t)}</p>" for st, t in s.lines if t]
        if s.table is not None:
            if s.table.title:
                out.append(f"<p>{escape(s.table.title)}</p>")
            out.append(table(s.table))
        out += [f"<p>{_span(st, t)}</p>" for st, t in s.after if t]
    out.append("</div>")
    return "\n".join(out) + "\n"


def table(t) -> str:
    cols = t.columns
    rows = ["<table>", "<tr>" + "".join(f'<th class="r">{escape(c.title)}</th>' if c.align == "right"
                                         else f"<th>{escape(c.title)}</th>" for c in cols) + "</tr>"]
    for r in t.rows:
        tds = []
        for c in cols:
            cls = " ".join(x for x in ("r" if c.align == "right" else "", r.styles.get(c.key, "")) if x)
            attr = f' class="{cls}"' if cls else ""
            tds.append(f"<td{attr}>{escape(r.cells.get(c.key, ''))}</td>")
        rows.append("<tr>" + "".join(tds) + "</tr>")
    rows.append("</table>")
    return "\n".join(rows)
