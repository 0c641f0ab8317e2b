"""shapecli.baseline.checkpoint: checkpoint files read header-only and compared with a spec's Report."""
import subprocess
import sys
from pathlib import Path

import pytest
from checkpoint_files import fixture_checkpoint, key_list, sparse_safetensors
from conftest import ROOT
from fuzz_support import check_contract, run_cli

import shapecli
from shapecli.baseline.checkpoint import (
    Entry,
    compare_checkpoint,
    non_persistent_buffers,
    read_checkpoint,
)
from shapecli.errors import BaselineError

CORPUS = ROOT / "tests" / "corpus" / "checkpoints"
MLP = str(ROOT / "configs" / "mlp.yaml")
# The zoo specs whose state_dict() is torchvision's, key for key: `check` against the key list passes.
ZOO_MATCHING_TORCHVISION = ["alexnet", "resnet18", "resnet50", "vgg11_bn", "mobilenet_v2", "inception", "vit_b16"]


@pytest.mark.parametrize("model", ZOO_MATCHING_TORCHVISION)
def test_a_zoo_spec_checks_against_torchvision_s_key_list(cli, tmp_path, model):
    pytest.importorskip("safetensors")
    ck = fixture_checkpoint(model, tmp_path)
    code, out, err = cli("check", str(ROOT / "configs" / f"{model}.yaml"), "--baseline", str(ck))
    assert (code, err) == (0, ""), out
    n = len(key_list(model))
    assert "matches the checkpoint" in out and f"checkpoint (safetensors): {n} tensors" in out


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "vgg11_bn", "mobilenet_v2", "alexnet", "inception"])
def test_the_zoo_matches_torchvision(tmp_path, name):
    """torchvision's key list as a checkpoint fits the spec with no change at all (docs/spec.md, Names)."""
    pytest.importorskip("safetensors")
    f = tmp_path / f"{name}.safetensors"
    sparse_safetensors(f, key_list(name))
    ck = read_checkpoint(str(f))
    assert sorted((e.name, e.shape, e.dtype) for e in ck.entries) == sorted(tuple(x) for x in key_list(name))
    report = shapecli.inspect(ROOT / "configs" / f"{name}.yaml", device="meta")
    assert compare_checkpoint(report, ck.entries) == []


def test_vit_b16_matches_torchvision(tmp_path):
    pytest.importorskip("safetensors")
    f = tmp_path / "vit_b16.safetensors"
    sparse_safetensors(f, key_list("vit_b16"))
    report = shapecli.inspect(ROOT / "configs" / "vit_b16.yaml", device="meta")
    assert compare_checkpoint(report, read_checkpoint(str(f)).entries) == []


def test_a_renamed_key_is_reported_in_spec_terms(tmp_path):
    pytest.importorskip("safetensors")
    f = tmp_path / "resnet18.safetensors"
    keys = [["layer1.0.conv_a.weight" if n == "layer1.0.conv1.weight" else n, s, d] for n, s, d in key_list("resnet18")]
    sparse_safetensors(f, keys)
    report = shapecli.inspect(ROOT / "configs" / "resnet18.yaml", device="meta")
    changes = compare_checkpoint(report, read_checkpoint(str(f)).entries)
    text = [c.message() for c in changes]
    by_path = {c.path: c for c in changes}
    conv = by_path["layer1.0.conv1"]
    assert conv.type == "Conv2d" and conv.line == 13  # its line inside the block definition
    assert [(d.what, d.old, d.new) for d in conv.details] == [("weight", "missing", "[64, 64, 3, 3]")]
    assert any(t.startswith("layer layer1.0 (basic): ") and "conv_a.weight [64, 64, 3, 3] -> not in spec" in t
               for t in text), text
    assert set(by_path) <= {"layer1.0", "layer1.0.conv1"}  # every other name matches
    from shapecli.baseline.results import Result
    from shapecli.render import diff

    r = Result("configs/resnet18.yaml", str(f), "changed", changes=changes)
    for render in (diff.render_json, diff.render_markdown, diff.render_github):
        assert "layer1.0.conv1" in render([r])


def test_shape_and_dtype_mismatches_name_the_layer(tmp_path):
    report = shapecli.inspect(ROOT / "configs" / "mlp.yaml")
    entries = [Entry("0.weight", [256, 21], "float32"), Entry("0.bias", [256], "float16"),
               Entry("2.weight", [10, 256], "float32"), Entry("2.bias", [10], "float32")]
    (c,) = compare_checkpoint(report, entries)
    assert (c.path, c.type, c.line) == ("0", "Linear", 6)
    assert c.message() == "layer 0 (Linear): weight [256, 21] -> [256, 20]; bias dtype float16 -> float32"


def test_a_tied_weight_stored_once_is_not_missing():
    spec = shapecli.parse_spec("input: {shape: [2, 5], dtype: int64}\nlayers:\n"
                               "  - Embedding: [11, 6]\n    name: emb\n"
                               "  - Linear: {out_features: 11, bias: false}\n    name: head\n    tie: emb\n")
    report = shapecli.inspect(spec)
    assert compare_checkpoint(report, [Entry("emb.weight", [11, 6], "float32")]) == []
    assert compare_checkpoint(report, [Entry("head.weight", [11, 6], "float32")]) == []


def test_torch_state_dicts_wrapped_or_not(tmp_path):
    import torch

    model, report = shapecli.materialize(ROOT / "configs" / "resnet18.yaml", device="meta")
    sd = {k: torch.zeros(v.shape, dtype=v.dtype) for k, v in model.state_dict().items()}
    torch.save(sd, tmp_path / "plain.pt")
    torch.save({"epoch": 3, "state_dict": sd}, tmp_path / "wrapped.pth")
    for name in ("plain.pt", "wrapped.pth"):
        ck = read_checkpoint(str(tmp_path / name))
        assert len(ck.entries) == len(sd)
        assert compare_checkpoint(report, ck.entries, non_persistent_buffers(model)) == []
    assert read_checkpoint(str(tmp_path / "wrapped.pth")).wrapper == "state_dict"
    sd["fc.weight"] = torch.zeros(10, 512)
    (c,) = compare_checkpoint(report, read_checkpoint(_save(sd, tmp_path / "bad.bin")).entries)
    assert c.message() == "layer fc (Linear): weight [10, 512] -> [1000, 512]"


def _save(obj, path):
    import torch

    torch.save(obj, path)
    return str(path)


class _Payload:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_a_pickle_payload_is_refused_and_runs_nothing(tmp_path):
    import torch

    marker = tmp_path / "pwned"
    torch.save({"weight": torch.zeros(2), "x": _Payload(str(marker))}, tmp_path / "evil.pt")
    assert not marker.exists()
    with pytest.raises(BaselineError, match="refused"):
        read_checkpoint(str(tmp_path / "evil.pt"))
    assert not marker.exists()


def test_bad_files_are_input_errors(tmp_path):
    (tmp_path / "junk.safetensors").write_bytes(b"\xff" * 16)
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    for name in ("junk.safetensors", "junk.pt", "missing.pt"):
        with pytest.raises(BaselineError):
            read_checkpoint(str(tmp_path / name))


def test_without_safetensors_the_message_names_the_extra(tmp_path):
    code = ("import sys; sys.modules['safetensors'] = None\n"
            "from shapecli.baseline.checkpoint import read_checkpoint\n"
            f"read_checkpoint({str(tmp_path / 'x.safetensors')!r})")
    (tmp_path / "x.safetensors").write_bytes(b"\0" * 16)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert "shapecli[checkpoints]" in p.stderr


# ---------------------------------------------------------------------------- check --baseline CHECKPOINT

def _mlp_checkpoint(path):
    """configs/mlp.yaml's state dict with one of each difference: a shape, a dtype, a missing and an unexpected key."""
    import torch

    torch.save({"0.weight": torch.zeros(256, 21), "0.bias": torch.zeros(256, dtype=torch.float16),
                "2.weight": torch.zeros(10, 256), "head.weight": torch.zeros(3, 10)}, path)
    return str(path)


def test_each_difference_in_every_format(cli, tmp_path):
    import json

    ck = _mlp_checkpoint(tmp_path / "mlp.pt")
    code, out, err = cli("check", MLP, "--baseline", ck)
    assert (code, err) == (1, "")
    table = [" ".join(line.split()) for line in out.splitlines()]
    assert "✗ " + MLP + " (mlp): 3 changes" in table[0]
    assert "6 0 Linear changed weight [256, 21] [256, 20]" in table
    assert "bias dtype float16 float32" in table
    assert "8 2 Linear changed bias missing [10]" in table
    assert "(network) changed head.weight [3, 10] not in spec" in table
    assert "checkpoint (torch): 4 tensors, 8,222 values; names, shapes and dtypes compared" in table

    code, out, _ = cli("check", MLP, "--baseline", ck, "--format", "json")
    doc = json.loads(out)
    assert code == 1 and doc["exit_code"] == 1 and doc["summary"]["changed"] == 1
    (spec,) = doc["specs"]
    assert spec["baseline"] == ck and spec["status"] == "changed"
    assert [c["message"] for c in spec["changes"]] == [
        "layer 0 (Linear): weight [256, 21] -> [256, 20]; bias dtype float16 -> float32",
        "layer 2 (Linear): bias missing -> [10]",
        "head.weight [3, 10] -> not in spec"]
    assert [c["line"] for c in spec["changes"]] == [6, 8, None]

    code, out, _ = cli("check", MLP, "--baseline", ck, "--format", "markdown")
    assert code == 1 and "❌ **`" + MLP + "`** (mlp): 3 changes" in out
    assert "| 6 | `0` | Linear | changed | weight | `[256, 21]` | `[256, 20]` |" in out
    assert "| 8 | `2` | Linear | changed | bias | `missing` | `[10]` |" in out
    assert "|  | `(network)` |  | changed | head.weight | `[3, 10]` | `not in spec` |" in out

    code, out, _ = cli("check", MLP, "--baseline", ck, "--format", "github")
    assert code == 1 and out.splitlines() == [
        f"::error file={MLP},line=6,title=shape regression::layer 0 (Linear): weight [256, 21] -> [256, 20]; "
        "bias dtype float16 -> float32",
        f"::error file={MLP},line=8,title=shape regression::layer 2 (Linear): bias missing -> [10]",
        f"::error file={MLP},title=shape regression::head.weight [3, 10] -> not in spec"]


def test_the_library_returns_the_same_results(tmp_path):
    ck = _mlp_checkpoint(tmp_path / "mlp.pth")
    run = shapecli.check(MLP, ck)
    assert run.exit_code == 1
    (r,) = run.results
    assert (r.status, r.baseline, r.name, r.old_totals) == ("changed", ck, "mlp", None)
    assert r.new_totals["params"] == 7946
    assert [(c.path, c.type, c.line) for c in r.changes] == [("0", "Linear", 6), ("2", "Linear", 8), ("", "", None)]


def test_a_wrapped_and_prefixed_state_dict_is_unwrapped_and_said(cli, tmp_path):
    import torch

    model, _ = shapecli.materialize(MLP)
    sd = {"module." + k: v for k, v in model.state_dict().items()}
    torch.save({"epoch": 7, "optimizer": {"lr": 0.1}, "state_dict": sd}, tmp_path / "ddp.pt")
    code, out, err = cli("check", MLP, "--baseline", str(tmp_path / "ddp.pt"))
    assert (code, err) == (0, ""), out
    assert "the state dict was read from the file's 'state_dict' entry (beside it: epoch, optimizer)" in out
    assert "the prefix 'module.' was taken off every key of the file" in out
    torch.save({"_orig_mod.model." + k: v for k, v in model.state_dict().items()}, tmp_path / "compiled.pt")
    (r,) = shapecli.check(MLP, str(tmp_path / "compiled.pt")).results
    assert r.status == "ok" and "the prefix '_orig_mod.model.' was taken off every key of the file" in r.notes


def test_a_prefix_is_kept_when_the_spec_has_it():
    from shapecli.baseline.checkpoint import Checkpoint, strip_prefix

    ck = Checkpoint("x.pt", "torch", [Entry("0.weight", [2], "float32"), Entry("0.bias", [2], "float32")])
    assert strip_prefix(ck, ["0.weight", "0.bias"]) is ck  # "0." is every key's, and the spec's too
    assert strip_prefix(ck, ["weight"]).entries[0].name == "weight"


def test_a_checkpoint_is_never_written_and_fits_one_spec(cli, tmp_path):
    ck = _mlp_checkpoint(tmp_path / "mlp.pt")
    before = (tmp_path / "mlp.pt").read_bytes()
    for args, msg in ((["--update"], "--update rewrites shapecli baselines; a checkpoint"),
                      (["--stats"], "--stats compares init statistics, which a checkpoint"),
                      ([str(ROOT / "configs" / "lenet5.yaml")], "is a checkpoint of one model; there are 2 specs")):
        code, _, err = cli("check", MLP, "--baseline", ck, *args)
        assert code == 2 and msg in err and len(err.splitlines()) == 1, err
    assert (tmp_path / "mlp.pt").read_bytes() == before


def test_a_python_model_against_a_checkpoint_says_why_not(cli, tmp_path):
    ck = _mlp_checkpoint(tmp_path / "mlp.pt")
    code, _, err = cli("check", "torch.nn:Identity", "--baseline", ck)
    assert code == 2 and "a checkpoint records no input, and a model written in Python has none" in err


def test_a_pickle_payload_is_refused_through_check_and_creates_nothing(cli, tmp_path):
    import torch

    marker = tmp_path / "created-by-the-payload"
    torch.save({"0.weight": torch.zeros(2), "x": _Payload(str(marker))}, tmp_path / "evil.pt")
    code, _, err = cli("check", MLP, "--baseline", str(tmp_path / "evil.pt"))
    assert code == 2 and not marker.exists()
    assert err == f"{tmp_path / 'evil.pt'}: error: refused: the file holds pickled code or objects other than " \
                  "tensors (loaded with weights_only=True; nothing was executed)\n"


# The bad checkpoints in tests/corpus/checkpoints (README there): exit 2 and one line naming the file.
BAD = [("empty.pt", "the file is empty"),
       ("evil.pt", "refused: the file holds pickled code"),
       ("junk.pt", "not a PyTorch state dict: torch.save writes a zip archive, this file is not one"),
       ("legacy.pt", "a PyTorch file in the legacy format"),
       ("list.pt", "expected a state dict (a mapping of names to tensors), got list"),
       ("nested.pt", "the tensors are nested under 'generator', 'discriminator'; shapecli unwraps"),
       ("no_tensors.pt", "the file holds no tensors (not a state dict)"),
       ("junk.safetensors", "not a readable safetensors file: "),
       ("truncated.safetensors", "not a readable safetensors file: ")]


def test_the_corpus_lists_every_file():
    assert sorted(p.name for p in CORPUS.iterdir() if p.name != "README.md") == sorted(name for name, _ in BAD)


@pytest.mark.parametrize("name,message", BAD, ids=[n for n, _ in BAD])
def test_a_bad_checkpoint_is_one_line_and_exit_2(name, message, monkeypatch):
    if name.endswith(".safetensors"):
        pytest.importorskip("safetensors")
    pwned = Path("/tmp/shapecli-pwned")  # what evil.pt's payload would create
    pwned.unlink(missing_ok=True)
    monkeypatch.chdir(CORPUS)
    args = ["check", MLP, "--baseline", name]
    code, out, err, _ = run_cli(args)
    check_contract(args, code, out, err)
    assert code == 2 and err.startswith(f"{name}: error: {message}") and len(err.splitlines()) == 1, err
    assert not pwned.exists()


def _vm_kib(field: str) -> str:
    return f"next(int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('{field}:'))"


@pytest.mark.parametrize("kind", ["safetensors", "pt"])
def test_a_1gib_checkpoint_checks_in_seconds_in_little_memory(tmp_path, kind):
    """A 1 GiB checkpoint of 256 Linear(1024, 1024) against their spec, through the CLI in a fresh process:
    the time and the peak memory beyond what importing torch takes (VmHWM; figures in docs/checkpoints.md).
    The .safetensors file is sparse (a few KiB on disk); the .pt file is written in full (about 5 s)."""
    import shutil

    import torch

    spec = tmp_path / "big.yaml"
    spec.write_text("name: big\ninput: [2, 1024]\nlayers:\n  - Linear: {out_features: 1024, bias: false}\n"
                    "    repeat: 256\n    name: layers\n")
    names = [f"layers.{i}.weight" for i in range(256)]
    f = tmp_path / f"big.{kind}"
    if kind == "safetensors":
        pytest.importorskip("safetensors")
        assert sparse_safetensors(f, [(n, [1024, 1024], "float32") for n in names]) > 1 << 30
    else:
        if shutil.disk_usage(tmp_path).free < 8 << 30:
            pytest.skip("less than 8 GiB of free disk for a 1 GiB file")
        base = torch.empty(256 << 20)  # never touched: it takes no memory here
        torch.save({n: base[i << 20:(i + 1) << 20].view(1024, 1024) for i, n in enumerate(names)}, f)
        del base
        assert f.stat().st_size > 1 << 30
    code = ("import sys, time, torch\nfrom shapecli.cli.app import main\n"
            + ("import safetensors\n" if kind == "safetensors" else "") +
            f"before = {_vm_kib('VmHWM')}; t = time.perf_counter()\n"
            f"rc = main(['check', {str(spec)!r}, '--baseline', {str(f)!r}])\n"
            f"print('@@', rc, time.perf_counter() - t, before, {_vm_kib('VmHWM')}, file=sys.stderr)")
    try:
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    finally:
        f.unlink()  # pytest keeps the last runs' tmp_path: not 1 GiB of them
    marker = [ln for ln in p.stderr.splitlines() if ln.startswith("@@ ")]
    assert marker, p.stderr
    rc, seconds, before, peak = marker[0].split()[1:]
    assert rc == "0" and "matches the checkpoint (268,435,456 params)" in p.stdout, p.stdout + p.stderr
    assert float(seconds) < 15, f"{seconds} s"
    assert int(peak) - int(before) < 128 * 1024, f"{(int(peak) - int(before)) // 1024} MiB beyond importing torch"
    if torch.__version__.startswith("2.13"):  # the CPU build: importing torch takes about 210 MiB
        assert int(peak) < 384 * 1024, f"peak {int(peak) // 1024} MiB"


def test_a_1gb_safetensors_checks_fast_and_small(tmp_path):
    pytest.importorskip("safetensors")
    entries = [(f"layers.{i}.weight", [1024, 1024], "float32") for i in range(256)]  # 256 x 4 MiB = 1 GiB
    f = tmp_path / "big.safetensors"
    assert sparse_safetensors(f, entries) > 1 << 30
    code = ("import resource, time, torch, safetensors; t = time.perf_counter()  # imports not timed\n"
            "from shapecli.baseline.checkpoint import read_checkpoint\n"
            f"ck = read_checkpoint({str(f)!r}); assert len(ck.entries) == 256\n"
            # VmHWM, not ru_maxrss: a forked child's ru_maxrss starts from its parent's (pytest's) peak
            "hwm = next(int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM'))\n"
            "print(time.perf_counter() - t, hwm)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    seconds, rss_kib = p.stdout.split()
    assert float(seconds) < 10 and int(rss_kib) < 512 * 1024


def test_torch_load_warnings_stay_off_stderr(tmp_path):
    """Found by fuzzing (tests/fuzz, target `checkpoint`): a .pt whose pickle claims protocol 36 made torch.load
    warn "Detected pickle protocol 36 in the checkpoint ..." raw on stderr; the file is read or refused, silently."""
    import io
    import warnings

    import torch

    buf = io.BytesIO()
    torch.save({"w": torch.ones(2)}, buf)
    data = buf.getvalue()
    at = data.index(b"\x80\x02", data.index(b"data.pkl"))  # the pickle's PROTO opcode
    (tmp_path / "odd.pt").write_bytes(data[: at + 1] + b"\x24" + data[at + 2:])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            got = read_checkpoint(str(tmp_path / "odd.pt"))
        except BaselineError as e:
            got = e
    assert not caught, [str(w.message) for w in caught]
    assert isinstance(got, BaselineError) or [e.name for e in got.entries] == ["w"]


def test_a_model_without_tensors_checks_against_an_empty_checkpoint_of_either_format(cli, tmp_path):
    """A state dict with no entries is what a model without parameters or buffers saves: both readers take
    it (read_torch refused it as "no tensors", read_safetensors did not), and it matches such a spec."""
    import torch

    spec = tmp_path / "relu.yaml"
    spec.write_text("input: [2, 4]\nlayers:\n  - ReLU\n  - Flatten\n")
    torch.save({}, tmp_path / "empty.pt")
    sparse_safetensors(tmp_path / "empty.safetensors", [])
    for name in ("empty.pt", "empty.safetensors"):
        if name.endswith(".safetensors") and not _has_safetensors():
            continue
        code, out, err = cli("check", str(spec), "--baseline", str(tmp_path / name))
        assert code == 0, (name, out, err)
    # a mapping whose values are not tensors is still refused
    torch.save({"epoch": 3}, tmp_path / "epoch.pt")
    code, _, err = cli("check", str(spec), "--baseline", str(tmp_path / "epoch.pt"))
    assert code == 2 and "the file holds no tensors" in err


def _has_safetensors() -> bool:
    try:
        import safetensors  # noqa: F401
    except ImportError:
        return False
    return True
