"""Render: the formats a Report is drawn in, one small writer each, behind one registry. No torch here.

Every writer but JSON draws the view model (shapecli/view: sections and rows made once); each is a
module with `render(view, width) -> str`. Adding a format: one module and one line in FORMATS.
JSON is the Report's own `to_dict` (every layer, nothing folded).
"""
from __future__ import annotations

import json
from importlib import import_module

FORMATS = {  # name -> the writer's module
    "text": "shapecli.render.text",  # plain text, shapecli's own layout (piped output)
    "table": "shapecli.render.terminal",  # the same layout in colour (rich), for a terminal
    "markdown": "shapecli.render.markdown",
    "html": "shapecli.render.html",
    "svg": "shapecli.render.svg",
    "json": None,
}


def render(report, fmt: str = "text", width: int | None = None, **view_options) -> str:
    """The report in one format. view_options: depth, params, expand, columns, trace (view.build)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: choose {', '.join(FORMATS)}")
    if fmt == "json":
        return to_json(report) + "\n"
    from shapecli.view import build

    return import_module(FORMATS[fmt]).render(build(report, **view_options), width)


def to_json(report, indent: int | None = 2) -> str:
    """The documented JSON document (docs/report.schema.json): strict, no NaN or Infinity."""
    return json.dumps(report.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)


def shape_str(out) -> str:
    """[2, 10] for a tensor; (A, (B, C)) for tuple outputs; '—' when absent."""
    if out is None:
        return "—"
    if isinstance(out, dict):
        return "[" + ", ".join(str(d) for d in out["shape"]) + "]"
    if isinstance(out, list):
        return "(" + ", ".join(shape_str(o) for o in out) + ")"
    return "[" + ", ".join(str(d) for d in out.shape) + "]"


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} PiB"


def human_count(n: int) -> str:
    for unit, div in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return str(n)


BARS = " ▁▂▃▄▅▆▇█"


def sparkline(counts) -> str:
    if not counts:
        return ""
    top = max(counts) or 1
    return "".join(BARS[min(8, round(c / top * 8))] if c else BARS[0] for c in counts)


def fmt_float(v) -> str:
    if v is None:
        return "—"
    if v != v:
        return "nan"
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e4 or a < 1e-3:
        return f"{v:.2e}"
    return f"{v:.4f}"
