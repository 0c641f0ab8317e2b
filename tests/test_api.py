"""The library's workflow (shapecli/api.py): inspect, snapshot and check return what the CLI prints."""
import json
import re
import shutil

import pytest

import shapecli
from conftest import CONFIGS, ROOT
from shapecli.errors import UsageError
from shapecli.render import to_json

MLP = CONFIGS / "mlp.yaml"


def _timeless(text: str) -> str:
    return re.sub(r'"seconds": [0-9.eE+-]+', '"seconds": 0', text)


@pytest.mark.parametrize("config, args, kwargs", [
    ("mlp", ["--dtype", "float32,bf16", "--flops"], {"dtypes": "float32,bf16", "flops": True}),
    ("mlp", ["-i", "2,20", "-i", "5,20", "--activations"], {"inputs": ["2,20", "5,20"], "activations": True}),
    ("lenet5", ["-i", "B,1,H=28,W=28", "-e"], {"inputs": "B,1,H=28,W=28", "estimates": True}),
    ("lstm_classifier", ["--device", "meta", "--backward"], {"device": "meta", "backward": True}),
])
def test_inspect_returns_what_the_cli_prints(cli, monkeypatch, config, args, kwargs):
    monkeypatch.chdir(ROOT)
    path = f"configs/{config}.yaml"
    code, out, err = cli("inspect", path, "--json", *args)
    assert code == 0, err
    report = shapecli.inspect(path, kwargs.pop("inputs", None), **kwargs)
    assert _timeless(to_json(report) + "\n") == _timeless(out)
    d = json.loads(out)
    if "--flops" in args or "-e" in args or "--backward" in args:
        assert d["estimates"]["flops"]["forward"] > 0
        assert sum(lay.flops for lay in report.layers if not lay.is_container) == d["estimates"]["flops"]["forward"]
    if "B,1,H=28,W=28" in args:
        assert report.symbolic["input_dims"] == ["B=2,1,H=28,W=28"]  # the batch size it ran with, named
        assert report.layers[-1].symbolic.shape == ["B", "10"]


def test_inspect_takes_a_path_text_or_spec_alike():
    by_path = shapecli.inspect(MLP, "2,20", dtypes=["float32"])
    text = MLP.read_text()
    by_text = shapecli.inspect(text, "2,20", dtypes=["float32"])
    spec = shapecli.load_spec(MLP)
    by_spec = shapecli.inspect(spec, shapecli.parse_input("2,20", spec), dtypes=["float32"])
    assert by_path.estimates == by_text.estimates == by_spec.estimates
    assert by_path.estimates["memory"][0]["weights"] == 4 * (20 * 256 + 256 + 256 * 10 + 10)
    assert [p.shape for p in by_path.params] == [p.shape for p in by_text.params] == [[256, 20], [256], [10, 256], [10]]
    assert by_text.spec_file == "<spec>" and by_path.spec_file == str(MLP)
    assert shapecli.inspect(text, overrides=None).estimates is None  # nothing asked, nothing computed


def test_inspect_bad_arguments_raise_usage_errors():
    with pytest.raises(UsageError, match="--device 'gpu'"):
        shapecli.inspect(MLP, device="gpu")
    with pytest.raises(UsageError, match="--dtype 'float13'"):
        shapecli.inspect(MLP, dtypes="float13")


def test_a_later_input_that_does_not_fit_reads_as_in_the_cli(cli):
    code, _, err = cli("inspect", str(MLP), "-i", "2,20", "-i", "2,21")
    assert code == 2
    report = shapecli.inspect(MLP, ["2,20", "2,21"])
    probs = shapecli.api.run_problems(report)
    assert len(probs) == 1 and str(probs[0]) in err
    assert "input #2 (2,21)" in str(probs[0]) and probs[0].loc.line == 6  # `- Linear: 256`


@pytest.fixture
def specs(tmp_path, monkeypatch):
    shutil.copy(MLP, tmp_path / "mlp.yaml")
    shutil.copy(CONFIGS / "lenet5.yaml", tmp_path / "lenet5.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_snapshot_writes_and_refuses_as_the_cli_does(specs, cli):
    run = shapecli.snapshot(["mlp.yaml", "lenet5.yaml"])
    assert run.exit_code == 0
    assert [(r.status, r.path) for r in run.results] == [("written", "mlp.shapes.json"), ("written", "lenet5.shapes.json")]
    assert run.results[0].message == "mlp.shapes.json: written (3 layers, 7,946 params)"
    written = (specs / "mlp.shapes.json").read_text()
    assert json.loads(written)["kind"] == "shapecli-baseline"
    again = shapecli.snapshot("mlp.yaml")
    assert again.results[0].status == "unchanged" and again.exit_code == 0
    (specs / "mlp.yaml").write_text(MLP.read_text().replace("Linear: 256", "Linear: 128"))
    refused = shapecli.snapshot("mlp.yaml")
    assert refused.exit_code == 2 and refused.results[0].status == "error"
    code, _, err = cli("snapshot", "mlp.yaml")
    assert code == 2 and err == "".join(str(p) + "\n" for p in refused.results[0].errors)
    assert "a different baseline exists" in err
    assert (specs / "mlp.shapes.json").read_text() == written  # refused: untouched
    forced = shapecli.snapshot("mlp.yaml", force=True)
    assert forced.results[0].status == "replaced" and "3 layers, 3,978 params" in forced.results[0].message
    code, out, _ = cli("snapshot", "mlp.yaml", "--out", "-")
    assert shapecli.snapshot("mlp.yaml", out="-").results[0].text == out


def test_check_of_a_changed_spec_is_status_1_with_the_changes(specs, cli):
    assert shapecli.snapshot(["mlp.yaml", "lenet5.yaml"]).exit_code == 0
    assert shapecli.check(["mlp.yaml", "lenet5.yaml"]).exit_code == 0
    (specs / "mlp.yaml").write_text(MLP.read_text().replace("out_features: 10", "out_features: 12"))
    run = shapecli.check(["mlp.yaml", "lenet5.yaml"])
    assert run.exit_code == 1
    assert [r.status for r in run.results] == ["changed", "ok"]
    messages = [c.message() for c in run.results[0].changes]
    assert any("10" in m and "12" in m for m in messages), messages
    code, out, _ = cli("check", "mlp.yaml", "lenet5.yaml", "--format", "json")
    assert code == 1
    from shapecli.baseline import check_document

    assert json.loads(out) == check_document(run.results)
    updated = shapecli.check("mlp.yaml", update=True)
    assert updated.exit_code == 0 and updated.results[0].written == "updated"
    assert shapecli.check("mlp.yaml").exit_code == 0


def test_check_exit_codes(specs):
    missing = shapecli.check("mlp.yaml")
    assert missing.exit_code == 2 and "no baseline at mlp.shapes.json" in str(missing.results[0].errors[0])
    skipped = shapecli.check("mlp.yaml", skip_missing=True)
    assert skipped.exit_code == 0 and skipped.results[0].status == "skipped"
    assert shapecli.check(["mlp.yaml", "nothing.yaml"], skip_missing=True).exit_code == 2
    with pytest.raises(UsageError, match="--tolerance"):
        shapecli.check("mlp.yaml", tolerance=-1)
    created = shapecli.check("mlp.yaml", update=True)
    assert created.exit_code == 0 and created.results[0].written == "created"


EMBED = """name: tokens
input: {shape: [2, 16], dtype: int64}
layers:
  - Embedding: {num_embeddings: 100, embedding_dim: 8}
  - Flatten
  - Linear: 4
"""


def test_the_api_takes_dtype_aliases_as_the_cli_does(cli):
    import torch

    from shapecli.analyses.estimate import estimate

    by_alias = shapecli.inspect(MLP, dtypes=["bf16", "fp16"])
    assert [m["dtype"] for m in by_alias.estimates["memory"]] == ["bfloat16", "float16"]
    assert shapecli.inspect(MLP, dtypes="bfloat16,half").estimates == by_alias.estimates
    assert shapecli.inspect(MLP, dtypes=[torch.bfloat16, torch.float16]).estimates == by_alias.estimates
    code, out, _ = cli("inspect", str(MLP), "--dtype", "bf16,fp16", "--json")
    assert code == 0 and json.loads(out)["estimates"] == json.loads(to_json(by_alias))["estimates"]
    model, report = shapecli.materialize(MLP)
    est = estimate(model, report, dtypes=["bf16", torch.float16, "fp32,int8"])  # raised for 'bf16' (issue 18)
    assert [m["dtype"] for m in est.summary["memory"]] == ["bfloat16", "float16", "float32", "int8"]
    with pytest.raises(UsageError, match="--dtype 'float13'"):
        estimate(model, report, dtypes=["float13"])


def test_the_api_takes_input_texts_and_shapes_as_the_cli_does(cli):
    import torch

    as_text = shapecli.inspect(MLP, "2,20")
    assert [r.inputs[0].shape for r in as_text.runs] == [[2, 20]]
    for same in ((2, 20), [2, 20], torch.Size([2, 20]), ["2,20"], [(2, 20)]):
        assert shapecli.inspect(MLP, same).params == as_text.params, same
    two = shapecli.inspect(MLP, [(2, 20), "5,20"])
    assert [r.inputs[0].shape for r in two.runs] == [[2, 20], [5, 20]]
    symbolic = shapecli.inspect(MLP, "B,20")
    assert symbolic.symbolic["output"] == ["B", "10"]
    # a spec whose input is int64: a shape keeps it, as --input does; an alias after the colon
    tokens = shapecli.inspect(EMBED, (3, 16))
    assert tokens.inputs[0].dtype == "int64" and tokens.inputs[0].shape == [3, 16]
    code, out, _ = cli("inspect", "-", "--input", "3,16", "--json", stdin=EMBED)
    assert code == 0 and json.loads(out)["inputs"] == json.loads(to_json(tokens))["inputs"]
    assert shapecli.parse_input("2,20:bf16")[0].dtype == "bfloat16"
    code, _, err = cli("inspect", str(MLP), "--input", "2,20:fp64", "--no-params")
    assert "Double and Float" in err  # parsed as float64, then torch says the Linear is float32
    spec = shapecli.parse_spec(EMBED.replace("dtype: int64", "dtype: i8"), "t.yaml")
    assert spec.inputs[0].dtype == "int8"
    with pytest.raises(UsageError, match="is not a sample"):
        shapecli.inspect(MLP, [{"shape": [2, 20]}])


def test_summary_takes_input_texts_and_dtype_names():
    import torch

    net = torch.nn.Sequential(torch.nn.Embedding(100, 8), torch.nn.Flatten(), torch.nn.Linear(128, 4))
    by_dtype = shapecli.summary(net, (2, 16), dtypes=[torch.int64])
    for same in (dict(input_size="2,16:int64"), dict(input_size="2,16", dtypes=["int64"]),
                 dict(input_size=(2, 16), dtypes=["int64"]), dict(input_size=[2, 16], dtypes="int64")):
        r = shapecli.summary(net, **same)
        assert r.inputs == by_dtype.inputs and r.params == by_dtype.params, same
    assert by_dtype.inputs[0].dtype == "int64"
    half = shapecli.summary(torch.nn.Linear(4, 2).to(torch.bfloat16), (1, 4), dtypes=["bf16"])
    assert half.inputs[0].dtype == "bfloat16" and half.runs[0].output.dtype == "bfloat16"
    named = shapecli.summary(net, "B,16:int64")
    assert named.symbolic["output"] == ["B", "4"]
    with pytest.raises(UsageError, match="'float8' is not a dtype a sample input may have"):
        shapecli.summary(net, (2, 16), dtypes=["float8"])
    with pytest.raises(UsageError, match="dtypes: 2 given for 1 inputs"):
        shapecli.summary(net, "2,16", dtypes=["int64", "int64"])
