"""shapecli/render: the format registry, the writers, colour rules, and Report's notebook/str forms."""
import io

import pytest
from conftest import CONFIGS

import shapecli
from shapecli.render import FORMATS, render
from shapecli.render.terminal import colour, print_report


@pytest.fixture(scope="module")
def mlp():
    return shapecli.inspect(str(CONFIGS / "mlp.yaml"))


def test_registry_has_every_format(mlp):
    for fmt in FORMATS:
        out = render(mlp, fmt)
        assert "5,120" in out or '"numel": 5120' in out, fmt


@pytest.mark.parametrize("env,tty,want", [({}, True, True), ({}, False, False), ({"NO_COLOR": "1"}, True, False),
                                          ({"NO_COLOR": ""}, True, True), ({"FORCE_COLOR": "1"}, False, True),
                                          ({"FORCE_COLOR": ""}, False, False),
                                          ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False, False)])
def test_colour_follows_no_color_and_force_color(env, tty, want):
    assert colour(tty, env) is want


def test_force_color_colours_a_pipe(mlp, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    buf = io.StringIO()
    print_report(mlp, file=buf)
    assert "\x1b[" in buf.getvalue() and "[256, 20]" in buf.getvalue()
    monkeypatch.setenv("NO_COLOR", "1")
    buf = io.StringIO()
    print_report(mlp, file=buf)
    assert "\x1b[" not in buf.getvalue()


def test_str_is_the_plain_table(mlp):
    assert str(mlp) == render(mlp, "text")
    assert str(mlp).splitlines()[2].startswith("Layer (type)")


def test_repr_html_and_rich(mlp):
    html = mlp._repr_html_()
    assert "<table>" in html and "<td>[256, 20]</td>" in html
    from rich.console import Console

    c = Console(file=io.StringIO(), width=60, force_terminal=False, color_system=None)
    c.print(mlp)
    out = c.file.getvalue()
    assert "[256, 20]" in out and max(len(x) for x in out.splitlines()) <= 60


def test_exports_keep_the_natural_width_when_piped(mlp, tmp_path):
    paths = {"html": str(tmp_path / "t.html"), "svg": str(tmp_path / "t.svg")}
    print_report(mlp, file=io.StringIO(), width=60, force_terminal=False, exports=paths)
    html = open(paths["html"], encoding="utf-8").read()
    assert "default: std 0.1291, ±0.2236, fan 20→256" in html and "…" not in html
    svg = open(paths["svg"], encoding="utf-8").read()
    assert "…" not in svg and "init:" in svg


def test_markdown_has_every_section(mlp):
    md = render(mlp, "markdown")
    assert "| `0` (Linear) | `[2, 256]` |" in md and "hist" in md and "init: expected" in md
    assert "\n\n**Params: 7,946" in md
