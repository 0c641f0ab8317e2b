"""Markdown (GitHub-flavoured): the view's rows as tables, for pull-request comments and docs.

Markdown has no width: every column is shown, in one table.
"""
from __future__ import annotations

SHAPES = ("output", "input", "formula")


def _cell(text) -> str:
    """Text safe inside a table cell of a PR comment: no pipes, newlines or HTML from the spec."""
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("|", "\\|").replace("\n", " "))


def _code(text: str) -> str:
    return f"`{text}`" if text and text != "—" else text


def render(view, width: int | None = None) -> str:
    head = view.heading
    out = [f"### {_cell(head[0][0][1])}", "", _cell("".join(t for _, t in head[1]).replace("   seed", " · seed")), ""]
    out += table(view.table)
    for s in view.sections:
        if out[-1].startswith("|"):
            out.append("")
        out += _lines(s.lines)
        if s.title:
            out += [f"#### {_cell(s.title)}", ""]
        if s.table is not None:
            if s.table.title:
                out += ["", f"**{_cell(s.table.title)}**", ""]
            out += table(s.table)
        if s.after and out[-1].startswith("|"):
            out.append("")
        out += _lines(s.after)
    return "\n".join(out).rstrip("\n") + "\n"


def _lines(lines) -> list:
    out = []
    for style, text in lines:
        if not text:
            out.append("")
            continue
        t = _cell(text).replace("*", "\\*")
        out.append((f"**{t}**" if style == "bold" else f"*{t}*" if style == "dim" else t) + "  ")
    return out


def table(t) -> list:
    cols = t.columns
    out = ["| " + " | ".join(_cell(c.title) for c in cols) + " |",
           "|" + "|".join("--:" if c.align == "right" else "---" for c in cols) + "|"]
    for r in t.rows:
        cells = []
        for c in cols:
            text = r.cells.get(c.key, "")
            if c.key == "layer" and r.kind != "plain":
                body = text.lstrip(" ")
                pad = "&nbsp;" * (len(text) - len(body))
                name, _, rest = body.partition(" (")
                cell = pad + _code(_cell(name)) + (_cell(" (" + rest) if rest else "")
            elif c.key in SHAPES or c.key.startswith("output#"):
                cell = _code(_cell(text))
            else:
                cell = _cell(text)
                if cell and r.styles.get(c.key) == "italic":
                    cell = f"*{cell}*"
            cells.append(cell)
        out.append("| " + " | ".join(cells) + " |")
    return out
