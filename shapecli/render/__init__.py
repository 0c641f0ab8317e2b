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
    """The documented JSON document (shapecli/report.schema.json): strict, no NaN or Infinity."""
    return json.dumps(report.to_dict(), indent=indent, allow_nan=False, ensure_ascii=False)


from shapecli.view.units import BARS, fmt_float, human_bytes, human_count, shape_str, sparkline  # noqa: E402,F401
