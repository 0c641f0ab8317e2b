"""The command line: exit codes, JSON on stdout only, stdin, pipes, fast --help."""
import json
import os
import subprocess
import sys

import pytest

from conftest import CONFIGS, ROOT

SHAPECLI = [sys.executable, "-m", "shapecli"]


def run(*args, stdin=None, env=None):
    e = dict(os.environ, NO_COLOR="1", **(env or {}))
    return subprocess.run([*SHAPECLI, *args], input=stdin, capture_output=True, text=True, cwd=ROOT, env=e, timeout=120)


def test_inspect_table_shows_the_d2l_parameters(cli):
    code, out, err = cli("inspect", str(CONFIGS / "mlp.yaml"), "--input", "2,20")
    assert code == 0, err
    lines = out.splitlines()
    for name, shape in [("0.weight", "[256, 20]"), ("0.bias", "[256]"), ("2.weight", "[10, 256]"), ("2.bias", "[10]")]:
        layer, local = name.split(".")  # parameter rows sit under their layer's row, named within it
        start = next(i for i, ln in enumerate(lines) if ln.startswith(f"{layer} ("))
        line = next(ln for ln in lines[start + 1:] if ln.strip().startswith(local))
        assert shape in line
    assert "Params: 7,946" in out
    assert "\x1b[" not in out  # no colour when not a terminal
    assert err == ""


def test_json_is_the_only_thing_on_stdout(cli):
    code, out, err = cli("inspect", str(CONFIGS / "mlp.yaml"), "--json")
    assert code == 0
    d = json.loads(out)
    assert d["outputs"]["shape"] == [2, 10] and d["totals"]["params"] == 7946


def test_exercise_exit_code_and_messages(cli):
    code, out, err = cli("inspect", str(CONFIGS / "mlp.yaml"), "-i", "2,20", "-i", "5,20", "-i", "2,30", "--json")
    assert code == 2
    d = json.loads(out)  # the report is still printed, with each input's outcome
    assert [r["error"] for r in d["runs"]][:2] == [None, None]
    assert d["runs"][2]["error"] == "was materialized for 20 input features (last dim); this input has 30"
    assert err.strip() == (f"{CONFIGS / 'mlp.yaml'}:6:5: error: layer 0 (Linear): input #3 (2,30): "
                           "was materialized for 20 input features (last dim); this input has 30")


def test_stdin_spec(cli):
    code, out, err = cli("inspect", "-", "--json", stdin="input: [3, 4]\nlayers:\n  - Linear: 2\n")
    assert code == 0, err
    assert json.loads(out)["spec_file"] == "<stdin>"


@pytest.mark.parametrize("args,fragment", [
    (["inspect", "missing.yaml"], "missing.yaml: error: no such file"),
    (["inspect", str(CONFIGS / "mlp.yaml"), "--input", "2,,20"], "item 2 is empty"),
    (["inspect", str(CONFIGS / "mlp.yaml"), "--input", "0,20"], "a size must be a positive integer, got 0"),
    (["inspect", str(CONFIGS / "mlp.yaml"), "--input", "abc"], "no sample size for abc"),
    (["inspect", str(CONFIGS / "mlp.yaml"), "--set", "x=1"], "no variable 'x'"),
    (["inspect", str(CONFIGS / "mlp.yaml"), "--format", "xml"], "--format 'xml'"),
    (["inspect", str(CONFIGS / "mlp.yaml"), "--bogus"], "No such option"),
    (["inspect", str(CONFIGS)], "is a directory"),
])
def test_invalid_input_exits_2_with_one_clear_line(cli, args, fragment):
    code, out, err = cli(*args)
    assert code == 2
    assert fragment in err
    assert "Traceback" not in err


def test_help_and_version_do_not_import_torch():
    code = ("import sys; from shapecli.cli import main; rc = main(['--help']); "
            "assert 'torch' not in sys.modules, 'torch imported'; "
            "rc = main(['--version']); assert 'torch' not in sys.modules")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    assert "inspect" in p.stdout and "shapecli 0.1.0" in p.stdout


def test_whole_process_json_pipe_and_closed_pipe():
    p = run("inspect", "configs/mlp.yaml", "--json")
    assert p.returncode == 0 and p.stderr == ""
    json.loads(p.stdout)
    # `| head -1`: the reader goes away; shapecli ends quietly
    cmd = f"{sys.executable} -m shapecli inspect configs/resnet18.yaml --device meta | head -1"
    q = subprocess.run(["bash", "-c", f"set -o pipefail; {cmd}"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert "Traceback" not in q.stderr and "BrokenPipe" not in q.stderr and q.stderr == ""
    assert q.returncode in (0, 141)


@pytest.mark.parametrize("args", [["layers"], ["layers", "Conv2d"], ["schema"], ["inspect", "configs/mlp.yaml"]])
def test_a_reader_gone_before_the_first_write_is_a_quiet_exit_0(args):
    """Deterministic `| head -1`: the pipe's read end is closed before shapecli writes. It exited 1 (rich's
    on_broken_pipe, or typer's EPIPE handler) or 0 (the final flush), by timing."""
    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([*SHAPECLI, *args], stdout=w, stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=120,
                           env=dict(os.environ, NO_COLOR="1"))
    finally:
        os.close(w)
    assert (p.returncode, p.stderr) == (0, "")


def test_internal_errors_exit_3_never_1(cli, monkeypatch):
    import shapecli.run.engine as m

    def boom(*a, **k):
        raise ZeroDivisionError("bug")

    monkeypatch.setattr(m, "materialize", boom)
    code, out, err = cli("inspect", str(CONFIGS / "mlp.yaml"))
    assert code == 3
    assert "internal error: ZeroDivisionError: bug" in err and "Traceback" not in err


def test_markdown_format(cli):
    code, out, err = cli("inspect", str(CONFIGS / "mlp.yaml"), "-f", "markdown")
    assert code == 0
    assert "| &nbsp;&nbsp;`weight` | `[256, 20]` | 5,120 |" in out


def test_layers_and_schema(cli):
    code, out, _ = cli("layers", "Conv2d")
    assert code == 0 and "*in_channels, out_channels, kernel_size" in out
    code, out, _ = cli("layers", "--json")
    names = {r["name"] for r in json.loads(out)}
    assert {"Linear", "LSTM", "SelfAttention", "TransformerEncoderLayer"} <= names
    code, out, _ = cli("schema")
    assert json.loads(out)["title"] == "shapecli spec"
    code, _, err = cli("layers", "Conv2")
    assert code == 2 and "did you mean Conv2d" in err
    code, out, _ = cli("layers", "Buffer")
    assert code == 0 and "a tensor the enclosing container owns" in out and "Parameters and buffers" in out


def test_schema_report_prints_the_shipped_report_schema_without_torch(tmp_path):
    from shapecli.report import SCHEMA_VERSION

    code = ("import sys, io, json; from shapecli.cli.app import main; out = io.StringIO(); sys.stdout = out; "
            "rc = main(['schema', '--report']); sys.stdout = sys.__stdout__; assert rc == 0, rc; "
            "assert 'torch' not in sys.modules, 'torch imported'; print(out.getvalue(), end='')")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    shipped = (ROOT / "shapecli" / "report.schema.json").read_text()
    assert p.stdout == shipped  # the one copy, byte for byte
    doc = json.loads(shipped)
    assert doc["properties"]["schema_version"] == {"const": SCHEMA_VERSION}
    assert f"(schema_version {SCHEMA_VERSION})" in doc["description"]
    target = tmp_path / "schemas" / "report.schema.json"
    p = run("schema", "--report", "-o", str(target))
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    written = json.loads(target.read_text())
    assert written.pop("$comment").startswith("written by `shapecli schema -o`") and written == doc
    assert run("schema", "--report", "-o", str(target)).returncode == 0  # its own file: replaced
    (tmp_path / "mine.json").write_text("{}\n")
    p = run("schema", "--report", "-o", str(tmp_path / "mine.json"))
    assert p.returncode == 2 and "not replacing it" in p.stderr and (tmp_path / "mine.json").read_text() == "{}\n"


def test_every_config_validates_against_the_spec_schema():
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    from shapecli.schema import spec_schema

    schema = spec_schema()
    for f in sorted(CONFIGS.glob("*.yaml")):
        jsonschema.validate(yaml.safe_load(f.read_text()), schema)


def test_depth_folds_nested_layers(cli):
    code, out, _ = cli("inspect", str(CONFIGS / "resnet18.yaml"), "--device", "meta", "--depth", "1", "--no-params")
    assert code == 0
    assert "body" not in out


@pytest.mark.parametrize("config", ["mlp", "lstm_classifier", "gpt2_small", "unet"])
def test_json_matches_the_documented_schema(cli, config):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((ROOT / "shapecli" / "report.schema.json").read_text())
    args = ["inspect", str(CONFIGS / f"{config}.yaml"), "--json"] + (["--device", "meta"] if config == "gpt2_small" else [])
    code, out, err = cli(*args)
    assert code == 0, err
    jsonschema.validate(json.loads(out), schema)


def test_symbolic_input_gives_formulas_constraints_and_valid_json(cli):
    jsonschema = pytest.importorskip("jsonschema")
    code, out, err = cli("inspect", str(CONFIGS / "unet.yaml"), "--input", "B,3,H=64,W=64", "--json")
    assert code == 0, err
    d = json.loads(out)
    jsonschema.validate(d, json.loads((ROOT / "shapecli" / "report.schema.json").read_text()))
    assert d["symbolic"]["output"] == ["B", "2", "H", "W"]
    msgs = [c["message"] for c in d["symbolic"]["constraints"]]
    assert any(m.startswith("H must be a multiple of 8") for m in msgs)
    code, out, _ = cli("inspect", str(CONFIGS / "lenet5.yaml"), "--input", "B,1,H=28,W=28", "--no-params")
    assert "floor(H/2)" in out and "H and W are fixed by layer 7 (Linear: in_features 400)" in out


def test_stdin_closed_is_a_clear_error():
    p = subprocess.run([*SHAPECLI, "inspect", "-"], stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2 and "the spec is empty" in p.stderr
    code = "import os, sys; os.close(0); sys.stdin = None; from shapecli.cli import main; sys.exit(main(['inspect', '-']))"
    q = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert q.returncode == 2 and q.stderr.strip() == "<stdin>: error: there is no standard input to read the spec from"


def test_the_d2l_exercise_answered_symbolically(cli):
    code, out, err = cli("inspect", str(CONFIGS / "mlp.yaml"), "--input", "B,F", "--json")
    assert code == 0, err
    sy = json.loads(out)["symbolic"]
    assert sy["inputs"] == [["B", "F"]] and sy["output"] == ["B", "10"]
    assert [c["message"] for c in sy["constraints"]] == ["F is fixed at 20 by layer 0 (Linear: in_features 20)"]


def test_the_cli_process_collects_little_while_it_runs(tmp_path):
    """cli/startup.py: the command's own process takes the gc thresholds, freezes torch's import-time objects
    out of the collector and starts counting from 0 there; a 1,000-pair spec then runs without one collection
    (what a run makes lives until it ends). A library import leaves gc as it is."""
    code = ("import gc, io, sys\nfrom shapecli.cli import startup\nstartup.start()\nimport shapecli._torch\n"
            "frozen, count = gc.get_freeze_count(), gc.get_count()[0]\nruns = []\n"
            "gc.callbacks.append(lambda phase, info: phase == 'start' and runs.append(info['generation']))\n"
            "from shapecli.cli.app import main\nsys.stdout = io.StringIO()\n"
            "try:\n    main(['inspect', sys.argv[1]])\nexcept SystemExit:\n    pass\n"
            "sys.stdout = sys.__stdout__\nprint(gc.get_threshold()[0], frozen > 100_000, count < 1000, runs)\n")
    spec = tmp_path / "pairs.yaml"  # with the earlier threshold of 50,000: 3 collections
    spec.write_text("input: [2, 16]\nlayers:\n  - Sequential: [Linear: 16, ReLU]\n    repeat: 1000\n")
    p = subprocess.run([sys.executable, "-c", code, str(spec)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split("\n")[0] == "2000000 True True []"
    lib = subprocess.run([sys.executable, "-c", "import gc, shapecli, shapecli._torch; print(gc.get_threshold()[0], "
                          "gc.get_freeze_count())"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert lib.stdout.split() == ["700", "0"]
