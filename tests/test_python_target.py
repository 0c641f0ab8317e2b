"""Python targets (shapecli/python/target.py): parsing, importing only what the command line names,
and one clean exit-2 line for each way a target fails."""
import json
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT

from shapecli.errors import UsageError
from shapecli.python.target import is_target, parse

NET = textwrap.dedent("""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self, width=8):
            super().__init__()
            self.fc1 = nn.Linear(4, width)
            self.fc2 = nn.Linear(width, 2)

        def forward(self, x):
            return self.fc2(torch.relu(self.fc1(x)))

    def make(width=8, fail=False):
        if fail:
            raise ValueError("asked to fail")
        return Net(width)

    def broken():
        return nn.Linear(3, 2)(torch.zeros(1))

    def not_a_model():
        return 42

    instance = Net(4)
    number = 3
""")


@pytest.fixture
def proj(tmp_path, monkeypatch):
    (tmp_path / "tnet.py").write_text(NET)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("tnet", None)


def test_parse_reads_literal_keyword_arguments_only():
    t = parse("torchvision.models:resnet50(num_classes=10, weights=None, sizes=(1, 2))")
    assert (t.module, t.attr, t.kwargs, t.name) == ("torchvision.models", "resnet50",
                                                     {"num_classes": 10, "weights": None, "sizes": (1, 2)},
                                                     "resnet50")
    assert parse("models/net.py:Net").is_file and parse("a.b:C.make").attr == "C.make"
    for bad, words in [("m:f(x=open('p'))", "is not a Python literal"), ("m:f(3)", "by name"),
                       ("m:f(**d)", "by name"), ("m:f(x=))", "not Python syntax"), ("m:f(x=", "MODULE:ATTR"),
                       ("m:f(x=__import__('os').system('touch p'))", "is not a Python literal")]:
        with pytest.raises(UsageError, match=words):
            parse(bad)


def test_is_target_tells_targets_from_spec_paths(tmp_path):
    assert is_target("pkg.mod:Net") and is_target("a/b.py:make(w=2)")
    assert not is_target("configs/mlp.yaml") and not is_target("-") and not is_target("a b:c")
    odd = tmp_path / "x:y"  # an existing file is a file, whatever its name
    odd.write_text("name: x\n")
    assert not is_target(str(odd))


@pytest.mark.parametrize("target, message", [
    ("nosuchmod_xyz:Net", "nosuchmod_xyz:Net: error: no module named 'nosuchmod_xyz' (is it installed, or on PYTHONPATH?)"),
    ("tnet:Nett", "tnet:Nett: error: 'tnet' has no attribute 'Nett' (did you mean Net?)"),
    ("tnet:number", "tnet:number: error: 'number' is a int, not an nn.Module or a callable that returns one"),
    ("tnet:not_a_model", "tnet:not_a_model: error: not_a_model() returned a int, not an nn.Module"),
    ("tnet:make(fail=True)", "tnet:make(fail=True): error: make() raised ValueError: asked to fail"),
    ("tnet:instance(width=3)", "tnet:instance(width=3): error: 'instance' is a module instance, not a callable"),
    ("nofile.py:Net", "nofile.py:Net: error: no such file 'nofile.py'"),
    ("tnet:make(width=8)", None),
])
def test_each_failure_is_one_clean_line(cli, proj, target, message):
    code, out, err = cli("inspect", target, "-i", "2,4")
    if message is None:
        assert code == 0, err
        assert "fc2" in out
        return
    assert code == 2
    assert err.strip() == message
    assert "Traceback" not in err


def test_the_forward_failing_names_the_layer_and_its_input(cli, proj):
    (proj / "tbad.py").write_text(NET.replace("nn.Linear(width, 2)", "nn.Linear(width + 1, 2)"))
    code, _, err = cli("inspect", "tbad.py:Net", "-i", "2,4")
    assert code == 2
    assert err.strip() == ("tbad.py:Net: error: layer fc2 (Linear): input [2, 8]: "
                           "mat1 and mat2 shapes cannot be multiplied (2x8 and 9x2)")


def test_debug_shows_the_factorys_traceback(proj):
    p = subprocess.run([sys.executable, "-m", "shapecli", "--debug", "inspect", "tnet:make(fail=True)", "-i", "2,4"],
                       capture_output=True, text=True, cwd=proj, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert p.returncode == 2
    assert "Traceback" in p.stderr and 'raise ValueError("asked to fail")' in p.stderr


def test_a_target_needs_an_input_and_takes_no_set(cli, proj):
    code, _, err = cli("inspect", "tnet:Net")
    assert code == 2 and "needs a sample input: --input" in err
    code, _, err = cli("inspect", "tnet:Net", "-i", "2,4", "--set", "w=3")
    assert code == 2 and "--set applies to specs" in err


MARKER_MODULE = "import pathlib\npathlib.Path('IMPORTED').write_text('x')\nfrom tnet import Net\n"


def test_nothing_is_imported_unless_the_command_line_names_it(cli, proj):
    """A baseline recording a target, a .py in a spec directory, a glob: none of them is imported."""
    (proj / "evil.py").write_text(MARKER_MODULE)
    (proj / "configs").mkdir()
    (proj / "configs" / "evil.py").write_text(MARKER_MODULE)
    (proj / "configs" / "mlp.yaml").write_text((ROOT / "configs" / "mlp.yaml").read_text())
    code, _, err = cli("snapshot", "configs/mlp.yaml")
    assert code == 0, err
    doc = json.loads((proj / "configs" / "mlp.shapes.json").read_text())
    doc.pop("spec")
    doc["target"] = "evil:Net"  # a baseline that names a target whose import would create a file
    (proj / "configs" / "evil.Net.shapes.json").write_text(json.dumps(doc))
    (proj / "evil.Net.shapes.json").write_text(json.dumps(doc))
    for args in [("check", "configs"), ("check", "configs/"), ("check", "configs/*"), ("check", "configs/*.py"),
                 ("check", "."), ("check", "configs", "--update"), ("snapshot", "configs", "--force"),
                 ("check", "configs/mlp.yaml", "--baseline", "configs/evil.Net.shapes.json"),
                 ("inspect", "configs/evil.py"), ("check", "configs/evil.Net.shapes.json")]:
        cli(*args)
        assert not (proj / "IMPORTED").exists(), args
    # named on the command line, it is imported (and checked against the recorded baseline)
    code, _, err = cli("check", "evil:Net", "--baseline", "evil.Net.shapes.json")
    assert (proj / "IMPORTED").exists()
    assert code == 2 and "layer fc1 (Linear): input [2, 20]" in err  # Net does not take the MLP's recorded input
    sys.modules.pop("evil", None)
