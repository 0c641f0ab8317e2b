"""`shapecli snapshot` / `shapecli check`: the CI shape-regression check (docs/ci.md)."""
import json
import re
import os

import pytest

from shapecli import baseline as bl
from shapecli.render.diff import gh_command, gh_data, gh_property

from conftest import CONFIGS

MLP = """\
name: mlp
input: [2, 20]
layers:
  - Linear: 256
  - ReLU
  - Linear: {out_features: 10}
"""
# lines:     Linear 4, ReLU 5, Linear 6

CONV = """\
name: conv
input: [2, 1, 12, 12]
layers:
  - Conv2d: {out_channels: 4, kernel_size: 3}
  - ReLU
  - Flatten
  - Linear: 10
"""
# lines:     Conv2d 4 -> [2, 4, 10, 10], ReLU 5, Flatten 6 -> [2, 400], Linear 7 -> weight [10, 400]


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


@pytest.fixture
def snap(cli, tmp_path):
    """Write a spec into tmp_path and snapshot it: returns (spec path, baseline path)."""

    def make(text=MLP, name="mlp.yaml", *args):
        spec = write(tmp_path / name, text)
        code, out, err = cli("snapshot", spec, *args)
        assert code == 0, err
        return spec, bl.default_path(spec)

    return make


def mutate(spec, old, new):
    text = open(spec).read()
    assert old in text
    with open(spec, "w") as f:
        f.write(text.replace(old, new))


# ---------------------------------------------------------------------------- snapshot

def test_snapshot_writes_a_deterministic_baseline(cli, snap, tmp_path):
    spec, path = snap()
    assert path == str(tmp_path / "mlp.shapes.json")
    text = open(path).read()
    assert text.endswith("}\n") and "\n  \"buffers\": []," in text  # 2-space indent

    def sorted_pairs(kv):
        keys = [k for k, _ in kv]
        assert keys == sorted(keys)
        return dict(kv)

    doc = json.loads(text, object_pairs_hook=sorted_pairs)
    assert doc["kind"] == "shapecli-baseline" and doc["schema_version"] == bl.SCHEMA_VERSION
    assert doc["input_source"] == "spec" and doc["set"] == {} and doc["spec"] == "mlp.yaml"
    assert doc["inputs"] == [[{"dtype": "float32", "shape": [2, 20]}]]
    assert [(lay["path"], lay["type"], lay["line"]) for lay in doc["layers"]] == [("0", "Linear", 4), ("1", "ReLU", 5),
                                                                                  ("2", "Linear", 6)]
    assert [(p["name"], p["shape"], p["trainable"]) for p in doc["params"]] == [
        ("0.weight", [256, 20], True), ("0.bias", [256], True), ("2.weight", [10, 256], True), ("2.bias", [10], True)]
    assert doc["totals"]["params"] == 7946 and doc["totals"]["param_bytes"] == 7946 * 4
    assert "stats" not in doc  # random init values only with --stats
    assert '"shape": [256, 20]' in text  # a shape is one line: a change is a one-line diff
    # the same content again: a no-op
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    code, out, err = cli("snapshot", spec)
    assert code == 0 and "unchanged" in err and out == ""
    assert os.stat(path).st_mtime_ns == 1_000_000_000
    assert open(path).read() == text


def test_snapshot_refuses_to_overwrite_a_different_baseline(cli, snap):
    spec, path = snap()
    before = open(path).read()
    mutate(spec, "Linear: 256", "Linear: 128")
    code, out, err = cli("snapshot", spec)
    assert code == 2 and path in err and "--force" in err and "check --update" in err
    assert open(path).read() == before
    code, out, err = cli("snapshot", spec, "--force")
    assert code == 0 and "replaced" in err
    assert '"shape": [128, 20]' in open(path).read()


def test_snapshot_out_options(cli, tmp_path):
    a = write(tmp_path / "a.yaml", MLP)
    b = write(tmp_path / "b.yml", CONV)
    code, _, err = cli("snapshot", a, b, "--out", str(tmp_path / "one.json"))
    assert code == 2 and "names one file" in err
    code, _, err = cli("snapshot", a, b, "--out", str(tmp_path / "base") + "/")
    assert code == 0, err
    assert sorted(os.listdir(tmp_path / "base")) == ["a.shapes.json", "b.shapes.json"]
    assert json.loads((tmp_path / "base" / "a.shapes.json").read_text())["spec"] == "../a.yaml"
    code, out, _ = cli("snapshot", a, "--out", "-")
    assert code == 0 and json.loads(out)["kind"] == "shapecli-baseline"
    code, out2, _ = cli("snapshot", "-", "--out", "-", stdin=MLP)
    assert code == 0 and json.loads(out2)["spec"] == "<stdin>" and json.loads(out2)["layers"] == json.loads(out)["layers"]
    assert cli("snapshot", "-", stdin=MLP)[0] == 2  # where would it go?
    code, _, err = cli("check", a, b, "--baseline", str(tmp_path / "base"))
    assert code == 0, err


def test_inputs_and_sets_are_recorded_and_reused(cli, tmp_path):
    spec = write(tmp_path / "v.yaml", "input: [2, 20]\nvars: {h: 64}\nlayers:\n  - Linear: $h\n  - Linear: 3\n")
    code, _, err = cli("snapshot", spec, "--set", "h=32", "-i", "4,8", "-i", "5,8")
    assert code == 0, err
    doc = json.loads(open(bl.default_path(spec)).read())
    assert doc["set"] == {"h": 32} and doc["input_source"] == "command line"
    assert doc["inputs"] == [[{"dtype": "float32", "shape": [4, 8]}], [{"dtype": "float32", "shape": [5, 8]}]]
    assert doc["params"][0]["shape"] == [32, 8]
    assert doc["layers"][1]["output_shapes"] == [{"dtype": "float32", "shape": [4, 3]}, {"dtype": "float32", "shape": [5, 3]}]
    # the spec's own defaults change; the recorded --set and --input still apply
    mutate(spec, "input: [2, 20]\nvars: {h: 64}", "input: [2, 99]\nvars: {h: 77}")
    assert cli("check", spec)[0] == 0
    mutate(spec, "  - Linear: 3", "  - Linear: 4")
    code, out, _ = cli("check", spec, "-f", "github")
    assert code == 1
    assert "layer 1 (Linear): output #1 [4, 3] -> [4, 4]; output #2 [5, 3] -> [5, 4]; weight [3, 32] -> [4, 32]; " \
           "bias [3] -> [4]" in out


def test_a_changed_default_input_is_a_change(cli, snap):
    spec, _ = snap()
    mutate(spec, "input: [2, 20]", "input: [2, 30]")
    code, out, _ = cli("check", spec, "-f", "github")
    assert code == 1
    assert f"::error file={spec},title=shape regression::input [2, 20] -> [2, 30]\n" in out
    assert "layer 0 (Linear): weight [256, 20] -> [256, 30]" in out


# ---------------------------------------------------------------------------- check: each kind of change

def test_check_passes_when_nothing_changed_even_if_lines_moved(cli, snap):
    spec, path = snap()
    assert cli("check", spec) == (0, f"✓ {spec} (mlp): matches its baseline (7,946 params)\n", "")
    mutate(spec, "name: mlp\n", "# a comment\nname: mlp\n")
    assert cli("check", spec)[0] == 0


MUTATIONS = {
    "width": ("Linear: 256", "Linear: 512", [
        "line=4,title=shape regression::layer 0 (Linear): output [2, 256] -> [2, 512]; weight [256, 20] -> [512, 20]; "
        "bias [256] -> [512]",
        "line=5,title=shape regression::layer 1 (ReLU): output [2, 256] -> [2, 512]",
        "line=6,title=shape regression::layer 2 (Linear): weight [10, 256] -> [10, 512]"]),
    "added": ("  - ReLU\n", "  - ReLU\n  - Linear: 64\n  - ReLU\n", [
        "line=6,title=shape regression::layer 2 (Linear): added: weight [64, 256], bias [64]",
        "line=7,title=shape regression::layer 3 (ReLU): added",
        "line=8,title=shape regression::layer 4 (Linear): moved from 2; weight [10, 256] -> [10, 64]"]),
    "removed": ("  - ReLU\n", "", [
        "line=4,title=shape regression::layer 1 (ReLU): removed",
        "line=5,title=shape regression::layer 1 (Linear): moved from 2"]),
    "frozen": ("  - Linear: {out_features: 10}\n", "  - Linear: {out_features: 10}\n    freeze: true\n", [
        "line=6,title=shape regression::layer 2 (Linear): weight trainable -> frozen; bias trainable -> frozen"]),
}


@pytest.mark.parametrize("kind", list(MUTATIONS))
def test_each_kind_of_change_is_named(cli, snap, kind):
    old, new, expected = MUTATIONS[kind]
    spec, path = snap()
    before = open(path).read()
    mutate(spec, old, new)
    code, out, err = cli("check", spec, "--format", "github")
    assert code == 1, err
    lines = [ln for ln in out.splitlines() if ln.startswith("::error")]
    assert lines == [f"::error file={spec},{e}" for e in expected]
    assert open(path).read() == before  # check never writes without --update


def test_changed_kernel_changes_the_shapes_downstream(cli, snap):
    spec, _ = snap(CONV, "conv.yaml")
    mutate(spec, "kernel_size: 3", "kernel_size: 5")
    code, out, _ = cli("check", spec, "-f", "github")
    assert code == 1
    assert out.splitlines() == [
        f"::error file={spec},line=4,title=shape regression::layer 0 (Conv2d): output [2, 4, 10, 10] -> [2, 4, 8, 8]; "
        "weight [4, 1, 3, 3] -> [4, 1, 5, 5]",
        f"::error file={spec},line=5,title=shape regression::layer 1 (ReLU): output [2, 4, 10, 10] -> [2, 4, 8, 8]",
        f"::error file={spec},line=6,title=shape regression::layer 2 (Flatten): output [2, 400] -> [2, 256]",
        f"::error file={spec},line=7,title=shape regression::layer 3 (Linear): weight [10, 400] -> [10, 256]",
        f"::notice file={spec},title=shapecli totals::params 4,050 -> 2,674 (-1,376) · size 15.82 KiB -> 10.45 KiB "
        "(-5.38 KiB)",
    ]


def test_a_removed_container_counts_its_items(cli, snap):
    text = MLP.replace("  - ReLU\n", "  - ReLU\n  - Sequential:\n      - Linear: 256\n      - ReLU\n    name: mid\n")
    spec, _ = snap(text, "seq.yaml")
    mutate(spec, "  - Sequential:\n      - Linear: 256\n      - ReLU\n    name: mid\n", "")
    code, out, _ = cli("check", spec, "-f", "github")
    assert code == 1
    assert [ln.split("::")[-1] for ln in out.splitlines()] == [
        "layer mid (Sequential): removed with 2 nested items: params 65,792",  # its items are not listed one by one
        "layer 2 (Linear): moved from 3",
        "params 73,738 -> 7,946 (-65,792) · size 288.04 KiB -> 31.04 KiB (-257.00 KiB)"]


# ---------------------------------------------------------------------------- output formats (golden)

def _frozen(cli, snap):
    spec, _ = snap()
    mutate(spec, "  - Linear: {out_features: 10}\n", "  - Linear: {out_features: 10}\n    freeze: true\n")
    return spec


def test_table_format(cli, snap):
    spec = _frozen(cli, snap)
    code, out, err = cli("check", spec)
    assert code == 1 and err == ""
    assert [ln.rstrip() for ln in out.splitlines()] == [
        f"✗ {spec} (mlp): 1 change",
        "Line   Layer   Type     Change    What     Old         New",
        "─" * 61,
        "   6   2       Linear   changed   weight   trainable   frozen",
        "                                  bias     trainable   frozen",
        "  params 7,946 (unchanged) · trainable 7,946 → 5,376 (-2,570) · size 31.04 KiB",
    ]


def test_markdown_format(cli, snap):
    spec = _frozen(cli, snap)
    code, out, _ = cli("check", spec, "--format", "markdown")
    assert code == 1
    assert out == (
        "### shapecli check: 1 spec checked: 1 changed\n\n"
        f"❌ **`{spec}`** (mlp): 1 change\n\n"
        "| Line | Layer | Type | Change | What | Old | New |\n"
        "| ---: | --- | --- | --- | --- | --- | --- |\n"
        "| 6 | `2` | Linear | changed | weight | `trainable` | `frozen` |\n"
        "|  |  |  |  | bias | `trainable` | `frozen` |\n\n"
        "params 7,946 (unchanged) · trainable 7,946 → 5,376 (-2,570) · size 31.04 KiB\n")


def test_github_format(cli, snap):
    spec = _frozen(cli, snap)
    code, out, _ = cli("check", spec, "--format", "github")
    assert code == 1
    assert out == (
        f"::error file={gh_property(spec)},line=6,title=shape regression::layer 2 (Linear): "
        "weight trainable -> frozen; bias trainable -> frozen\n"
        f"::notice file={gh_property(spec)},title=shapecli totals::"
        "params 7,946 (unchanged) · trainable 7,946 -> 5,376 (-2,570) · size 31.04 KiB\n")


def test_json_format(cli, snap):
    spec = _frozen(cli, snap)
    code, out, _ = cli("check", spec, "--format", "json")
    assert code == 1
    doc = json.loads(out)
    assert doc["kind"] == "shapecli-check" and doc["exit_code"] == 1
    assert doc["summary"] == {"checked": 1, "ok": 0, "changed": 1, "error": 0, "skipped": 0, "written": 0}
    (s,) = doc["specs"]
    assert s["status"] == "changed" and s["spec"] == spec and s["name"] == "mlp"
    (c,) = s["changes"]
    assert c["kind"] == "changed" and c["path"] == "2" and c["type"] == "Linear" and c["line"] == 6
    assert c["details"] == [{"what": "weight", "old": "trainable", "new": "frozen"},
                            {"what": "bias", "old": "trainable", "new": "frozen"}]
    assert c["message"] == "layer 2 (Linear): weight trainable -> frozen; bias trainable -> frozen"
    assert s["totals"]["trainable"] == {"old": 7946, "new": 5376, "delta": -2570}
    assert s["totals"]["params"]["delta"] == 0


WIDE = """name: wide
input: [2, 8]
vars: {w: 16}
blocks:
  pair:
    layers:
      - Linear: $w
      - ReLU
layers:
  - pair
  - pair
  - pair
""" + "".join(f"  - Linear: $w    # {i}\n" for i in range(12))


def test_github_annotations_one_per_spec_line_at_most_ten(cli, snap):
    """One width change that reaches every layer: 3 uses of a block share its two lines, 12 more lines of their
    own. ResNet-50's width change emitted 43 `::error` lines, up to 4 on one line (issue 18)."""
    spec, _ = snap(WIDE, "wide.yaml")
    mutate(spec, "vars: {w: 16}", "vars: {w: 24}")
    code, out, _ = cli("check", spec, "-f", "github")
    assert code == 1
    errors = [ln for ln in out.splitlines() if ln.startswith("::error ")]
    lines = [re.search(r",line=(\d+),", ln).group(1) for ln in errors]
    assert len(errors) == 10 and len(set(lines)) == 10  # GitHub shows a step's first 10
    assert lines[:4] == ["10", "7", "8", "11"]  # the first use of the block, then the block's own lines
    assert errors[1].endswith("::layer 0.0 (Linear): output [2, 16] -> [2, 24]; weight [16, 8] -> [24, 8]; "
                              "bias [16] -> [24]; 2 more changes on this line: 1.0, 2.0")
    (notice,) = [ln for ln in out.splitlines() if ln.startswith("::notice ")]
    assert "title=shapecli totals::" in notice
    assert "21 changes on 17 lines (not annotated, past GitHub's 10: lines 18, 19, 20, 21, 22, 23, 24) · params " \
           in notice
    doc = json.loads(cli("check", spec, "-f", "json")[1])
    assert len(doc["specs"][0]["changes"]) == 21  # every change is still in the other formats


def test_github_escaping():
    assert gh_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert gh_property("a,b:c%\n") == "a%2Cb%3Ac%25%0A"
    assert gh_command("error", "x: 50%", "d/a,b.yaml", 3, None, "t:1") == "::error file=d/a%2Cb.yaml,line=3,title=t%3A1::x: 50%25"


def test_an_invalid_spec_is_an_annotation_at_its_line(cli, snap):
    spec, _ = snap()
    mutate(spec, "Linear: 256", "Linear: {out_featurez: 256}")
    code, out, err = cli("check", spec, "-f", "github")
    assert code == 2
    assert out.startswith(f"::error file={spec},line=4,") and "title=shapecli error::" in out
    assert f"{spec}:4:" in err and "out_featurez" in err


# ---------------------------------------------------------------------------- strict baselines

def _tamper(path, fn):
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(fn(text))


BAD = {
    "nan": (lambda t: t.replace('"params": 7946', '"params": NaN'), "NaN is not valid JSON"),
    "infinity": (lambda t: t.replace('"params": 7946', '"params": -Infinity'), "-Infinity is not valid JSON"),
    "duplicate key": (lambda t: t.replace('"kind":', '"name": "x",\n  "kind":'), "duplicate key 'name'"),
    "schema version": (lambda t: t.replace('"schema_version": 1', '"schema_version": 2'), "unknown schema_version 2"),
    "truncated": (lambda t: t[: len(t) // 2], "invalid JSON"),
    "wrong type": (lambda t: t.replace('"trainable": true', '"trainable": "yes"', 1),
                   "params[0].trainable: expected a boolean, got a string"),
    "missing field": (lambda t: t.replace('"totals"', '"totalz"'), "missing field 'totals'"),
    "not a baseline": (lambda t: '{"kind": "something", "schema_version": 1}', "not a shapecli baseline"),
    "empty": (lambda t: "", "invalid JSON"),
    "overflow": (lambda t: t.replace('"params": 7946', '"params": 1e400'), "1e400 is out of range"),
    "another kind": (lambda t: t.replace('"kind": "shapecli-baseline"', '"kind": "other"'),
                                 "not a shapecli baseline"),
    "bad shape": (lambda t: t.replace('"shape": [256, 20]', '"shape": [256, -20]'), "expected an integer >= 0"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_invalid_baselines_exit_2_naming_the_file(cli, snap, case):
    fn, msg = BAD[case]
    spec, path = snap()
    _tamper(path, fn)
    before = open(path).read()
    code, out, err = cli("check", spec)
    assert code == 2
    assert err.startswith(path + ":") and msg in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert cli("check", spec, "--update")[0] == 2  # not silently replaced
    assert open(path).read() == before


@pytest.mark.parametrize("case, token", [("nan", "NaN"), ("infinity", "-Infinity"), ("overflow", "1e400"),
                                         ("duplicate key", '  "name":')])
def test_strict_json_errors_give_line_and_column(cli, snap, case, token):
    """NaN, Infinity, an out-of-range number and a duplicate key: the position of the token (for a duplicate
    key, its second occurrence: the tampering put '"name": "x"' before "kind", so the original "name" is it)."""
    spec, path = snap()
    _tamper(path, BAD[case][0])
    lines = open(path).read().splitlines()
    found = [i for i, ln in enumerate(lines, 1) if ln.startswith(token) or (token in ln and case != "duplicate key")]
    line = found[-1] if case == "duplicate key" else found[0]
    assert len(found) == (2 if case == "duplicate key" else 1)
    col = lines[line - 1].index(token.strip()) + 1
    code, _, err = cli("check", spec)
    assert code == 2 and err.startswith(f"{path}:{line}:{col}: error: invalid baseline: "), err
    assert BAD[case][1] in err


def test_strict_json_positions_inside_strings_and_nested_objects():
    """The position search skips look-alikes inside strings, decodes escaped keys, and names the duplicate json
    itself reports: that of the first object to close with one."""
    from shapecli.baseline.document import loads
    from shapecli.errors import BaselineError

    for text, where, what in [
        ('{"s": "NaN", "x": NaN}', "f:1:19:", "NaN is not valid JSON"),
        ('{"a": {"b": 1, "b": 2}, "a": 3}', "f:1:16:", "duplicate key 'b'"),
        ('{"x": "{\\"a\\": 1, \\"a\\": 2}", "k": {"a": 1,\n "\\u0061": 2}}', "f:2:2:", "duplicate key 'a'"),
        ('[{"a": 1}, {"a": 2, "a": 3}]', "f:1:21:", "duplicate key 'a'"),
        ('{"n": 1.5, "m":\n\n   1e999}', "f:3:4:", "1e999 is out of range"),
    ]:
        with pytest.raises(BaselineError) as e:
            loads(text, "f")
        assert str(e.value).startswith(where) and what in str(e.value), (text, str(e.value))


def test_json_syntax_errors_give_line_and_column(cli, snap):
    spec, path = snap()
    _tamper(path, lambda t: t.replace('"kind": "shapecli-baseline",', '"kind": "shapecli-baseline"'))
    code, _, err = cli("check", spec)
    assert code == 2
    line = next(i for i, ln in enumerate(open(path).read().splitlines(), 1) if '"layers"' in ln)
    assert err.startswith(f"{path}:{line}:3: error: invalid JSON: Expecting ',' delimiter")


def test_oversized_baseline_is_refused(cli, snap, monkeypatch):
    spec, path = snap()
    monkeypatch.setattr("shapecli.baseline.document.MAX_BYTES", 100)
    code, _, err = cli("check", spec)
    assert code == 2 and path in err and "at most 100" in err


# ---------------------------------------------------------------------------- --update, missing baselines

def test_update_rewrites_only_changed_baselines_atomically(cli, tmp_path, monkeypatch):
    a = write(tmp_path / "a.yaml", MLP)
    b = write(tmp_path / "b.yaml", CONV)
    assert cli("snapshot", a, b)[0] == 0
    pa, pb = bl.default_path(a), bl.default_path(b)
    for p in (pa, pb):
        os.utime(p, ns=(1_000_000_000, 1_000_000_000))
    mutate(a, "Linear: 256", "Linear: 300")
    replaced = []
    real_replace = os.replace

    def spy(src, dst):
        # a complete temp file in the same directory, renamed over the baseline
        assert os.path.dirname(os.path.abspath(src)) == os.path.dirname(os.path.abspath(dst))
        assert json.loads(open(src).read())["params"][0]["shape"] == [300, 20]
        replaced.append((os.path.basename(src), dst))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    code, out, err = cli("check", "--update", str(tmp_path))
    assert code == 0, err
    assert [d for _, d in replaced] == [pa] and replaced[0][0].startswith(".a.shapes.json.")
    assert f"{pa}: updated (3 changes)" in err and pb not in err
    assert os.stat(pb).st_mtime_ns == 1_000_000_000  # untouched
    assert os.stat(pa).st_mtime_ns != 1_000_000_000
    assert sorted(os.listdir(tmp_path)) == ["a.shapes.json", "a.yaml", "b.shapes.json", "b.yaml"]  # no temp left
    assert oct(os.stat(pa).st_mode & 0o777) == oct(os.stat(pb).st_mode & 0o777)  # not mkstemp's 0600
    assert cli("check", str(tmp_path))[0] == 0


def test_update_leaves_the_old_baseline_when_the_spec_fails(cli, snap):
    spec, path = snap()
    before = open(path).read()
    mutate(spec, "Linear: 256", "Linear: -1")
    code, _, err = cli("check", "--update", spec)
    assert code == 2 and spec in err
    assert open(path).read() == before


def test_missing_baseline(cli, tmp_path):
    spec = write(tmp_path / "m.yaml", MLP)
    code, out, err = cli("check", spec)
    assert code == 2 and f"{spec}: error: no baseline at {bl.default_path(spec)}" in err and "snapshot" in err
    assert not os.path.exists(bl.default_path(spec))
    assert cli("check", spec, "--skip-missing")[0] == 0
    assert not os.path.exists(bl.default_path(spec))
    code, _, err = cli("check", spec, "--update")
    assert code == 0 and "created" in err
    assert cli("check", spec)[0] == 0


def test_invalid_wins_over_changed(cli, tmp_path):
    a = write(tmp_path / "a.yaml", MLP)
    b = write(tmp_path / "b.yaml", CONV)
    assert cli("snapshot", a)[0] == 0
    mutate(a, "Linear: 256", "Linear: 300")
    code, out, err = cli("check", a, b, "-f", "json")
    assert code == 2
    doc = json.loads(out)
    assert [s["status"] for s in doc["specs"]] == ["changed", "error"]  # both still reported
    assert cli("check", a)[0] == 1


# ---------------------------------------------------------------------------- directories and globs

def test_directories_and_globs(cli, tmp_path):
    write(tmp_path / "cfg" / "a.yaml", MLP)
    write(tmp_path / "cfg" / "b.yml", CONV)
    write(tmp_path / "cfg" / "notes.txt", "not a spec")
    write(tmp_path / "cfg" / "deep" / "c.yaml", MLP.replace("256", "32"))
    cfg = str(tmp_path / "cfg")
    code, _, err = cli("snapshot", cfg, str(tmp_path / "cfg" / "deep" / "c.yaml"))
    assert code == 0, err
    code, out, _ = cli("check", cfg, "-f", "json")
    assert code == 0
    assert [os.path.relpath(s["spec"], cfg) for s in json.loads(out)["specs"]] == ["a.yaml", "b.yml"]  # not the baselines
    code, out, _ = cli("check", str(tmp_path / "cfg" / "**" / "*.yaml"), "-f", "json")
    assert code == 0
    assert sorted(os.path.relpath(s["spec"], cfg) for s in json.loads(out)["specs"]) == ["a.yaml", os.path.join("deep", "c.yaml")]
    code, _, err = cli("check", str(tmp_path / "nothing-*.yaml"), cfg)
    assert code == 2 and "matches no" in err
    code, _, err = cli("check", str(tmp_path / "missing.yaml"))
    assert code == 2 and "no such file" in err
    code, _, err = cli("check", str(tmp_path / "cfg" / "deep" / "c.yaml"), "--baseline", str(tmp_path / "x.json"),
                       str(tmp_path / "cfg" / "a.yaml"))
    assert code == 2 and "names one file" in err


def test_bad_options_exit_2(cli, snap):
    spec, path = snap()
    code, _, err = cli("check", path)
    assert code == 2 and "this is a baseline; name its spec" in err
    assert cli("check", spec, "--format", "xml")[0] == 2
    assert cli("check", spec, "--tolerance", "-1")[0] == 2
    assert cli("check", spec, "--device", "gpu")[0] == 2
    assert cli("check")[0] == 2


# ---------------------------------------------------------------------------- init statistics

def test_stats_are_recorded_only_on_request_and_compared_with_tolerance(cli, snap):
    spec, path = snap(MLP, "s.yaml", "--stats")
    doc = json.loads(open(path).read())
    st = doc["stats"]
    assert st["seed"] == 0 and st["device"] == "cpu" and set(st["params"]) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert set(st["params"]["0.weight"]) == {"mean", "std", "min", "max", "source"}
    assert cli("check", spec, "--stats")[0] == 0
    std = st["params"]["0.weight"]["std"]
    _tamper(path, lambda t: t.replace(json.dumps(std), json.dumps(std * 1.01), 1))
    assert cli("check", spec)[0] == 0  # statistics are ignored without --stats
    code, out, _ = cli("check", spec, "--stats", "-f", "github")
    assert code == 1 and "layer 0 (Linear): init statistics: weight std" in out
    assert cli("check", spec, "--stats", "--tolerance", "0.05")[0] == 0


def test_check_stats_without_stats_in_baseline_is_a_note(cli, snap):
    spec, _ = snap()
    code, out, _ = cli("check", spec, "--stats")
    assert code == 0 and "no init statistics" in out


# ---------------------------------------------------------------------------- the library

def test_compare_is_symmetric_about_paths_and_ignores_lines():
    doc = {"inputs": [[{"dtype": "float32", "shape": [2, 3]}]], "outputs": [None], "buffers": [],
           "totals": {"params": 0, "trainable": 0, "buffers": 0, "param_bytes": 0, "buffer_bytes": 0, "bytes": {}},
           "layers": [{"path": "0", "type": "ReLU", "line": 3, "output_shapes": [None], "params": 0, "trainable": 0}],
           "params": []}
    moved = json.loads(json.dumps(doc))
    moved["layers"][0]["line"] = 9
    assert bl.compare(doc, moved) == []


def test_default_paths():
    assert bl.default_path("configs/resnet50.yaml") == os.path.join("configs", "resnet50.shapes.json")
    assert bl.default_path("a.b.yml") == "a.b.shapes.json"
    assert bl.default_path("net") == "net.shapes.json"


def test_zoo_matches_committed_baselines(cli):
    code, out, err = cli("check", str(CONFIGS), "--format", "markdown")
    assert code == 0, out + err
    specs = sorted(CONFIGS.glob("*.yaml"))
    assert all(s.with_suffix(".shapes.json").exists() for s in specs)


# ---------------------------------------------------------------------------- issue 17: what snapshot may replace

BN_STACK = """\
name: bns
input: [2, 8]
layers:
  - Sequential:
      - BatchNorm1d
    repeat: 60
"""


def test_snapshot_force_recognises_a_big_baseline_by_parsing_it(cli, snap):
    spec, path = snap(BN_STACK, "bns.yaml")
    assert open(path).read().index('"kind"') > 4096  # the buffers come first in a key-sorted file
    mutate(spec, "repeat: 60", "repeat: 61")
    code, _, err = cli("snapshot", spec, "--force")
    assert code == 0 and "replaced" in err, err


def test_snapshot_force_never_replaces_other_json(cli, snap, tmp_path):
    spec, path = snap()
    other = {"buffers": "x" * 5000, "kind": "something-else"}
    with open(path, "w") as f:
        json.dump(other, f)
    code, _, err = cli("snapshot", spec, "--force")
    assert code == 2 and "is not a shapecli baseline" in err
    assert json.load(open(path)) == other


def test_snapshot_out_file_needs_its_directory(cli, tmp_path):
    a = write(tmp_path / "a.yaml", MLP)
    target = tmp_path / "no" / "such" / "dir" / "base.json"
    code, _, err = cli("snapshot", a, "--out", str(target))
    assert code == 2 and "no such directory" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "no").exists()


def test_a_baseline_of_another_spec_is_said_first_in_every_format(cli, tmp_path):
    a = write(tmp_path / "a.yaml", MLP)
    b = write(tmp_path / "b.yaml", CONV)
    assert cli("snapshot", b, "--out", str(tmp_path / "b.json"))[0] == 0
    want = ("the baseline was recorded for another model or input: name 'conv' (this spec: 'mlp'), "
            "spec 'b.yaml' (this spec: 'a.yaml'), input [2, 1, 12, 12] (this spec: [2, 20])")
    code, out, err = cli("check", a, "--baseline", str(tmp_path / "b.json"))
    assert code == 1
    lines = out.splitlines()
    assert lines[1].startswith("  warning: " + want) and "Line" in lines[2]  # before the changes
    code, out, _ = cli("check", a, "--baseline", str(tmp_path / "b.json"), "-f", "markdown")
    assert out.index("recorded for another model or input: name 'conv'") < out.index("| Line |")
    code, out, _ = cli("check", a, "--baseline", str(tmp_path / "b.json"), "-f", "github")
    assert out.splitlines()[0].startswith("::warning file=") and "recorded for another model" in out.splitlines()[0]
    code, out, _ = cli("check", a, "--baseline", str(tmp_path / "b.json"), "-f", "json")
    assert json.loads(out)["specs"][0]["notes"][0].startswith(want)
    # its own baseline: no such line
    assert cli("snapshot", a)[0] == 0
    code, out, _ = cli("check", a, "-f", "json")
    assert code == 0 and json.loads(out)["specs"][0]["notes"] == []


def test_snapshot_never_writes_what_check_would_refuse(cli, tmp_path, monkeypatch):
    from shapecli.baseline import workflow

    a = write(tmp_path / "a.yaml", MLP)
    monkeypatch.setattr(workflow, "MAX_BYTES", 1000)
    code, _, err = cli("snapshot", a)
    assert code == 2 and "a baseline may be at most 1,000" in err
    assert not os.path.exists(bl.default_path(a))
