"""The bad-input corpus: every file in tests/corpus/specs, and a table of command lines, through the CLI.

A corpus spec states what it expects in `#` comments (docs: tests/corpus/README.md):

    # expect: 2 | {file}:4:5: error: layer 0 (Linear): out_features: must be at least 1, got 0
    # also: <another stderr substring>        # not: <must not be on stderr>
    # stdout: <stdout substring>              # args: --json        # max-seconds: 1

`{file}` is the spec's name as passed (the test runs in tests/corpus/specs). Besides its own
expectations, every run must keep the general contract (tests/fuzz_support.py: exit 0/1/2, no
traceback, one line per problem, no raw control characters, valid JSON for --json).
"""
from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fuzz_support import ROOT, check_contract, run_cli

CORPUS = Path(__file__).resolve().parent / "corpus" / "specs"
PWNED = Path("/tmp/shapecli-pwned")  # what the code-execution attempts in the corpus would create
MLP = ROOT / "configs" / "mlp.yaml"


def _expectations(path: Path) -> dict:
    text = path.read_bytes().decode("utf-8", "replace").lstrip("\ufeff")
    exp = {"code": None, "stderr": [], "not": [], "stdout": [], "args": [], "seconds": 20.0, "json": False}
    for line in text.splitlines():
        if not line.startswith("# "):
            continue
        key, _, value = line[2:].partition(":")
        value = value.strip().replace("{file}", path.name)
        if key == "expect":
            code, _, sub = value.partition("|")
            exp["code"] = int(code)
            if sub.strip():
                exp["stderr"].append(sub.strip())
        elif key == "also":
            exp["stderr"].append(value)
        elif key == "not":
            exp["not"].append(value)
        elif key == "stdout":
            exp["stdout"].append(value)
        elif key == "stdout-json":
            exp["json"] = True
        elif key == "args":
            exp["args"] = shlex.split(value)
        elif key == "max-seconds":
            exp["seconds"] = float(value)
    assert exp["code"] is not None, f"{path.name}: no '# expect: CODE | stderr' line"
    return exp


SPECS = sorted(CORPUS.glob("*.yaml"))


@pytest.fixture(autouse=True)
def _no_code_execution():
    PWNED.unlink(missing_ok=True)
    yield
    assert not PWNED.exists(), "a spec made shapecli run code"


@pytest.mark.parametrize("spec", SPECS, ids=[p.stem for p in SPECS])
def test_corpus_spec(spec, monkeypatch):
    exp = _expectations(spec)
    monkeypatch.chdir(CORPUS)
    args = ["inspect", spec.name, *exp["args"]]
    code, out, err, secs = run_cli(args, timeout=max(60.0, exp["seconds"] * 3))
    check_contract(args, code, out, err)
    assert code == exp["code"], f"exit {code}, expected {exp['code']}\nstderr: {err}"
    for sub in exp["stderr"]:
        assert sub in err, f"expected on stderr: {sub!r}\ngot: {err!r}"
    for sub in exp["not"]:
        assert sub not in err, f"not expected on stderr: {sub!r}\ngot: {err!r}"
    for sub in exp["stdout"]:
        assert sub in out, f"expected on stdout: {sub!r}\ngot: {out[:2000]!r}"
    if exp["json"]:
        json.loads(out)
    assert secs < exp["seconds"], f"took {secs:.2f} s (at most {exp['seconds']} s)"
    assert "Traceback" not in err


BASELINES = CORPUS.parent / "baselines"  # bad baselines of tiny.yaml, each with its one line (file:line:col)
BAD_BASELINES = {
    "duplicate_key.shapes.json": "duplicate_key.shapes.json:17:3: error: invalid baseline: duplicate key 'name'",
    "nan.shapes.json": "nan.shapes.json:10:17: error: invalid baseline: NaN is not valid JSON",
    "out_of_range.shapes.json": "out_of_range.shapes.json:29:20: error: invalid baseline: 1e999 is out of range",
}


@pytest.mark.parametrize("name", sorted(BAD_BASELINES))
def test_corpus_baseline(name, monkeypatch):
    """A baseline that is JSON but not strict JSON is located like a syntax error: the line and column of the
    NaN, the out-of-range number or the second occurrence of the duplicate key (json's hooks know no position)."""
    assert sorted(p.name for p in BASELINES.glob("*.shapes.json")) == sorted(BAD_BASELINES)
    monkeypatch.chdir(BASELINES)
    args = ["check", "tiny.yaml", "-b", name]
    code, out, err, _ = run_cli(args)
    check_contract(args, code, out, err)
    assert code == 2 and err.startswith(BAD_BASELINES[name]) and len(err.splitlines()) == 1, err


def test_every_problem_line_points_into_the_file():
    """Sanity of the corpus itself: each expected `{file}:L:C` lies inside its file."""
    for spec in SPECS:
        lines = spec.read_bytes().count(b"\n") + 1
        for sub in _expectations(spec)["stderr"]:
            head = sub.split(": ", 1)[0]
            if head.startswith(spec.name + ":"):
                line = int(head.split(":")[1])
                assert 1 <= line <= lines, (spec.name, sub)


# ---------------------------------------------------------------------------- generated specs

def test_empty_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("empty.yaml").write_bytes(b"")
    code, out, err, _ = run_cli(["inspect", "empty.yaml"])
    check_contract(["inspect"], code, out, err)
    assert code == 2 and "empty.yaml: error: the spec is empty" in err


def test_utf16_file_is_called_utf16(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("u16.yaml").write_bytes("input: [2, 8]\nlayers:\n  - Linear: 4\n".encode("utf-16"))
    code, out, err, _ = run_cli(["inspect", "u16.yaml"])
    check_contract(["inspect"], code, out, err)
    assert code == 2 and err.strip() == "u16.yaml: error: the file is UTF-16, not UTF-8; save it as UTF-8"


def test_snapshot_of_a_yaml_typo_does_not_import_torch(tmp_path):
    spec = tmp_path / "typo.yaml"
    spec.write_text("input: [2, 8]\nlayers:\n  - Linear: [4\n")
    code = ("import sys; from shapecli.cli.app import main; "
            f"rc = main(['snapshot', {str(spec)!r}]); print(rc, 'torch' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.stdout.split() == ["2", "False"], p.stderr
    assert "typo.yaml:" in p.stderr and not (tmp_path / "typo.shapes.json").exists()


def test_two_megabyte_file_is_refused_by_size(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("big.yaml").write_text("input: [2, 20]\nlayers:\n" + "  - ReLU\n" * (2 * 1024 * 1024 // 9))
    code, out, err, secs = run_cli(["inspect", "big.yaml"])
    check_contract(["inspect"], code, out, err)
    assert code == 2 and "big.yaml: error: the file is 2,097," in err and "a spec may be at most 1,048,576" in err
    assert secs < 10  # a hang guard, not a performance target (bench/ measures speed)
    code, out, err, _ = run_cli(["inspect", "-"], stdin=Path("big.yaml").read_bytes())
    assert code == 2 and "<stdin>: error: the spec is larger than 1,048,576 bytes" in err


def test_alias_bomb_is_refused_fast():
    t = time.process_time()  # CPU time: a hang guard that a loaded machine does not trip (bench/ measures speed)
    code, out, err, _ = run_cli(["inspect", str(CORPUS / "alias_bomb.yaml")])
    took = time.process_time() - t
    assert code == 2 and "YAML anchors (&a) are not allowed" in err
    assert took < 1.0, f"alias bomb took {took:.3f} s of CPU"


def test_linear_1e12_answers_on_meta_without_allocating(tmp_path):
    """`Linear: 1000000000000` (4 TB of weights): shaped on the meta device; CPU time (a hang guard that a
    loaded machine does not trip) and peak RSS, loosely."""
    code = (
        "import resource, sys, time; from shapecli.cli import main; t = time.process_time(); "
        f"rc = main(['inspect', {str(CORPUS / 'linear_1e12.yaml')!r}, '--json']); "
        "sys.stderr.write(f'@@ {rc} {time.process_time() - t:.3f} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n')"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                       env=dict(os.environ, NO_COLOR="1"))
    marker = [ln for ln in p.stderr.splitlines() if ln.startswith("@@ ")]
    assert marker, p.stderr
    rc, secs, rss_kib = marker[-1].split()[1:]
    assert rc == "0" and "MemoryError" not in p.stderr
    report = json.loads(p.stdout)
    assert report["device"] == "meta"
    assert float(secs) < 10, f"{secs} s of CPU"
    assert int(rss_kib) < 2 * 1024 * 1024, f"peak RSS {int(rss_kib) // 1024} MiB"


# ---------------------------------------------------------------------------- command lines

CMDLINES = [
    # (id, args, expected exit, stderr substring). The --input wording belongs to the shape parser (dims.py);
    # these check the contract: exit 2, one line naming the option and echoing the text literally.
    ("input-empty-dim", ["--input", "2,,20"], 2, "error: --input '2,,20': "),
    ("input-negative", ["--input", "-1,20"], 2, "error: --input '-1,20': "),
    ("input-zero", ["--input", "0,20"], 2, "error: --input '0,20': "),
    ("input-float", ["--input", "1e9,1e9"], 2, "error: --input '1e9,1e9': "),
    ("input-fullwidth", ["--input", "２,２０"], 2, "error: --input '２,２０': "),
    ("input-underscore", ["--input", "1_000"], 2, "error: --input '1_000': "),
    ("input-empty", ["--input", ""], 2, "error: --input is empty; write a shape such as 2,20"),
    ("input-blank", ["--input", "   "], 2, "error: --input is empty"),
    ("input-trailing-comma", ["--input", "2,20,"], 2, "error: --input '2,20,': "),
    ("input-bad-dtype", ["--input", "2,20:float128"], 2, "unknown dtype 'float128'"),
    ("input-huge-digits", ["--input", "2," + "9" * 5000], 2, "is too large"),
    ("input-markup", ["--input", "[red]2[/]"], 2, "error: --input '[red]2[/]': "),
    ("input-ansi", ["--input", "\x1b[31m2"], 2, "error: --input '"),  # check_contract: no raw escape on stderr
    ("input-name-typo", ["--input", "abc"], 2, "error: --input 'abc': no sample size for abc"),
    ("input-feature-mismatch", ["--input", "2,30", "--input", "2,20"], 2, "input #2 (2,20): was materialized for 30"),
    ("input-rank-for-linear", ["--input", "2,3,4,5,6,7"], 0, ""),
    ("input-name-with-x", ["--input", "B,max_len=20"], 0, ""),
    ("input-huge-shape-meta", ["--input", "100000,100000,100000"], 0, ""),
    ("input-huge-on-cpu", ["--input", "100000,100000,100000", "--device", "cpu"], 2,
     "error: the sample input 100000,100000,100000: 4,000,000,000,000,000 bytes is more than one tensor may take on cpu"),
    ("second-input-huge", ["--input", "2,20", "--input", "100000,100000,100000,20"], 0, ""),
    ("set-unknown", ["--set", "hiden=3"], 2, "error: --set hiden: the spec has no variable 'hiden'"),
    ("set-no-equals", ["--set", "hidden"], 2, "error: --set takes name=value, got 'hidden'"),
    ("set-huge-digits", ["--set", "x=" + "9" * 5000], 2, "error: --set x: the integer"),
    ("seed-overflow", ["--seed", "99999999999999999999"], 2, "error: --seed 99999999999999999999: give an integer"),
    ("seed-not-int", ["--seed", "x"], 2, "error: Invalid value for '--seed'"),
    ("device-unknown", ["--device", "tpu"], 2, "error: --device 'tpu': choose auto, cpu or meta"),
    ("depth-zero", ["--depth", "0"], 2, "error: Invalid value for '--depth'"),
    ("max-memory-nan", ["--max-memory", "nan"], 2, "error: --max-memory 'nan'"),
    ("max-memory-cpu-exceeded", ["--max-memory", "0", "--device", "cpu"], 2, "needs more memory than --max-memory allows"),
    ("format-unknown", ["--format", "[red]xml"], 2, "error: --format '[red]xml': choose table, json, markdown, html or svg"),
    ("bogus-option", ["--bogus"], 2, "error: No such option: --bogus"),
]


@pytest.mark.parametrize("args,code,fragment", [c[1:] for c in CMDLINES], ids=[c[0] for c in CMDLINES])
def test_command_line(args, code, fragment):
    full = ["inspect", str(MLP), *args]
    got, out, err, _ = run_cli(full)
    check_contract(full, got, out, err)
    assert got == code, f"exit {got}, expected {code}\nstderr: {err}"
    assert fragment in err, f"expected {fragment!r} on stderr, got {err!r}"
    assert len(err.splitlines()) <= 2  # one line per problem (a failed second input may add the report's)


def test_set_unknown_var_when_spec_has_no_vars(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("input: [2, 3]\nlayers: [ReLU]\n")
    code, out, err, _ = run_cli(["inspect", str(spec), "--set", "x=1"])
    assert code == 2 and "the spec has no variable 'x' (it defines no vars:)" in err


def test_missing_file():
    code, out, err, _ = run_cli(["inspect", "no/such/spec.yaml"])
    assert code == 2 and err == "no/such/spec.yaml: error: no such file\n"


def test_directory():
    code, out, err, _ = run_cli(["inspect", str(CORPUS)])
    assert code == 2 and "error: is a directory, not a spec file" in err


def test_fifo_does_not_block(tmp_path):
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    code, out, err, secs = run_cli(["inspect", str(fifo)], timeout=10)
    assert code == 2 and "not a regular file (a pipe or device is not read; use '-' for stdin)" in err
    assert secs < 10  # a hang guard, not a performance target (bench/ measures speed)


def test_dev_zero_is_not_read():
    code, out, err, secs = run_cli(["inspect", "/dev/zero"], timeout=10)
    assert code == 2 and "/dev/zero: error: not a regular file" in err and secs < 10


def test_symlink_to_a_device_is_not_read(tmp_path):
    link = tmp_path / "spec.yaml"
    link.symlink_to("/dev/zero")
    code, out, err, _ = run_cli(["inspect", str(link)], timeout=10)
    assert code == 2 and "not a regular file" in err


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads a chmod 000 file anyway")
def test_unreadable_file(tmp_path):
    spec = tmp_path / "secret.yaml"
    spec.write_text("input: [2, 3]\nlayers: [ReLU]\n")
    spec.chmod(0)
    try:
        code, out, err, _ = run_cli(["inspect", str(spec)])
    finally:
        spec.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert code == 2 and "error: cannot read: Permission denied" in err


def test_unreadable_file_even_as_root(tmp_path, monkeypatch):
    """The same path as chmod 000, simulated: root can read anything, so the test above is skipped under root."""
    import shapecli.fileio as yl

    spec = tmp_path / "secret.yaml"
    spec.write_text("input: [2, 3]\nlayers: [ReLU]\n")

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(yl, "open", denied, raising=False)
    code, out, err, _ = run_cli(["inspect", str(spec)])
    assert code == 2 and err == f"{spec}: error: cannot read: Permission denied\n"


def test_stdin_spec_works_and_bad_stdin_is_located():
    code, out, err, _ = run_cli(["inspect", "-", "--json"], stdin="input: [3, 4]\nlayers:\n  - Linear: 2\n")
    assert code == 0 and json.loads(out)["outputs"]["shape"] == [3, 2]
    code, out, err, _ = run_cli(["inspect", "-"], stdin=b"input: [3, 4]\nlayers:\n  - Linear: 0\n")
    assert code == 2 and err.startswith("<stdin>:3:5: error: layer 0 (Linear): out_features: must be at least 1")
    code, out, err, _ = run_cli(["inspect", "-"], stdin=b"layers:\n  - Linear: \xff\n")
    assert code == 2 and "<stdin>:2:13: error: the file is not valid UTF-8" in err
    code, out, err, _ = run_cli(["inspect", "-"], stdin=b"")
    assert code == 2 and "<stdin>: error: the spec is empty" in err


def test_json_is_valid_with_warnings_on_stderr():
    spec = CORPUS / "json_with_warnings.yaml"
    code, out, err, _ = run_cli(["inspect", str(spec), "--json"])
    assert code == 0
    json.loads(out)
    assert "warning: layer 0 (Linear): [zero-init]" in err and "[zero-init]" not in out  # stdout: JSON only
    code, out, err, _ = run_cli(["inspect", str(spec), "--json", "--strict"])
    assert code == 1  # --strict: a warning fails the run; still valid JSON
    json.loads(out)


def test_debug_shows_the_traceback_only_when_asked(monkeypatch):
    import shapecli.run.engine as m

    def boom(*a, **k):
        raise KeyError("bug")

    monkeypatch.setattr(m, "materialize", boom)
    code, out, err, _ = run_cli(["inspect", str(MLP)])
    assert code == 3 and "Traceback" not in err and "internal error: KeyError" in err
    code, out, err, _ = run_cli(["--debug", "inspect", str(MLP)])
    assert code == 3 and "Traceback" in err


def test_snapshot_never_overwrites_the_spec_or_a_file_that_is_not_a_baseline(tmp_path):
    spec, notes = tmp_path / "mlp.yaml", tmp_path / "notes.txt"
    spec.write_text(MLP.read_text())
    notes.write_text("keep\n")
    run_cli(["snapshot", str(spec), "--out", str(notes), "--force"])
    run_cli(["snapshot", str(spec), "--out", str(spec), "--force"])
    assert notes.read_text() == "keep\n"
    assert spec.read_text() == MLP.read_text()
