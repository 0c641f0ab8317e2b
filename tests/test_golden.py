"""Golden files: every output shapecli prints, over the whole zoo, compared byte for byte.

    .venv/bin/python -m pytest tests/test_golden.py --update-golden   # regenerate after an intended change

A golden file changes only in a commit that says why (README, "Tests"). Outputs are produced
in-process from one Report per config; the torch version is written as `<torch>` so the files
hold on any supported torch, and wall times (a symbolic pass's `seconds`) are removed.
"""
from __future__ import annotations

import functools
import io
import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import CONFIGS, ROOT

GOLDEN = Path(__file__).parent / "golden"
ZOO = sorted(p.stem for p in CONFIGS.glob("*.yaml"))
WIDTHS = (60, 80, 120, 200)


def _normalize(text: str) -> str:
    import torch

    version = torch.__version__.split("+")[0]
    # `torch 2.13.0` may wrap onto the next line in a narrow table's heading
    text = re.sub(r"(torch\s+)" + re.escape(version), r"\1<torch>", text)
    text = text.replace(f'"torch_version": "{version}"', '"torch_version": "<torch>"')
    return re.sub(r'"seconds": [0-9.eE+-]+', '"seconds": "<removed>"', text)


def _compare(request, name: str, text: str) -> None:
    text = _normalize(text)
    path = GOLDEN / name
    if request.config.getoption("--update-golden"):
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"no golden file {path.relative_to(ROOT)}: run pytest {__file__} --update-golden"
    want = path.read_text(encoding="utf-8")
    if text != want:
        import difflib

        diff = "".join(difflib.unified_diff(want.splitlines(True), text.splitlines(True), "golden", "now", n=2))
        pytest.fail(f"{path.relative_to(ROOT)} differs (regenerate with --update-golden if intended):\n{diff[:6000]}")


@functools.lru_cache(maxsize=None)
def _report(config: str):
    import shapecli

    return shapecli.inspect(str(CONFIGS / f"{config}.yaml").replace(str(ROOT) + "/", ""))


# ---------------------------------------------------------------------------- inspect over the zoo

def _table_text(report, width: int | None) -> str:
    from shapecli.render.terminal import print_report

    buf = io.StringIO()
    print_report(report, file=buf, width=width, force_terminal=False)
    return buf.getvalue()


def _markdown_text(report) -> str:
    from shapecli.render import render

    return render(report, "markdown")


def _json_text(report) -> str:
    from shapecli.render import to_json

    return to_json(report) + "\n"


@pytest.fixture(autouse=True)
def _in_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # spec paths in the outputs are relative: configs/x.yaml


@pytest.mark.parametrize("config", ZOO)
def test_inspect_table(request, config):
    report = _report(config)
    for w in WIDTHS:
        _compare(request, f"inspect/{config}.w{w}.txt", _table_text(report, w))
    _compare(request, f"inspect/{config}.piped.txt", _table_text(report, None))


@pytest.mark.parametrize("config", ZOO)
def test_inspect_markdown(request, config):
    _compare(request, f"inspect/{config}.md", _markdown_text(_report(config)))


@pytest.mark.parametrize("config", ZOO)
def test_inspect_json(request, config):
    _compare(request, f"inspect/{config}.json", _json_text(_report(config)))


# ---------------------------------------------------------------------------- the CLI's other views

CLI_CASES = {
    "mlp.activations": ["inspect", "configs/mlp.yaml", "--activations"],
    "deep_sigmoid.activations": ["inspect", "configs/deep_sigmoid.yaml", "--activations", "--no-params"],
    "lenet5.trace": ["inspect", "configs/lenet5.yaml", "--trace-init"],
    "mlp.estimates": ["inspect", "configs/mlp.yaml", "-e"],
    "mlp.estimates.md": ["inspect", "configs/mlp.yaml", "-e", "-f", "markdown"],
    "mlp.estimates.json": ["inspect", "configs/mlp.yaml", "-e", "--json"],
    "resnet18.estimates": ["inspect", "configs/resnet18.yaml", "-e", "--no-params"],
    "gpt2_small.estimates.md": ["inspect", "configs/gpt2_small.yaml", "--dtype", "float32,bfloat16", "--flops",
                                "-f", "markdown", "--depth", "1"],
    "resnet50.depth2": ["inspect", "configs/resnet50.yaml", "--depth", "2", "--no-params"],
    "mlp.inputs": ["inspect", "configs/mlp.yaml", "--input", "2,20", "--input", "5,20", "--input", "2,30"],
    "lenet5.symbolic": ["inspect", "configs/lenet5.yaml", "--input", "B,1,H=28,W=28"],
    "lenet5.symbolic.json": ["inspect", "configs/lenet5.yaml", "--input", "B,1,H=28,W=28", "--json"],
    "mlp.symbolic.md": ["inspect", "configs/mlp.yaml", "--input", "B,F", "-f", "markdown"],
    "resnet18.expand": ["inspect", "configs/resnet18.yaml", "--expand", "--no-params"],
    "resnet50.columns": ["inspect", "configs/resnet50.yaml", "--columns", "input,output,kernel,stride,params,share",
                         "--no-params", "--depth", "3"],
    "lstm_classifier.columns": ["inspect", "configs/lstm_classifier.yaml", "--columns", "input,output,params,trainable"],
    "mlp.html": ["inspect", "configs/mlp.yaml", "-f", "html"],
    "lenet5.flops": ["inspect", "configs/lenet5.yaml", "--flops", "--columns", "output,params,mult_adds,kernel,stride"],
    "gpt3_175b.depth2.expand": ["inspect", "configs/gpt3_175b.yaml", "--expand", "--no-params", "--depth", "2"],
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli_output(request, cli, case):
    code, out, err = cli(*CLI_CASES[case])
    _compare(request, f"cli/{case}.txt", f"exit {code}\n--- stdout\n{out}--- stderr\n{err}")


# ---------------------------------------------------------------------------- check's diffs

CHANGED = {  # a config and the edit that changes its architecture
    "mlp": ("Linear: 256", "Linear: 128"),
    "resnet18": ("- Linear: 1000", "- Linear: 100"),
}
CHECK_FORMATS = ("table", "json", "markdown", "github")


@pytest.fixture(scope="module")
def changed_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("changed")
    for name, (old, new) in CHANGED.items():
        text = (CONFIGS / f"{name}.yaml").read_text(encoding="utf-8")
        assert old in text, (name, old)
        (d / f"{name}.yaml").write_text(text.replace(old, new, 1), encoding="utf-8")
        shutil.copy(CONFIGS / f"{name}.shapes.json", d / f"{name}.shapes.json")
    return d


@pytest.mark.parametrize("fmt", CHECK_FORMATS)
def test_check_diff(request, cli, changed_dir, monkeypatch, fmt):
    monkeypatch.chdir(changed_dir)
    code, out, err = cli("check", "mlp.yaml", "resnet18.yaml", "--format", fmt)
    assert code == 1, err
    if fmt == "json":
        json.loads(out)
    _compare(request, f"check/changed.{fmt}.txt", f"exit {code}\n--- stdout\n{out}--- stderr\n{err}")


def test_check_table_80(request, changed_dir, monkeypatch):
    monkeypatch.chdir(changed_dir)
    import shapecli
    import shapecli.render.diff as diff

    results = shapecli.check(["mlp.yaml", "resnet18.yaml"]).results
    buf = io.StringIO()
    diff.print_table(results, file=buf, force_terminal=False, width=80)
    _compare(request, "check/changed.table.w80.txt", buf.getvalue())


def test_check_ok(request, cli):
    code, out, err = cli("check", "configs/mlp.yaml", "configs/lenet5.yaml")
    _compare(request, "check/ok.txt", f"exit {code}\n--- stdout\n{out}--- stderr\n{err}")
