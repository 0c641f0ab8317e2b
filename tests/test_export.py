"""shapecli.export: every zoo spec as a standalone PyTorch file, checked against the spec's own model.

The exported class is executed from a temp file in a fresh module (no shapecli import in it). Its
parameters and buffers (names, shapes, dtypes, order, trainable), its output shapes and, where the
spec's model has real values, its initial values with the same seed must equal the spec model's,
every one of them: what the spec's materializing pass draws (Dropout) leaves them as they were.
"""
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT

import shapecli
from shapecli.export import ExportError, export_code

ZOO = sorted(p.stem for p in (ROOT / "configs").glob("*.yaml"))
def load(source: str, path: Path, name: str = "exported"):
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)  # not put in sys.modules: nothing process-wide changes
    spec.loader.exec_module(mod)
    return mod


def entries(named, trainable=True):
    return [(n, list(t.shape), str(t.dtype).replace("torch.", "")) + ((t.requires_grad,) if trainable else ())
            for n, t in named]


def describe(x):
    if isinstance(x, torch.Tensor):
        return {"shape": list(x.shape), "dtype": str(x.dtype).replace("torch.", "")}
    return [describe(y) for y in x]


def sample(report, device):
    out = []
    g = torch.Generator().manual_seed(report.seed + 1)
    for t in report.inputs:
        dt = getattr(torch, t.dtype)
        if device == "meta":
            out.append(torch.empty(t.shape, dtype=dt, device="meta"))
        elif dt.is_floating_point:
            out.append(torch.randn(t.shape, generator=g, dtype=dt))
        else:
            out.append(torch.zeros(t.shape, dtype=dt))
    return out


@pytest.mark.parametrize("name", ZOO)
def test_round_trip(name, tmp_path):
    spec = shapecli.load_spec(ROOT / "configs" / f"{name}.yaml")
    source = export_code(spec, class_name="Exported")
    assert "shapecli" not in "\n".join(ln for ln in source.splitlines()[5:])  # below the header: plain torch
    imports = {ln for ln in source.splitlines() if ln.startswith(("import ", "from "))}
    assert imports <= {"import torch", "from torch import nn", "from collections import OrderedDict"}
    model, report = shapecli.materialize(spec, stats=False, histograms=False)
    mod = load(source, tmp_path / f"{name}.py")
    if report.device == "meta":
        with torch.device("meta"):
            ex = mod.Exported()
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(report.seed)
            ex = mod.Exported()
    want = [(p.name, p.shape, p.dtype, p.trainable) for p in report.params]
    assert entries(ex.named_parameters(remove_duplicate=False)) == want
    assert [p.shared_with is not None for p in report.params] == \
        [n not in dict(ex.named_parameters()) for n, _ in ex.named_parameters(remove_duplicate=False)]
    assert entries(ex.named_buffers(), trainable=False) == [(b.name, b.shape, b.dtype) for b in report.buffers]
    if report.device != "meta":  # every initial value, after a Dropout as before one (model/lazy.py:init_stream)
        ours = dict(model.named_parameters(remove_duplicate=False))
        for n, t in ex.named_parameters(remove_duplicate=False):
            assert torch.equal(t, ours[n]), n
        ours = dict(model.named_buffers())
        for n, t in ex.named_buffers():  # before ex's own training-mode pass below moves BatchNorm's
            assert torch.equal(t, ours[n]), n
    with torch.no_grad():
        out = ex(*sample(report, report.device))
    assert describe(out) == _plain(report.runs[0].output)


def _plain(o):
    if isinstance(o, list):
        return [_plain(x) for x in o]
    return {"shape": o.shape, "dtype": o.dtype}


@pytest.mark.parametrize("name", ZOO)
def test_ruff_accepts_the_export(name, tmp_path):
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    path = tmp_path / f"{name}.py"
    path.write_text(export_code(ROOT / "configs" / f"{name}.yaml"))
    for args in (["check", "--isolated", "-q"], ["format", "--isolated", "--check", "-q"]):
        p = subprocess.run([ruff, *args, str(path)], capture_output=True, text=True)
        assert p.returncode == 0, p.stdout + p.stderr


def test_blocks_become_classes_with_their_sizes_as_parameters():
    src = export_code(ROOT / "configs" / "resnet18.yaml")
    assert "class Basic(nn.Module):" in src and "class Basic2(nn.Module):" in src  # uses with and without downsample
    assert "class Stage(nn.Sequential):" in src
    assert "        self.downsample = nn.Sequential(\n" in src and "        x = x + self.downsample(identity)\n" in src
    assert "        x = self.relu2(x)  # [1, c, *, *]\n" in src  # the Residual's after: once the sum is made
    assert "def __init__(self, c: int, in_channels: int) -> None:" in src  # in_channels: inferred, differs
    assert "self.layer3 = Stage2(c=256, in_channels=128)" in src
    assert "nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)" in src  # in_channels 3 written out
    assert "x = self.layer4(x)  # [1, 512, 7, 7]" in src


def test_init_schemes_follow_each_layer_and_repeats_are_loops():
    src = export_code(ROOT / "configs" / "deep_relu_kaiming.yaml")
    assert "for _ in range(50):" in src
    assert 'nn.init.kaiming_normal_(layer[0].weight, nonlinearity="relu")' in src
    assert "nn.init.zeros_(layer[0].bias)" in src


def test_glue_is_plain_code():
    src = export_code(ROOT / "configs" / "unet.yaml")
    assert "x = torch.cat([x, enc3], dim=1)  # [1, 128, 16, 16]" in src
    src = export_code(ROOT / "configs" / "lstm_classifier.yaml")
    assert "x = x[0]  # [2, 16, 256]" in src and "x = x[:, -1]  # [2, 256]" in src
    assert "self.embed.requires_grad_(False)" in src
    src = export_code(ROOT / "configs" / "mlp.yaml", inputs="5,7")
    assert "nn.Linear(7, 256)" in src


def test_a_tied_weight_is_one_parameter(tmp_path):
    spec = shapecli.parse_spec("input: {shape: [2, 5], dtype: int64}\nlayers:\n"
                               "  - Embedding: [11, 6]\n    name: emb\n"
                               "  - Linear: {out_features: 11, bias: false}\n    tie: emb\n")
    ex = load(export_code(spec, class_name="Tied"), tmp_path / "tied.py").Tied()
    assert ex.get_submodule("1").weight is ex.emb.weight


def test_symbolic_input_gives_formula_comments():
    src = export_code(ROOT / "configs" / "mlp.yaml", inputs="B,20")
    assert "# [B, 10]" in src or "[B, 256]" in src


def test_a_bad_class_name_is_refused():
    with pytest.raises(ExportError):
        export_code(ROOT / "configs" / "mlp.yaml", class_name="not a name")


def _cli(*args):
    from shapecli.cli.app import main

    return main(list(args))


def test_cli_writes_atomically_and_replaces_only_with_force(tmp_path, capsys):
    out = tmp_path / "model.py"
    assert _cli("export", str(ROOT / "configs" / "mlp.yaml"), "-o", str(out)) == 0
    first = out.read_text()
    assert "class Mlp(nn.Sequential):" in first and "nn.Linear(20, 256)" in first
    assert _cli("export", str(ROOT / "configs" / "mlp.yaml"), "-o", str(out), "--input", "2,7") == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert out.read_text() == first
    assert _cli("export", str(ROOT / "configs" / "mlp.yaml"), "-o", str(out), "--input", "2,7", "--force") == 0
    assert "nn.Linear(7, 256)" in out.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["model.py"]  # no temp file left


def test_cli_prints_to_stdout(capsys):
    assert _cli("export", str(ROOT / "configs" / "lenet5.yaml"), "--class-name", "LeNet") == 0
    assert "class LeNet(nn.Sequential):" in capsys.readouterr().out


@pytest.mark.parametrize("doc", ["export.md", "checkpoints.md"])
def test_doc_python_examples_run(doc):
    import re

    text = (ROOT / "docs" / doc).read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks
    for block in blocks:
        p = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, cwd=ROOT)
        assert p.returncode == 0, p.stderr[-2000:]
        if doc == "checkpoints.md":  # the lines the doc says it prints
            assert p.stdout.strip() in text
