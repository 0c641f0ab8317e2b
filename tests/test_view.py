"""shapecli/view: the rows every format draws (folding, columns, fitting a width without cutting)."""
import functools
import re

import pytest
from conftest import CONFIGS, ROOT

import shapecli
from shapecli.render import render
from shapecli.view import COLUMNS, build
from shapecli.view.layout import fit

ZOO = sorted(p.stem for p in CONFIGS.glob("*.yaml"))


@functools.lru_cache(maxsize=None)
def _report(name):
    return shapecli.inspect(str(CONFIGS / f"{name}.yaml"))


def test_gpt3_repeated_blocks_fold_with_summed_counts():
    r = _report("gpt3_175b")
    rows = build(r).table.rows
    folded = [row for row in rows if "× 96" in row.cells["layer"]]
    assert len(folded) == 1 and folded[0].cells["layer"].strip() == "0-95 (block) × 96"
    block_params = next(lay.params for lay in r.layers if lay.path == "h.0")
    assert folded[0].cells["params"] == f"{96 * block_params:,}"
    assert len(rows) < 60 < len(build(r, expand=True).table.rows)
    assert len(r.layers) == 1061  # the Report (JSON, baselines) keeps every layer


def test_only_identical_blocks_fold():
    r = _report("resnet18")
    folded = [row.full for row in build(r).table.rows if row.cells["layer"].endswith("× 2")]
    assert folded == ["layer1.0-1"]  # layer2-4 start with a downsampling block: unlike their second


def test_param_rows_join_their_layer():
    rows = build(_report("mlp")).table.rows
    assert [row.cells["layer"] for row in rows[:3]] == ["0 (Linear)", "  weight", "  bias"]
    assert rows[1].full == "0.weight" and rows[1].cells["output"] == "[256, 20]" and rows[1].cells["params"] == "5,120"


def test_columns_by_name_and_torchinfo_columns():
    r = _report("lenet5")
    t = build(r, columns=["input", "kernel", "stride", "params", "share"], params=False).table
    assert [c.key for c in t.columns] == ["layer", "input", "kernel", "stride", "params", "share"]
    conv = t.rows[0].cells
    assert (conv["input"], conv["kernel"], conv["stride"], conv["share"]) == ("[2, 1, 28, 28]", "5×5", "1×1", "0.3%")
    pool = t.rows[2].cells
    assert (pool["kernel"], pool["stride"]) == ("2", "2")


def test_frozen_layers_get_a_trainable_column():
    t = build(_report("lstm_classifier")).table
    cells = {row.full: row.cells for row in t.rows}
    assert cells["embed"]["trainable"] == "no" and cells["lstm"]["trainable"] == "yes"


def test_every_column_is_documented():
    doc = (ROOT / "docs" / "output.md").read_text()
    for name in COLUMNS:
        assert f"`{name}`" in doc, name


SHAPE = re.compile(r"\[[^\]]*\]")


@pytest.mark.parametrize("config", ZOO)
def test_every_width_keeps_shapes_and_counts_whole(config):
    r = _report(config)
    wide = render(r, "text")
    whole = set(SHAPE.findall(wide)) | set(re.findall(r"\d[\d,]*\d", wide))
    for width in (60, 80, 120, 200):
        text = render(r, "text", width)
        assert "…" not in text
        assert max(len(line) for line in text.splitlines()) <= width, width
        for s in SHAPE.findall(text):
            assert s in whole, (width, s)  # a shape printed is a shape of the report, not a piece of one


def test_short_width_says_what_moved_and_what_was_left_out():
    text = render(_report("mlp"), "text", 80).replace("\n  ", " ")
    assert "moved below: mean, std, min, max, hist; left out: init: expected" in text
    assert "--wide" in text and "--columns" in text
    assert any(line.startswith("0.weight") and "-0.0025" in line for line in text.splitlines())


def test_required_columns_stay_in_the_main_block():
    v = build(_report("vit_b16"))
    blocks = fit(v.table.columns, v.table.rows, 60).blocks
    assert {c.key for c in blocks[0].columns} >= {"layer", "output", "params"}


def test_depth_folds_the_activations_table_too():
    """`--depth 1` shows the top-level items only; a container at the cut stands for its output."""
    report = shapecli.inspect(str(CONFIGS / "resnet18.yaml"), activations=True)
    section = {s.name: s for s in build(report, depth=1).sections}["activations"]
    keys = [row.cells["layer"] for row in section.table.rows]
    assert keys == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4",
                    "avgpool", "flatten", "fc"]
    by_path = {lay.path: lay for lay in report.layers}
    layer4 = next(r for r in section.table.rows if r.cells["layer"] == "layer4")
    assert layer4.cells["std"] == f"{by_path['layer4'].activation['std']:.4f}"
    full = {s.name: s for s in build(report).sections}["activations"]
    assert "layer1" not in [row.cells["layer"] for row in full.table.rows]  # unfolded: leaves only
    assert len(full.table.rows) > 50
