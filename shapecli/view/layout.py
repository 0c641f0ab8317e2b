"""Fitting a table to a width without cutting anything.

Columns of priority 0 are always shown whole. When the table is wider than the width, the
lowest-priority columns (highest numbers; the rightmost first among equals) leave the main block;
they go to one second block keyed by full names, as many as fit there, and the rest are left out,
with a note saying so and how to see them. Cells wrap only where their row's pieces allow
(between the members of a tuple, before a type, between `k=v` items): never inside a shape or a
number. `width=None` is the natural width: every column in one block.
"""
from __future__ import annotations

from dataclasses import dataclass

from shapecli.view import Column, Row

GAP = 2  # spaces between columns


@dataclass
class Block:
    columns: list  # [Column]
    widths: list  # [int]
    rows: list  # [Row]
    keyed: bool = False  # the first column is the rows' full names (a block standing apart from the tree)


@dataclass
class Fitted:
    blocks: list  # [Block]
    moved: list  # [Column] shown in the second block
    left_out: list  # [Column] not shown at all


def _cell_width(row: Row, key: str) -> int:
    return len(row.cells.get(key, ""))


def _min_width(row: Row, key: str) -> int:
    """The narrowest the cell can be: its widest piece (continuation lines carry their prefix)."""
    p = row.pieces.get(key)
    if not p:
        return len(row.cells.get(key, ""))
    pieces, cont = p
    return max([len(pieces[0])] + [len(cont) + len(x.lstrip()) for x in pieces[1:]])


def natural(columns: list, rows: list) -> list:
    return [max([len(c.title)] + [_cell_width(r, c.key) for r in rows]) for c in columns]


def total(widths) -> int:
    return sum(widths) + GAP * (len(widths) - 1) if widths else 0


def fit(columns: list, rows: list, width: int | None, key_title: str = "Layer / parameter") -> Fitted:
    nat = natural(columns, rows)
    if width is None or total(nat) <= width:
        return Fitted([Block(columns, nat, rows)], [], [])
    wide = dict(zip((c.key for c in columns), nat))
    kept = list(columns)
    dropped = []
    while total([wide[c.key] for c in kept]) > width:
        optional = [(c.priority, i) for i, c in enumerate(kept) if c.priority > 0]
        if not optional:
            break
        _, i = max(optional)
        dropped.append(kept.pop(i))
    groups = {_top(c.group) for c in dropped if c.group}
    dropped += [c for c in kept if c.group and _top(c.group) in groups]
    kept = [c for c in kept if not (c.group and _top(c.group) in groups)]
    for c in sorted(dropped, key=lambda c: (c.priority, columns.index(c))):  # refill with what still fits
        if not c.group and total([wide[k.key] for k in kept] + [wide[c.key]]) <= width:
            kept.append(c)
            dropped.remove(c)
    kept.sort(key=columns.index)
    widths = _shrink(kept, rows, [wide[c.key] for c in kept], width)
    blocks = [Block(kept, widths, rows)]
    moved, left_out = [], []
    if dropped:
        key = Column("full", key_title)
        keyw = max([len(key_title)] + [len(r.full or r.cells.get(columns[0].key, "")) for r in rows])
        units: list = []  # whole sub-groups, in priority order
        for c in sorted(dropped, key=lambda c: (c.priority, columns.index(c))):
            unit = next((u for u in units if c.group and u[0].group == c.group), None)
            if unit is None:
                units.append([c])
            else:
                unit.append(c)
        for unit in units:
            if total([keyw] + [wide[m.key] for m in moved + unit]) <= width:
                moved += unit
            else:
                left_out += unit
        if moved:
            moved.sort(key=columns.index)
            some = [r for r in rows if any(r.cells.get(c.key) for c in moved)]
            keyed = [Row(r.kind, {"full": r.full or r.cells.get(columns[0].key, ""), **r.cells}, 0, r.full,
                         {}, {"full": r.styles.get(columns[0].key, ""), **r.styles}) for r in some]
            blocks.append(Block([key] + moved, [keyw] + [wide[c.key] for c in moved], keyed, keyed=True))
        left_out.sort(key=columns.index)
    return Fitted(blocks, moved, left_out)


def _top(group: str) -> str:
    return group.split(".")[0]


def _shrink(cols: list, rows: list, widths: list, width: int) -> list:
    """Narrow the wrappable columns (the widest first) toward their narrowest, until the table fits."""
    floors = [max([len(c.title)] + [_min_width(r, c.key) for r in rows]) if c.breaks else w
              for c, w in zip(cols, widths)]
    widths = list(widths)
    excess = total(widths) - width
    while excess > 0:
        room = [(widths[i] - floors[i], i) for i in range(len(cols)) if widths[i] > floors[i]]
        if not room:
            break
        _, i = max(room)
        step = min(excess, widths[i] - floors[i], max(1, (widths[i] - floors[i]) // 2))
        widths[i] -= step
        excess -= step
    return widths


def wrap(row: Row, key: str, width: int) -> list:
    """The cell's lines at this width: pieces placed greedily; a line is wider only if one piece is."""
    text = row.cells.get(key, "")
    if len(text) <= width or key not in row.pieces:
        return [text]
    pieces, cont = row.pieces[key]
    lines = [pieces[0]]
    for p in pieces[1:]:
        if len(lines[-1]) + len(p) <= width:
            lines[-1] += p
        else:
            lines[-1] = lines[-1].rstrip()
            lines.append(cont + p.lstrip())
    return lines


def wrap_words(text: str, width: int | None, indent: str = "  ") -> list:
    """A line of prose wrapped at spaces outside brackets (so a shape stays on one line)."""
    if width is None or len(text) <= width:
        return [text]
    body = text.lstrip(" ")
    lead = " " * (len(text) - len(body))
    words, depth, cur = [], 0, ""
    for ch in body:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth = max(0, depth - 1)
        if ch == " " and depth == 0:
            words.append(cur)
            cur = ""
        else:
            cur += ch
    words.append(cur)
    out, line = [], lead + words[0]
    for w in words[1:]:
        if len(line) + 1 + len(w) <= width:
            line += " " + w
        else:
            out.append(line)
            line = lead + indent + w
    out.append(line)
    return out
