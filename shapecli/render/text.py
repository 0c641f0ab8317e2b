"""Plain text: shapecli's own writer (what `inspect` prints when piped; checked by golden files).

`styled_lines(view, width)` gives lines of (style, text) spans: this writer joins the text; the
terminal writer (render/terminal.py) hands the same spans to rich for colour. So a terminal and a
pipe show the same layout. width=None: the table's natural width.
"""
from __future__ import annotations

from shapecli.view.layout import GAP, fit, wrap, wrap_words

HINT = "--wide shows every column; --columns NAME,... picks them (docs/output.md)"


def render(view, width: int | None = None) -> str:
    return "".join("".join(t for _, t in line).rstrip() + "\n" for line in styled_lines(view, width, plain=True))


def styled_lines(view, width: int | None = None, plain: bool = False) -> list:
    out = []
    for line in view.heading:
        out += _wrap_spans(line, width)
    out += table_lines(view.table, width, plain)
    for s in view.sections:
        out += _prose(s.lines, width)
        if s.title:
            out += _prose([("bold", s.title)], width)
        if s.table is not None:
            out += table_lines(s.table, width, plain)
        out += _prose(s.after, width)
    return out


def _prose(lines, width) -> list:
    return [[(style, t)] for style, text in lines for t in wrap_words(text, width)]


def _wrap_spans(spans, width) -> list:
    text = "".join(t for _, t in spans)
    if width is None or len(text) <= width:
        return [list(spans)]
    return [[(spans[0][0], t)] for t in wrap_words(text, width)]


def table_lines(table, width: int | None, plain: bool = False) -> list:
    fitted = fit(table.columns, table.rows, width, table.key_title)
    out = []
    if table.title:
        out += [[("", t)] for t in wrap_words(table.title, width)]
    for n, block in enumerate(fitted.blocks):
        if n:
            out.append([("", "")])
        out += _block(block, plain)
    if fitted.moved or fitted.left_out:
        parts = []
        if fitted.moved:
            parts.append("moved below: " + ", ".join(c.title for c in fitted.moved))
        if fitted.left_out:
            parts.append("left out: " + ", ".join(c.title for c in fitted.left_out))
        note = f"Columns at {width} wide: " + "; ".join(parts) + f". {HINT}"
        out += [[("dim", t)] for t in wrap_words(note, width)]
    return out


def _block(block, plain: bool = False) -> list:
    cols, widths = block.columns, block.widths
    gap = " " * GAP
    head = gap.join(_pad(c.title, w, c.align) for c, w in zip(cols, widths))
    out = [[("bold", head)], [("", "─" * sum(widths) + "─" * GAP * (len(widths) - 1))]]
    spec = [(c.key, w, c.align == "right") for c, w in zip(cols, widths)]
    for row in block.rows:
        if plain:  # one span per line; a cell wider than its column is the only reason to wrap
            cells = row.cells
            texts = [cells.get(k, "") for k, _, _ in spec]
            if all(len(t) <= w for t, (_, w, _) in zip(texts, spec)):
                out.append([("", gap.join(t.rjust(w) if r else t.ljust(w) for t, (_, w, r) in zip(texts, spec)))])
                continue
        cells = [wrap(row, c.key, w) for c, w in zip(cols, widths)]
        height = max(len(c) for c in cells)
        for i in range(height):
            spans = []
            for j, (c, w) in enumerate(zip(cols, widths)):
                text = cells[j][i] if i < len(cells[j]) else ""
                if j:
                    spans.append(("", gap))
                spans.append((row.styles.get(c.key, "") or _kind_style(row, c.key), _pad(text, w, c.align)))
            out.append(spans)
    return out


def _kind_style(row, key: str) -> str:
    return "cyan" if key == "type" else ""


def _pad(text: str, width: int, align: str) -> str:
    return text.rjust(width) if align == "right" else text.ljust(width)
