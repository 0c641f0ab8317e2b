"""SVG: the terminal's picture of the table (rich's export), always at the table's natural width."""
from __future__ import annotations


def render(view, width: int | None = None) -> str:
    import os

    from rich.console import Console

    from shapecli.render.terminal import _text
    from shapecli.render.text import styled_lines

    lines = styled_lines(view, width)
    natural = max([len("".join(t for _, t in line).rstrip()) for line in lines] + [20])
    with open(os.devnull, "w") as sink:
        rec = Console(record=True, width=natural, force_terminal=True, file=sink, color_system="truecolor",
                      highlight=False, emoji=False, force_jupyter=False)
        for line in lines:
            rec.print(_text(line), soft_wrap=True)
        return rec.export_svg(title=f"shapecli: {view.name}", clear=False)
