"""Property-based fuzzing of the whole CLI: random and mutated specs, random command lines.

Whatever the input, shapecli must exit 0, 1 or 2 (never 3, never a traceback), report each problem
on one line in the documented format, finish in bounded time, and create or change no file outside
the test's temporary directory. See tests/fuzz_support.py for the exact checks.

Profiles (HYPOTHESIS_PROFILE): `ci` (default: 40 examples a test, the file in well under a minute), `long`
(1000 a test; `HYPOTHESIS_PROFILE=long FUZZ_LOG=fails.jsonl pytest tests/test_fuzz.py` records contract failures
and goes on instead of stopping, then fails at the end of the module), `dev` (5, for editing this file); FUZZ_EXAMPLES=N sets any size. The
campaign script `python tests/fuzz_campaign.py --examples 2000` also summarizes the kinds of error message.
"""
from __future__ import annotations

import os
import random
import string
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, event, given, settings, strategies as st

from fuzz_support import CONFIGS, CORPUS_DIR, check_contract, run_cli, tree_state, written_outputs

# Local settings, not a registered/loaded profile: loading one here would change every other test module's
# hypothesis defaults. HYPOTHESIS_PROFILE=ci|dev|long picks the size; FUZZ_EXAMPLES=N overrides it.
_SIZES = {"ci": 40, "dev": 5, "long": 1000}
FUZZ_LOG = os.environ.get("FUZZ_LOG")  # record contract failures here (JSON lines) and carry on
_S = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES") or _SIZES.get(os.environ.get("HYPOTHESIS_PROFILE", "ci"), 40)),
              deadline=20_000, suppress_health_check=list(HealthCheck), print_blob=True)

# Configs small enough to materialize on the CPU quickly; the rest are shaped on the meta device.
SMALL = {"mlp", "lenet5", "audio_conv1d", "unet", "conv3d"}
CONFIG_FILES = sorted(CONFIGS.glob("*.yaml"))

SMALL_SPECS = [
    "input: [2, 20]\nlayers:\n  - Linear: 8\n  - ReLU\n  - Linear: {out_features: 4}\n",
    "input: [2, 3, 8, 8]\nlayers:\n  - Conv2d: [4, 3]\n  - BatchNorm2d\n  - ReLU\n  - MaxPool2d: 2\n  - Flatten\n  - Linear: 5\n",
    "input: {shape: [2, 6], dtype: int64}\nlayers:\n  - Embedding: {num_embeddings: 50, embedding_dim: 8}\n"
    "  - LSTM: {hidden_size: 8, batch_first: true}\n  - Item: 0\n  - Select: {dim: 1, index: -1}\n  - Linear: 3\n",
    "vars: {c: 4, k: 3}\ninput: [2, 3, 8, 8]\nblocks:\n  unit:\n    params: {c: 8, s: 1}\n    layers:\n"
    "      - Conv2d: {out_channels: $c, kernel_size: 3, stride: $s, padding: 1}\n      - ReLU\n"
    "layers:\n  - unit: {c: $c}\n    name: stem\n  - Residual:\n      body: [Conv2d: {out_channels: '${c}', kernel_size: 1}]\n"
    "  - Concat: {from: stem}\n  - AdaptiveAvgPool2d: 1\n  - Flatten\n  - Linear: 2\n    repeat: 2\n",
    "input: [2, 5, 16]\nlayers:\n  - ClassToken\n  - PositionalEmbedding\n  - SelfAttention: {num_heads: 2}\n"
    "  - LayerNorm\n  - Mean: 1\n  - Linear: 4\n",
]

EXTREME_NUMBERS = ["0", "-1", "-0", "1000000000000", "100000000000000000000", "9" * 40, "9" * 5000, "2147483648", "1e309",
                   "-1e309", ".nan", ".inf", "1.5", "0x10", "010", "1_000", "yes", "no", "on", "~", "true", "''",
                   "'5'", "1e3", "[]", "{}", "[1, [2]]", "$nope", "${2**64}", "${1/0}", "${__import__('os')}",
                   "!!python/object/apply:os.system ['true']", "&a 3", "*a", "１２"]
WEIRD_TEXT = ["\t", "\x00", "\x1b[31m", "\\x1b", "[bold red]x[/]", "\u202e", "\ufeff", "é", "𝟘", "\r", "\r\n",
              "---", "...", "? ", ": ", "- ", "#", "&anchor ", "*alias", "!tag ", "'", '"', "{", "[", "%YAML 1.1",
              "<<: ", "\\", "\u2028", "\ud7ff", "\x85"]
LAYER_NAMES = ["Linear", "Conv1d", "Conv2d", "Conv3d", "ReLU", "Flatten", "LSTM", "GRU", "Item", "Select", "Permute",
               "Transpose", "Reshape", "Mean", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "MaxPool2d",
               "AvgPool1d", "AdaptiveAvgPool2d", "Dropout", "Embedding", "SelfAttention", "ClassToken",
               "PositionalEmbedding", "MultiheadAttention", "TransformerEncoderLayer", "Bilinear", "Identity",
               "Upsample", "PixelShuffle", "ConvTranspose2d", "Residual", "Concat", "Add", "Sequential",
               "Linaer", "linear", "torch.nn.Linear", "os.system", "_target_", "__class__", "CrossEntropyLoss",
               "Module", "eval", "[red]Linear[/]", "LazyLinear", "Softmax", "Unflatten", "Fold", "EmbeddingBag"]


# ---------------------------------------------------------------------------- helpers

def _workdir(tmp_path: Path) -> Path:
    return Path(tempfile.mkdtemp(dir=tmp_path))


@pytest.fixture
def guard(tmp_path, monkeypatch):
    """Run in tmp_path; afterwards no baseline/export appeared or changed in the repository, and the corpus is intact."""
    monkeypatch.chdir(tmp_path)
    before, corpus = written_outputs(), tree_state(CORPUS_DIR)
    yield tmp_path
    assert written_outputs() == before, "shapecli wrote a file outside tmp_path"
    assert tree_state(CORPUS_DIR) == corpus, "a corpus file was created or modified"


def _run(args, stdin=None, limit: float = 60.0):
    try:
        code, out, err, secs = run_cli(args, stdin, timeout=limit)
        try:
            event(f"exit {code}")
        except Exception:  # noqa: BLE001 - outside a hypothesis test (the seeded smoke test)
            pass
        check_contract(args, code, out, err)
    except (AssertionError, Exception) as e:  # noqa: B014 - Hang included
        if not FUZZ_LOG:
            raise
        _record(args, stdin, e)
        _RECORDED.append(args)
        return 3, "", "", 0.0
    return code, out, err, secs


_RECORDED: list = []  # command lines whose contract failure went to FUZZ_LOG instead of failing their test


@pytest.fixture(scope="module", autouse=True)
def _logged_failures_still_fail():
    """FUZZ_LOG lets a long campaign record failures and carry on; the module still fails at its end."""
    yield
    assert not _RECORDED, f"{len(_RECORDED)} contract failure(s) recorded in {FUZZ_LOG}, e.g. {_RECORDED[0]}"


def _record(args, stdin, e: BaseException) -> None:
    """Append one failure to FUZZ_LOG (JSON lines), with the spec text, so it can be replayed."""
    import json

    spec = next((a for a in args if str(a).endswith(".yaml")), None)
    text = None
    if spec and os.path.isfile(spec):
        text = Path(spec).read_bytes().decode("utf-8", "backslashreplace")
    if stdin is not None:
        text = (stdin if isinstance(stdin, bytes) else stdin.encode()).decode("utf-8", "backslashreplace")
    with open(FUZZ_LOG, "a") as f:
        f.write(json.dumps({"args": [str(a) for a in args], "spec": text, "stdin": stdin is not None,
                            "error": f"{type(e).__name__}: {e}"[:4000]}) + "\n")


def _check_dir_only(work: Path, before: set) -> None:
    """Only files shapecli was told to write (in `work`) may appear, never elsewhere."""
    after = {p.name for p in work.iterdir()}
    extra = after - before
    allowed = {n for n in extra if n.endswith((".json", ".html", ".svg", ".shapes.json"))}
    assert extra == allowed, f"unexpected files created: {sorted(extra - allowed)}"


# ---------------------------------------------------------------------------- mutations

@st.composite
def mutated_text(draw, sources):
    text = draw(st.sampled_from(sources))
    lines = text.splitlines(keepends=True) or [""]
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["delete", "duplicate", "swap", "number", "unicode", "layer", "indent",
                                     "weird", "truncate"]))
        i = draw(st.integers(0, max(0, len(lines) - 1)))
        if kind == "delete" and len(lines) > 1:
            del lines[i]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "swap":
            j = draw(st.integers(0, max(0, len(lines) - 1)))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == "number":
            import re

            nums = list(re.finditer(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])", lines[i]))
            if nums:
                m = nums[draw(st.integers(0, len(nums) - 1))]
                lines[i] = lines[i][: m.start()] + draw(st.sampled_from(EXTREME_NUMBERS)) + lines[i][m.end():]
        elif kind == "unicode":
            pos = draw(st.integers(0, len(lines[i])))
            junk = draw(st.text(min_size=1, max_size=4))
            lines[i] = lines[i][:pos] + junk + lines[i][pos:]
        elif kind == "weird":
            pos = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:pos] + draw(st.sampled_from(WEIRD_TEXT)) + lines[i][pos:]
        elif kind == "layer":
            import re

            words = list(re.finditer(r"\b[A-Z][A-Za-z0-9]+\b", lines[i]))
            if words:
                m = words[draw(st.integers(0, len(words) - 1))]
                lines[i] = lines[i][: m.start()] + draw(st.sampled_from(LAYER_NAMES)) + lines[i][m.end():]
        elif kind == "indent":
            d = draw(st.sampled_from([-4, -2, -1, 1, 2, 4]))
            s = lines[i]
            lines[i] = s[min(-d, len(s) - len(s.lstrip(" "))):] if d < 0 else " " * d + s
        elif kind == "truncate":
            lines = lines[: i + 1]
            lines[-1] = lines[-1][: draw(st.integers(0, len(lines[-1])))]
    return "".join(lines)


# ---------------------------------------------------------------------------- generated specs

_idents = st.from_regex(r"\A[a-z][a-z0-9_]{0,6}\Z", fullmatch=True)
_small = st.integers(1, 8)
_value = st.one_of(
    _small, _small, _small,
    st.sampled_from([0, -1, -5, 1000000000000, 2 ** 63, True, False, None, 1.5, -0.5, float("nan"), float("inf"),
                     "yes", "no", "on", "4", "abc", "$v", "${v * 2}", "${v / 3}", "$undefined", "[red]x[/]",
                     "same", "zeros", "reflect", "float64", "int64"]),
    st.lists(_small, min_size=0, max_size=4),
)


def _args_for(layer: str, draw):
    rng = {
        "Linear": lambda: draw(st.one_of(_small, _value, st.fixed_dictionaries({"out_features": _small},
                                                                              optional={"bias": _value}))),
        "Conv1d": lambda: draw(st.one_of(st.lists(_small, min_size=1, max_size=2), _value,
                                         st.fixed_dictionaries({"out_channels": _small, "kernel_size": st.integers(1, 3)},
                                                               optional={"stride": _value, "padding": _value}))),
        "Conv2d": lambda: draw(st.one_of(st.lists(_small, min_size=2, max_size=2), _value,
                                         st.fixed_dictionaries({"out_channels": _small, "kernel_size": st.integers(1, 3)},
                                                               optional={"stride": _value, "padding": _value,
                                                                         "padding_mode": _value, "groups": _value}))),
        "LSTM": lambda: draw(st.fixed_dictionaries({"hidden_size": _small}, optional={"batch_first": _value,
                                                                                      "num_layers": _value})),
        "GRU": lambda: draw(st.one_of(_small, _value)),
        "Embedding": lambda: draw(st.fixed_dictionaries({"num_embeddings": st.integers(1, 30), "embedding_dim": _small})),
        "Select": lambda: draw(st.fixed_dictionaries({"dim": st.integers(-3, 3), "index": st.integers(-2, 2)})),
        "Item": lambda: draw(st.integers(-2, 2)),
        "Permute": lambda: draw(st.permutations(list(range(draw(st.integers(1, 4)))))),
        "Transpose": lambda: draw(st.lists(st.integers(-3, 3), min_size=2, max_size=2)),
        "Reshape": lambda: draw(st.lists(st.sampled_from([-1, 1, 2, 3, 4, 6, 8]), min_size=1, max_size=3)),
        "Mean": lambda: draw(st.one_of(st.integers(-3, 3), st.lists(st.integers(-3, 3), min_size=1, max_size=2))),
        "GroupNorm": lambda: draw(st.one_of(_small, _value)),
        "MaxPool2d": lambda: draw(st.one_of(st.integers(1, 3), _value)),
        "AvgPool1d": lambda: draw(st.one_of(st.integers(1, 3), _value)),
        "AdaptiveAvgPool2d": lambda: draw(st.one_of(st.integers(1, 3), _value)),
        "Dropout": lambda: draw(st.one_of(st.floats(0, 1), _value)),
        "SelfAttention": lambda: draw(st.one_of(st.sampled_from([1, 2]), _value)),
        "MultiheadAttention": lambda: draw(st.one_of(st.sampled_from([1, 2]), _value)),
        "TransformerEncoderLayer": lambda: draw(st.fixed_dictionaries({"nhead": st.sampled_from([1, 2]),
                                                                       "dim_feedforward": _small})),
        "Upsample": lambda: draw(st.fixed_dictionaries({"scale_factor": st.sampled_from([1, 2, 0.5, -1, 0])})),
        "PixelShuffle": lambda: draw(st.sampled_from([1, 2, 0])),
        "Unflatten": lambda: draw(st.fixed_dictionaries({"dim": st.integers(-2, 2),
                                                         "unflattened_size": st.lists(_small, min_size=1, max_size=2)})),
    }
    if layer in rng:
        return rng[layer]()
    return None if draw(st.booleans()) else draw(_value)


@st.composite
def items(draw, depth: int = 0, blocks: tuple = ()):
    n = draw(st.integers(1, 4 if depth else 6))
    out = []
    for _ in range(n):
        kinds = ["layer"] * 6 + (["container"] if depth < 2 else []) + (["block"] if blocks else []) + ["weird"]
        kind = draw(st.sampled_from(kinds))
        if kind == "layer":
            name = draw(st.sampled_from(LAYER_NAMES[:34] + ["Linaer", "torch.nn.Linear", "_target_", "[red]Linear[/]"]))
            args = _args_for(name, draw)
            item = name if args is None and draw(st.booleans()) else {name: args}
        elif kind == "container":
            c = draw(st.sampled_from(["Sequential", "Residual", "Concat", "Add"]))
            if c == "Sequential":
                item = {c: draw(items(depth + 1, blocks))}
            elif c == "Residual":
                body = draw(items(depth + 1, blocks))
                item = {c: body if draw(st.booleans()) else {"body": body, "shortcut": draw(items(depth + 1, blocks))}}
            else:
                spec = {"branches": [draw(items(depth + 1, blocks)) for _ in range(draw(st.integers(1, 3)))]}
                if draw(st.booleans()):
                    spec["from"] = draw(st.sampled_from(["a", "b", "nope", "0"]))
                if c == "Concat" and draw(st.booleans()):
                    spec["dim"] = draw(st.integers(-3, 3))
                item = {c: spec}
        elif kind == "block":
            b = draw(st.sampled_from(blocks))
            item = b if draw(st.booleans()) else {b: draw(st.one_of(st.none(), st.fixed_dictionaries({}, optional={"c": _value, "x": _value})))}
        else:
            item = draw(st.sampled_from([None, 3, [], {}, {"name": "x"}, {"Linear": 2, "ReLU": None},
                                         {"Linear": 2, "out_features": 3}, "[bold]x", {"repeat": 2}]))
        if isinstance(item, dict) and item and draw(st.integers(0, 3)) == 0:
            item = dict(item)
            extra = draw(st.fixed_dictionaries({}, optional={
                "name": st.one_of(st.sampled_from(["a", "b"]), _idents, st.just("bad name")),
                "repeat": st.one_of(st.integers(1, 3), st.sampled_from([0, -1, 10 ** 7, "2", True])),
                "freeze": st.one_of(st.booleans(), st.just("yes")),
                "tie": st.sampled_from(["a", "b", "nope"]),
                "init": st.one_of(st.sampled_from(["zeros", "ones", "nope", 3]),
                                  st.fixed_dictionaries({}, optional={"weight": st.sampled_from(
                                      ["zeros", "kaiming_normal", "xavier_uniform", "bogus", {"normal": {"std": 0.1}},
                                       {"normal": {"std": -1}}]), "bias": st.sampled_from(["zeros", 1.5])})),
            }))
            item.update(extra)
        out.append(item)
    return out


@st.composite
def generated_spec(draw):
    import yaml

    doc: dict = {}
    if draw(st.booleans()):
        doc["vars"] = {"v": draw(_value), "c": draw(_small)}
        if draw(st.integers(0, 4)) == 0:  # a chain of variables, up to far deeper than Python's recursion limit
            n = draw(st.sampled_from([2, 10, 49, 50, 51, 300, 2000]))
            doc["vars"].update({f"a{i}": f"${{a{i + 1} + 1}}" if i % 2 else f"$a{i + 1}" for i in range(n)})
            doc["vars"][f"a{n}"] = draw(_small)
            doc["vars"]["v"] = "$a0"
    blocks = ()
    if draw(st.integers(0, 3)) == 0:
        blocks = ("unit",)
        doc["blocks"] = {"unit": {"params": {"c": draw(_small)}, "layers": draw(items(1, ()))}}
    rank = draw(st.integers(1, 5))
    shape = [draw(st.integers(1, 6)) for _ in range(rank)]
    if draw(st.integers(0, 5)) == 0:
        doc["input"] = {"shape": shape, "dtype": draw(st.sampled_from(["int64", "float64", "bool", "nope"]))}
    elif draw(st.integers(0, 8)) == 0:
        doc["input"] = draw(_value)
    else:
        doc["input"] = shape
    doc["layers"] = draw(items(0, blocks))
    if draw(st.integers(0, 6)) == 0:
        doc[draw(st.sampled_from(["name", "nmae", "layer", "Linear", "init"]))] = draw(_value)
    try:
        return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=None)
    except yaml.YAMLError:
        assume(False)


# ---------------------------------------------------------------------------- shape-aware specs

def _layer_for(draw, rank: int, feat: int):
    """(item, new rank, new features): a layer that fits [B, ..., feat] of `rank` dims, most of the time."""
    k = draw(st.integers(1, 3))
    h = draw(st.integers(1, 8))
    choices = {
        2: ["Linear", "ReLU", "Dropout", "LayerNorm", "BatchNorm1d", "Identity", "Unflatten", "Residual", "Add", "Tanh"],
        3: ["Linear", "LSTM", "GRU", "SelfAttention", "LayerNorm", "Conv1d", "Transpose", "Mean", "Flatten",
            "ClassToken", "PositionalEmbedding", "Residual", "Select", "MaxPool1d", "GELU"],
        4: ["Conv2d", "BatchNorm2d", "MaxPool2d", "AdaptiveAvgPool2d", "Flatten", "Residual", "Concat", "ReLU",
            "ConvTranspose2d", "GroupNorm", "Upsample", "Dropout2d", "PixelShuffle"],
        5: ["Conv3d", "BatchNorm3d", "AdaptiveAvgPool3d", "Flatten", "ReLU"],
    }.get(rank, ["Flatten", "ReLU"])
    name = draw(st.sampled_from(choices))
    if name in ("ReLU", "Dropout", "Identity", "Tanh", "GELU", "Dropout2d", "LayerNorm", "BatchNorm1d", "BatchNorm2d",
                "BatchNorm3d"):
        return name, rank, feat
    if name == "Linear":
        return {"Linear": h}, rank, h
    if name == "Unflatten":
        return {"Unflatten": {"dim": 1, "unflattened_size": [1, feat]}}, 3, feat
    if name in ("LSTM", "GRU"):
        return [{name: {"hidden_size": h, "batch_first": True}}, {"Item": 0}], 3, h
    if name == "SelfAttention":
        return {"SelfAttention": {"num_heads": 1}}, 3, feat
    if name in ("Conv1d", "Conv2d", "Conv3d", "ConvTranspose2d"):
        return {name: {"out_channels": h, "kernel_size": k, "padding": k // 2}}, rank, feat
    if name == "Transpose":
        return {"Transpose": [1, 2]}, 3, feat
    if name == "Mean":
        return {"Mean": 1}, rank - 1, feat
    if name == "Flatten":
        return "Flatten", 2, feat
    if name in ("ClassToken", "PositionalEmbedding"):
        return name, 3, feat
    if name == "Select":
        return {"Select": {"dim": 1, "index": -1}}, 2, feat
    if name in ("MaxPool1d", "MaxPool2d"):
        return {name: 1}, rank, feat
    if name in ("AdaptiveAvgPool2d", "AdaptiveAvgPool3d"):
        return {name: 1}, rank, feat
    if name == "GroupNorm":
        return {"GroupNorm": 1}, rank, feat
    if name == "Upsample":
        return {"Upsample": {"scale_factor": 2}}, rank, feat
    if name == "PixelShuffle":
        return {"PixelShuffle": 1}, rank, feat
    if name == "Residual":
        return {"Residual": ["ReLU", "Identity"] if rank != 2 else [{"Linear": feat}, "ReLU"]}, rank, feat
    if name == "Add":
        return {"Add": {"branches": [[{"Linear": h}], [{"Linear": h}]]}}, rank, h
    if name == "Concat":
        return {"Concat": {"branches": [[{"Conv2d": {"out_channels": h, "kernel_size": 1}}], ["Identity"]]}}, rank, feat
    return name, rank, feat


@st.composite
def shape_aware_spec(draw):
    """Mostly valid specs that reach materialization, with an occasional corruption."""
    import yaml

    rank = draw(st.integers(2, 5))
    shape = [draw(st.integers(1, 3))] + [draw(st.integers(2, 6)) for _ in range(rank - 1)]
    feat = shape[-1]
    layers = []
    for _ in range(draw(st.integers(1, 7))):
        item, rank, feat = _layer_for(draw, rank, feat)
        layers.extend(item if isinstance(item, list) else [item])
        if rank < 2:
            break
    for i, it in enumerate(layers):
        if isinstance(it, dict) and draw(st.integers(0, 5)) == 0:
            layers[i] = dict(it, name=f"n{i}")
        if isinstance(it, dict) and draw(st.integers(0, 8)) == 0:
            layers[i] = dict(it, repeat=draw(st.integers(1, 3)))
    corrupt = draw(st.integers(0, 3))
    if corrupt == 0 and layers:  # one corruption: a bad value, key, or layer
        i = draw(st.integers(0, len(layers) - 1))
        it = layers[i]
        how = draw(st.sampled_from(["value", "key", "layer", "from", "tie", "freeze", "init"]))
        if how == "value" and isinstance(it, dict):
            k = next(iter(it))
            layers[i] = dict(it, **{k: draw(_value)})
        elif how == "key" and isinstance(it, dict):
            layers[i] = dict(it, **{draw(st.sampled_from(["nmae", "repeat", "freeze", "bias", "from"])): draw(_value)})
        elif how == "layer":
            layers[i] = {draw(st.sampled_from(LAYER_NAMES)): draw(_value)}
        elif how == "from":
            layers.append({draw(st.sampled_from(["Add", "Concat"])): {"from": draw(st.sampled_from(["n0", "n1", "n2", "zz"]))}})
        elif how == "tie" and isinstance(it, dict):
            layers[i] = dict(it, tie=draw(st.sampled_from(["n0", "n1", "zz"])))
        elif how == "freeze" and isinstance(it, dict):
            layers[i] = dict(it, freeze=draw(st.sampled_from([True, False, "yes"])))
        elif how == "init" and isinstance(it, dict):
            layers[i] = dict(it, init=draw(st.sampled_from([{"weight": "zeros"}, {"weight": "orthogonal"},
                                                            {"weight": {"normal": {"std": 0.0}}}, {"bias": "ones"},
                                                            {"weight": "kaiming_uniform"}, "zeros", {"weight": 3}])))
    doc = {"input": shape if draw(st.integers(0, 6)) else {"shape": shape, "dtype": "float64"}, "layers": layers}
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=None)


@_S
@given(text=shape_aware_spec(), device=st.sampled_from(["meta", "cpu", "auto"]), fmt=st.sampled_from(["--json", "-f", "x"]),
       data=st.data())
def test_shape_aware_specs(guard, text, device, fmt, data):
    work = _workdir(guard)
    spec = work / "sa.yaml"
    spec.write_text(text)
    args = ["inspect", str(spec), "--device", device]
    if fmt == "-f":
        args += ["-f", data.draw(st.sampled_from(["markdown", "table", "json"]))]
    elif fmt == "--json":
        args.append("--json")
    if data.draw(st.integers(0, 4)) == 0:
        args += data.draw(options())
    _run(args)


# ---------------------------------------------------------------------------- every layer, odd arguments

def _registry_layers() -> list:
    from shapecli import layers as registry

    return sorted(registry.REGISTRY)


_SAFE_INTS = [-1, 0, 1, 2, 3, 4]
_WILD_INTS = [-(2 ** 31), -2, 7, 64, 2 ** 31, 10 ** 12, 2 ** 40]
_SAFE_FLOATS = [0.0, -0.0, 0.5, 1.0, -1.0, 1.5, 1e-30]
_WILD_FLOATS = [1e30, -1e30, 1e300, 3.4e38, 5e-324]


def _arg_value(draw, p, wild: bool):
    """A value for constructor parameter `p`: of one of its types most of the time, extreme when `wild`."""
    ints = _SAFE_INTS + (_WILD_INTS if wild else [])
    floats = _SAFE_FLOATS + (_WILD_FLOATS if wild else [])
    kinds = sorted(p.types) or ["int", "str"]
    if draw(st.integers(0, 9)) == 0:  # a value of the wrong type
        kinds = ["int", "float", "bool", "str", "ints", "none"]
    kind = draw(st.sampled_from(kinds))
    if kind == "int":
        return draw(st.sampled_from(ints))
    if kind == "float":
        return draw(st.sampled_from(floats))
    if kind == "bool":
        return draw(st.booleans())
    if kind == "str":
        return draw(st.sampled_from(list(p.choices) + ["", "x", "zeros", "reflect", "same", "valid", "mean", "tanh"]))
    if kind in ("ints", "floats"):
        return draw(st.lists(st.sampled_from(ints if kind == "ints" else floats), max_size=4))
    if kind == "dtype":
        return draw(st.sampled_from(["float32", "float64", "float16", "bfloat16", "int64", "bool", "complex64"]))
    return None


@st.composite
def one_layer_spec(draw):
    import yaml

    from shapecli import layers as registry

    name = draw(st.sampled_from(_registry_layers()))
    wild = draw(st.booleans())
    kwargs = {}
    for p in registry.signature(name).params:
        if p.inferred and draw(st.integers(0, 4)):
            continue
        if p.required or draw(st.integers(0, 2)) == 0:
            kwargs[p.name] = _arg_value(draw, p, wild)
    rank = draw(st.integers(1, 5))
    shape = [draw(st.integers(1, 5)) for _ in range(rank)]
    dtype = draw(st.sampled_from(["float32"] * 4 + ["int64", "float64", "bool"]))
    n_in = 2 if registry.get(name).multi_input and draw(st.booleans()) else 1
    inp = {"shape": shape, "dtype": dtype} if n_in == 1 else [shape, shape]
    layers = [{name: kwargs}]
    if draw(st.booleans()):
        layers.append(draw(st.sampled_from(["ReLU", {"Linear": 3}, {"Item": 0}, "Flatten", {"Conv2d": [2, 1]}])))
    return yaml.safe_dump({"input": inp, "layers": layers}, sort_keys=False, default_flow_style=None), wild


@_S
@given(case=one_layer_spec(), data=st.data())
def test_every_layer_with_odd_arguments(guard, case, data):
    """Each registry layer with in-type, extreme and wrong-type arguments, on inputs of every rank."""
    text, wild = case
    work = _workdir(guard)
    spec = work / "layer.yaml"
    spec.write_text(text)
    # extreme sizes only on the meta device: a real 10 GB tensor must not be allocated by a test
    device = "meta" if wild else data.draw(st.sampled_from(["meta", "cpu", "auto"]))
    _run(["inspect", str(spec), "--device", device, "--max-memory", "64MiB", "--json"])


# ---------------------------------------------------------------------------- command lines

_input_text = st.one_of(
    st.lists(st.integers(1, 6), min_size=1, max_size=5).map(lambda xs: ",".join(map(str, xs))),
    st.sampled_from(["2,,20", "-1,20", "0,20", "abc", "1e9,1e9", "２,２０", "1_000", "", " ", "2,20:int64",
                     "2,20:nope", "2,10;2,20", "B,3,H=8,W=8", "H=32..1024", "H=9..3", "2x20", "2,x", ";",
                     "100000,100000,100000", "2," + "9" * 40, "[red]2[/]", "\x1b[31m2", "2,20,", "B=0",
                     "max_len=4,2"]),
    st.text(alphabet=string.printable + "é２", max_size=12),
)


@st.composite
def options(draw):
    opts = []
    for _ in range(draw(st.integers(0, 4))):
        o = draw(st.sampled_from(["--input", "--set", "--seed", "--device", "--depth", "--format", "--json",
                                  "--max-memory", "--strict", "--activations", "--trace-init", "--no-params",
                                  "--params", "--bogus", "--debug-not", "-i", "-s"]))
        if o in ("--input", "-i"):
            opts += [o, draw(_input_text)]
        elif o in ("--set", "-s"):
            opts += [o, draw(st.sampled_from(["v=3", "c=2", "v=yes", "c=-1", "nope=1", "v", "=3", "v=${c*2}",
                                             "v=" + "9" * 40, "c=1e999", "v=[red]x"]))]
        elif o == "--seed":
            opts += [o, draw(st.sampled_from(["0", "-1", "7", "99999999999999999999", "x", str(2 ** 64 - 1)]))]
        elif o == "--device":
            opts += [o, draw(st.sampled_from(["meta", "meta", "cpu", "auto", "gpu", ""]))]
        elif o == "--depth":
            opts += [o, draw(st.sampled_from(["1", "2", "0", "-1", "x"]))]
        elif o == "--format":
            opts += [o, draw(st.sampled_from(["json", "markdown", "table", "xml", "[red]x"]))]
        elif o == "--max-memory":
            opts += [o, draw(st.sampled_from(["0", "1KiB", "16MiB", "lots", "nan", "-1", "1e400", "inf"]))]
        else:
            opts.append(o)
    return opts


# ---------------------------------------------------------------------------- the properties

@_S
@given(text=mutated_text([p.read_text() for p in CONFIG_FILES] + SMALL_SPECS), data=st.data())
def test_mutated_configs_and_specs(guard, text, data):
    work = _workdir(guard)
    spec = work / "spec.yaml"
    spec.write_text(text, encoding="utf-8", errors="surrogatepass")
    args = ["inspect", str(spec), *data.draw(options())]
    if "--device" not in args and not any(name in text for name in ("name: mlp", "name: lenet5")):
        args += ["--device", "meta"]
    before = {p.name for p in work.iterdir()}
    _run(args)
    _check_dir_only(work, before)


@_S
@given(text=generated_spec(), opts=options())
def test_generated_specs(guard, text, opts):
    work = _workdir(guard)
    spec = work / "gen.yaml"
    spec.write_text(text)
    before = {p.name for p in work.iterdir()}
    _run(["inspect", str(spec), *opts])
    _check_dir_only(work, before)


@_S
@given(data=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
                      st.lists(st.sampled_from([w.encode("utf-8", "surrogatepass") for w in WEIRD_TEXT + ["layers:", "\n", "  ", "- Linear: 3", "input: [2, 3]"]]),
                               max_size=30).map(b"".join)))
def test_random_bytes_as_a_spec(guard, data):
    work = _workdir(guard)
    spec = work / "raw.yaml"
    spec.write_bytes(data)
    _run(["inspect", str(spec), "--device", "meta"])
    _run(["inspect", "-", "--device", "meta", "--json"], stdin=data)


@_S
@given(opts=options(), which=st.sampled_from(SMALL_SPECS))
def test_random_command_lines(guard, opts, which):
    work = _workdir(guard)
    spec = work / "s.yaml"
    spec.write_text("vars: {v: 4, c: 3}\n" + which if "vars:" not in which else which)
    _run(["inspect", str(spec), *opts])


@_S
@given(cmd=st.sampled_from(["layers", "schema", "check", "snapshot"]),
       name=st.one_of(st.sampled_from(LAYER_NAMES), st.text(max_size=20)), data=st.data())
def test_other_commands(guard, cmd, name, data):
    work = _workdir(guard)
    spec = work / "s.yaml"
    spec.write_text(data.draw(st.sampled_from(SMALL_SPECS)))
    if cmd == "layers":
        args = ["layers", name] + (["--json"] if data.draw(st.booleans()) else [])
    elif cmd == "schema":
        args = ["schema"]
    elif cmd == "snapshot":
        out = data.draw(st.sampled_from([str(work / "b.shapes.json"), str(work) + "/", "-", str(work / "nodir" / "x.json")]))
        args = ["snapshot", str(spec), "--out", out, *data.draw(st.lists(st.sampled_from(
            ["--force", "--stats", "--device", "meta", "--input", "2,20", "--seed", "3"]), max_size=3))]
    else:
        run_cli(["snapshot", str(spec), "--device", "meta"])  # a baseline to compare with (may fail: fine)
        bl = work / "s.shapes.json"
        if bl.exists() and data.draw(st.booleans()):
            b = bl.read_bytes()
            i = data.draw(st.integers(0, max(0, len(b) - 1)))
            bl.write_bytes(b[:i] + data.draw(st.sampled_from([b"", b"\x00", b"{", b"9" * 30, b"\"x\"", b"]"])) + b[i + 1:])
        args = ["check", str(spec), "--device", "meta", *data.draw(st.lists(st.sampled_from(
            ["--format", "json", "github", "markdown", "--stats", "--skip-missing", "--tolerance", "nan"]), max_size=3))]
    before = {p.name for p in work.iterdir()}
    _run(args)
    if cmd != "snapshot":
        _check_dir_only(work, before)


def test_random_seeded_smoke(guard):
    """A deterministic mini-campaign (no hypothesis): the same 20 mutated specs every run."""
    rng = random.Random(1234)
    sources = [p.read_text() for p in CONFIG_FILES if p.stem in SMALL] + SMALL_SPECS
    work = _workdir(guard)
    for i in range(20):
        lines = rng.choice(sources).splitlines(keepends=True)
        j = rng.randrange(len(lines))
        lines[j] = rng.choice(WEIRD_TEXT + EXTREME_NUMBERS) + lines[j]
        spec = work / f"m{i}.yaml"
        spec.write_text("".join(lines), encoding="utf-8", errors="surrogatepass")
        _run(["inspect", str(spec), "--device", rng.choice(["meta", "auto"])])
