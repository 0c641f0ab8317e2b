"""A fast path for printing big rich Tables as plain text (piped output, NO_COLOR).

rich renders every cell through Padding, wrapping and measuring: about 1-2 ms per row, so a
10,000-layer report (50,000 rows) took over a minute. When nothing is styled on output (the
console has no colour system: piped, or NO_COLOR) and the table uses only what shapecli's tables
use (a SIMPLE_HEAD-like box without edges, no-wrap columns at their natural width, cells that
are one-line str or Text), `FastTable` writes the very same characters rich would, computed
with plain string arithmetic. Anything else is handed to rich unchanged.

    parts.append(FastTable(table))   # instead of parts.append(table)

tests/test_fasttable.py checks byte-for-byte equality with rich on the model zoo.
"""
from __future__ import annotations

from rich.cells import cell_len
from rich.segment import Segment
from rich.text import Text

MIN_ROWS = 0  # use the fast path for any eligible table (it is exact), not only big ones


class FastTable:
    def __init__(self, table):
        self.table = table

    def __rich_console__(self, console, options):
        lines = None
        if len(self.table.rows) >= MIN_ROWS:
            try:
                lines = plain_lines(self.table, console, options)
            except Exception:  # noqa: BLE001 - never worse than rich itself
                lines = None
        if lines is None:
            yield self.table
            return
        new_line = Segment.line()
        for line in lines:
            yield Segment(line)
            yield new_line

    def __rich_measure__(self, console, options):
        from rich.measure import Measurement

        return Measurement.get(console, options, self.table)


def _eligible(t, console) -> bool:
    if console.color_system is not None:  # styles would be written: let rich do it
        return False
    if (t.title or t.caption or t.show_footer or t.show_lines or t.leading or t.expand or t.width is not None
            or t.min_width is not None or t.collapse_padding or t.pad_edge or t.show_edge or not t.show_header
            or t.row_styles or tuple(t.padding) != (0, 1, 0, 1) or t.box is None):
        return False
    for c in t.columns:
        if (not c.no_wrap or c.width is not None or c.min_width is not None or c.max_width is not None
                or c.ratio is not None or c.justify not in ("left", "right") or c.overflow not in ("ellipsis", "fold", "crop")):
            return False
    return True


def _text(cell, console, column) -> str | None:
    """The plain characters rich would print for a cell (None: not a simple one-line cell)."""
    if isinstance(cell, str):
        cell = console.render_str(cell, highlight=column.highlight)
    if not isinstance(cell, Text):
        return None
    if cell.justify not in (None, "default") or cell.end != "\n":
        return None
    s = cell.plain
    if "\n" in s or "\t" in s or "\r" in s:
        return None
    return s


def plain_lines(t, console, options) -> list[str] | None:
    if not _eligible(t, console):
        return None
    ncol = len(t.columns)
    if ncol == 0:
        return None
    cols = []
    for c in t.columns:
        cells = [_text(c.header, console, c)] + [_text(x, console, c) for x in c.cells]
        if any(x is None for x in cells):
            return None
        cols.append(cells)
    nrows = len(cols[0])
    if any(len(c) != nrows for c in cols):
        return None
    # natural widths, padding included: first column has no left pad, last no right pad
    pads = [(0 if i == 0 else 1, 0 if i == ncol - 1 else 1) for i in range(ncol)]
    lens = [[cell_len(s) for s in cells] for cells in cols]
    content = [max(ls) for ls in lens]
    widths = [w + l + r for w, (l, r) in zip(content, pads)]
    for i, w in enumerate(widths):
        if w == 0:  # rich gives an all-empty column one cell
            widths[i], content[i] = 1, 1
    total = sum(widths) + (ncol - 1)  # one divider between columns
    if total > options.max_width:
        return None  # rich would shrink or crop columns
    box = t.box.substitute(options, safe=t.safe_box if t.safe_box is not None else console.safe_box)
    if box.head_vertical.strip() or box.mid_vertical.strip() or box.foot_vertical.strip():
        return None
    div_head, div_mid, div_foot = box.head_vertical, box.mid_vertical, box.foot_vertical
    out = []
    just = [c.justify for c in t.columns]
    for r in range(nrows):
        parts = []
        for i in range(ncol):
            s, n = cols[i][r], lens[i][r]
            gap = content[i] - n
            body = s + " " * gap if just[i] == "left" else " " * gap + s
            left, right = pads[i]
            parts.append(" " * left + body + " " * right)
        div = div_head if r == 0 else (div_foot if r == nrows - 1 else div_mid)
        out.append(div.join(parts))
        if r == 0:
            out.append(box.get_row(widths, "head", edge=False))
    return out
