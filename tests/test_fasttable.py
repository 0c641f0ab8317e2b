"""shapecli/render/fasttable.py prints exactly what rich prints, only faster."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console, Group
from rich.table import Table

import shapecli
from shapecli.render.fasttable import FastTable, plain_lines
from shapecli.render.table import render_table, render_trace

ROOT = Path(__file__).resolve().parent.parent

SPECS = {
    "mlp": ("configs/mlp.yaml", None),
    "lenet5": ("configs/lenet5.yaml", None),
    "resnet18": ("configs/resnet18.yaml", None),
    "gpt2_small": ("configs/gpt2_small.yaml", None),  # meta, tied, analytic stats
    "two_inputs": ("configs/mlp.yaml", ["2,20", "5,20", "3,7"]),  # extra Output columns and a failed run
}


def _swap(renderable, fast: bool):
    """The same renderables with every rich Table (un)wrapped in FastTable."""
    if isinstance(renderable, FastTable):
        return renderable if fast else renderable.table
    if isinstance(renderable, Table):
        return FastTable(renderable) if fast else renderable
    if isinstance(renderable, Group):
        return Group(*[_swap(r, fast) for r in renderable.renderables])
    return renderable


def _print(renderable, **console_kw) -> str:
    buf = io.StringIO()
    kw = dict(file=buf, width=100_000, force_terminal=False, no_color=True, highlight=False, emoji=False,
              soft_wrap=False, color_system=None)
    kw.update(console_kw)
    Console(**kw).print(renderable)
    return buf.getvalue()


@pytest.fixture(scope="module")
def reports():
    out = {}
    for name, (path, inputs) in SPECS.items():
        spec = shapecli.load_spec(ROOT / path)
        samples = [shapecli.parse_input(i, spec) for i in inputs] if inputs else None
        out[name] = shapecli.materialize(spec, samples)[1]
    return out


@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("depth,params", [(None, True), (2, True), (None, False), (1, False)])
def test_identical_to_rich(reports, name, depth, params):
    group = render_table(reports[name], depth=depth, params=params)
    tables = [r.table if isinstance(r, FastTable) else r for r in group.renderables if isinstance(r, (Table, FastTable))]
    plain = Console(file=io.StringIO(), width=100_000, color_system=None)
    assert tables and all(plain_lines(t, plain, plain.options) is not None for t in tables)  # the fast path ran
    slow = _print(_swap(group, fast=False))
    fast = _print(_swap(group, fast=True))
    assert fast == slow


def test_trace_table_identical(reports):
    t = render_trace(reports["resnet18"])
    assert _print(FastTable(t)) == _print(t)


def test_falls_back_when_styled_or_narrow(reports):
    t = [r for r in render_table(reports["mlp"]).renderables if isinstance(r, (Table, FastTable))][0]
    t = t.table if isinstance(t, FastTable) else t
    console = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor", width=200)
    assert plain_lines(t, console, console.options) is None  # colours: rich renders
    narrow = Console(file=io.StringIO(), color_system=None, width=40)
    assert plain_lines(t, narrow, narrow.options) is None  # would have to shrink columns
    assert _print(FastTable(t), width=40) == _print(t, width=40)
    styled = _print(FastTable(t), force_terminal=True, no_color=False, color_system="truecolor")
    assert styled == _print(t, force_terminal=True, no_color=False, color_system="truecolor")
