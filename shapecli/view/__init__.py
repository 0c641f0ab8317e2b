"""The view model: a Report becomes a heading, tables of rows and sections of lines, once.

Every format (render/: plain text, the terminal, markdown, HTML, SVG) draws these same rows;
none of them looks at the Report again. No torch and no rich here.

    v = build(report, depth=None, params=True, expand=False, columns=None)
    v.table.columns   # [Column]: key, title, alignment, priority (0: never dropped)
    v.table.rows      # [Row]: one per layer (repeated blocks folded) and per parameter
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Column:
    key: str  # "layer", "output", "params", "mean", ... (the names --columns takes)
    title: str
    align: str = "left"  # "left" | "right"
    priority: int = 0  # 0: always shown whole; higher numbers are moved below or left out first when space is short
    breaks: bool = False  # its cells may wrap at the points the row's pieces give (never inside a shape or number)
    group: str = ""  # columns of one group leave the main block together (the statistics)


@dataclass
class Row:
    kind: str  # "layer" | "container" | "param" | "plain"
    cells: dict  # column key -> text ("" when empty)
    depth: int = 0
    full: str = ""  # the full path or parameter name, for blocks that stand apart from the tree
    pieces: dict = field(default_factory=dict)  # column key -> [str]: where a cell may wrap (joined: the cell)
    styles: dict = field(default_factory=dict)  # column key -> a style name (bold, dim, cyan, green, yellow, red, ...)


@dataclass
class Table:
    columns: list  # [Column], in display order
    rows: list  # [Row]
    title: Optional[str] = None
    key_title: str = "Layer / parameter"  # the first column's title where rows stand apart from the tree


@dataclass
class Section:
    """Something printed after the main table: a title, lines of (style, text), a table."""

    name: str  # "totals", "inputs", "symbolic", "diagnostics", "trace", "activations", "estimates"
    lines: list = field(default_factory=list)  # [(style, text)]
    table: Optional[Table] = None
    after: list = field(default_factory=list)  # [(style, text)] after the table
    title: Optional[str] = None


@dataclass
class View:
    heading: list  # [[(style, text), ...]]: lines of styled spans
    table: Table
    sections: list  # [Section]
    name: str = ""


def build(report, depth: int | None = None, params: bool = True, expand: bool = False,
          columns: list | None = None, trace: bool = False) -> View:
    """The view of a report. `columns`: names from COLUMNS (the layer column is always shown)."""
    from shapecli.view.rows import heading, main_table
    from shapecli.view.sections import sections

    table, folded = main_table(report, depth=depth, params=params, expand=expand, columns=columns)
    return View(heading=heading(report), table=table, sections=sections(report, folded, trace=trace, depth=depth),
                name=report.name)


# The columns --columns takes, in display order, with what each shows (docs/output.md).
COLUMNS = {
    "layer": "the layer's name and type (indented by depth); its parameters below it",
    "input": "the shapes the layer was given (first input)",
    "output": "a layer's output shape (first input); a parameter's own shape",
    "outputs": "output shapes for the second and later inputs (one column per input)",
    "formula": "the output shape as formulas of named input sizes (symbolic inputs such as B,3,H,W)",
    "kernel": "kernel size (Conv*, *Pool*)",
    "stride": "stride (Conv*, *Pool*)",
    "params": "parameters (a layer: its own and its children's, tied ones counted once)",
    "share": "the layer's share of all parameters (%)",
    "trainable": "yes / no / partly (frozen parameters)",
    "mult_adds": "multiply-adds of the forward pass (with --flops: FLOPs / 2)",
    "inferred": "arguments inferred from the data (in_features=20)",
    "mean": "measured mean of a parameter at init (italics: analytic, on meta)",
    "std": "its standard deviation (population)",
    "min": "its minimum",
    "max": "its maximum",
    "hist": "a histogram of its values",
    "init": "the init scheme and what its formula expects (⚠ when the measured values disagree)",
}
