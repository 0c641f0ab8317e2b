"""Models written in Python (shapecli/python/run.py, structure.py): the same report as a spec's,
and the user's model never touched."""
import subprocess
import sys
import threading

import pytest
import torch
from conftest import CONFIGS, ROOT
from torch import nn
from twins import TWINS

import shapecli

sys.path.insert(0, str(ROOT / "tests"))


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.LazyLinear(5)
        self.drop = nn.Dropout(0.5)
        self.emb = nn.Embedding(7, 5)
        self.out = nn.Linear(5, 7, bias=False)
        self.out.weight = self.emb.weight  # tied

    def forward(self, x):
        x = self.bn(self.conv(x)).flatten(1)
        return self.out(self.drop(self.head(x)))


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()
            if not isinstance(v, nn.parameter.UninitializedTensorMixin)}


def _hooks(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())


def test_summary_never_touches_the_model():
    torch.manual_seed(1)
    model = Small()
    model.conv.weight.requires_grad_(False)
    before, hooks, rng = _state(model), _hooks(model), torch.get_rng_state()
    report = shapecli.summary(model, input_size=(2, 3, 4, 4))
    after = _state(model)
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert int(model.bn.num_batches_tracked) == 0 and torch.equal(model.bn.running_mean, torch.zeros(4))
    assert _hooks(model) == hooks
    assert isinstance(model.head, nn.LazyLinear) and isinstance(model.head.weight, nn.UninitializedParameter)
    assert model.training and model.conv.weight.device.type == "cpu" and model.conv.weight.dtype == torch.float32
    assert not model.conv.weight.requires_grad and model.out.weight.requires_grad
    assert torch.equal(torch.get_rng_state(), rng)
    # and the report is complete: the lazy layer with the size it inferred, the tied weight once
    head = next(lay for lay in report.layers if lay.path == "head")
    assert head.type == "Linear" and head.inferred == {"in_features": 64} and head.params == 64 * 5 + 5
    out = next(p for p in report.params if p.name == "out.weight")
    assert out.shared_with == "emb.weight"
    assert report.totals.params == 3 * 4 * 9 + 4 + 8 + 64 * 5 + 5 + 35
    assert report.source == "<Small>" and report.spec_file is None
    conv = next(p for p in report.params if p.name == "conv.weight")
    assert conv.stats.source == "measured" and conv.init.expected is not None and not conv.trainable


def test_summary_is_thread_safe_on_one_model():
    model = Small()
    hooks = _hooks(model)  # LazyLinear's own initialization hook
    ref = shapecli.summary(model, (2, 3, 4, 4)).to_dict()
    out, errors = [], []

    def work():
        try:
            for _ in range(3):
                out.append(shapecli.summary(model, (2, 3, 4, 4)).to_dict())
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(out) == 6
    strip = lambda d: {k: v for k, v in d.items() if k != "diagnostics"}
    assert all(strip(d) == strip(ref) for d in out)
    assert _hooks(model) == hooks and isinstance(model.head, nn.LazyLinear)


def test_summary_of_a_model_on_meta_and_input_data():
    with torch.device("meta"):
        model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 3))
    r = shapecli.summary(model, input_data=torch.zeros(4, 10))
    assert r.device == "meta" and r.runs[0].output.shape == [4, 3] and r.totals.params == 10 * 20 + 20 + 63
    assert r.params[0].stats.source == "analytic"
    r = shapecli.summary(nn.Embedding(9, 2), input_size=[(3, 5)], dtypes=[torch.int64])
    assert r.inputs[0].dtype == "int64" and r.runs[0].output.shape == [3, 5, 2]


def test_named_dims_estimates_and_every_format(cli, tmp_path, monkeypatch):
    r = shapecli.summary(TWINS["lenet5"].build(), "B,1,H=28,W=28", estimates=True)
    assert r.layers[-1].symbolic.shape == ["B", "10"] and r.estimates["flops"]["forward"] > 0
    (tmp_path / "lenet.py").write_text("import sys\nsys.path.insert(0, %r)\nfrom twins import lenet5\n"
                                       % str(ROOT / "tests"))
    monkeypatch.chdir(tmp_path)
    for fmt in ("table", "json", "markdown"):
        code, out, err = cli("inspect", "lenet.py:lenet5", "-i", "2,1,28,28", "-f", fmt, "-e")
        assert code == 0, err
        assert "lenet.py:lenet5" in out or fmt == "markdown"
    code, out, _ = cli("inspect", "lenet.py:lenet5", "-i", "2,1,28,28", "--json")
    import json

    d = json.loads(out)
    assert d["source"] == "lenet.py:lenet5" and d["spec_file"] is None and d["totals"]["params"] == 61706


# gru_seq2seq and transformer_encdec: their twins' forward is code (two inputs, the decoder fed the encoder's
# state, a mask made in forward), so the spec's Item and CausalMask items are no modules there and
# nn.TransformerEncoder's ModuleList is never called; tests/test_model.py compares them (names, outputs).
# vit_b16: its twin is torchvision's layout (its class token and position table owned by modules, no
# rows of their own), where the spec's Parameter items are rows; their state dicts are compared in
# tests/test_tensors.py and tests/test_model.py instead.
@pytest.mark.parametrize("name", [n for n in TWINS if n not in ("gpt2_small", "gru_seq2seq", "transformer_encdec", "vit_b16")])
def test_a_spec_and_its_python_twin_give_the_same_baseline(tmp_path, monkeypatch, name):
    """Everything but where it came from (the spec's path and line numbers; the target)."""
    import json

    twin = TWINS[name]
    text = ";".join(",".join(map(str, s)) + ("" if d == torch.float32 else ":" + str(d).replace("torch.", ""))
                    for s, d in twin.inputs)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "twin.py").write_text(f"import sys\nsys.path.insert(0, {str(ROOT / 'tests')!r})\n"
                                      f"from twins import TWINS\nmake = TWINS[{name!r}].build\n")
    a = shapecli.snapshot(str(CONFIGS / f"{name}.yaml"), str(tmp_path / "a.json"), [text], device="meta")
    b = shapecli.snapshot("twin.py:make", str(tmp_path / "b.json"), [text], device="meta")
    assert a.exit_code == 0 and b.exit_code == 0, (a.results[0].errors, b.results[0].errors)
    da, db = json.loads((tmp_path / "a.json").read_text()), json.loads((tmp_path / "b.json").read_text())
    assert db.pop("target") == "twin.py:make" and da.pop("spec")
    for d in (da, db):
        d.pop("name")
        for lay in d["layers"]:
            lay.pop("line")
            lay.pop("type")  # a spec's block names against the twin's classes (Net, Residual, ...)
    if name == "unet":  # the twin's ConcatFrom is a marker its parent's forward reads, never called: no output
        for a, b in zip(da["layers"], db["layers"]):
            if b["output_shapes"] == [None]:
                a["output_shapes"] = [None]
    assert da == db


def test_check_of_a_changed_python_model_exits_1_with_the_same_diff(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text("from torch import nn\ndef make(w=8):\n"
                                     "    return nn.Sequential(nn.Linear(4, w), nn.ReLU(), nn.Linear(w, 2))\n")
    code, _, err = cli("snapshot", "net.py:make", "-i", "2,4")
    assert code == 0 and "net.make.shapes.json: written" in err
    assert cli("check", "net.py:make")[0] == 0
    for fmt in ("table", "json", "markdown", "github"):
        code, out, err = cli("check", "net.py:make(w=16)", "--baseline", "net.make.shapes.json", "-f", fmt)
        assert code == 1, err
        assert "[8, 4]" in out and "[16, 4]" in out


def test_a_7b_python_model_needs_no_memory(tmp_path):
    """The factory is probed on meta, counted, and never built for real: the peak memory of a fresh
    process beyond what importing torch takes (the CUDA build of torch 2.14.1 takes ~450 MiB more
    to import than the CPU build of 2.13.0), against the 26 GiB the model's weights would take."""
    # VmHWM, not ru_maxrss: Linux carries a forked child's ru_maxrss over from its parent (pytest) across exec
    hwm = "next(int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM')) // 1024"
    code = ("import torch\n"
            f"before = {hwm}\n"
            "import shapecli\n"
            "r = shapecli.inspect('bench/models.py:llama', '1,2048:int64')\n"
            "assert r.device == 'meta' and r.totals.params > 6.7e9, r.totals\n"
            f"print(before, {hwm})\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    before, peak = map(int, p.stdout.split()[-2:])
    assert peak - before < 256, f"{peak - before} MiB beyond importing torch ({before} MiB)"
