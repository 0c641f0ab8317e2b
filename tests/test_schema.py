"""The spec schema (`shapecli schema`): it flags what the parser flags wherever JSON Schema can say it, accepts
every spec the parser accepts, carries PyTorch's defaults and help, and `schema -o` writes it safely."""
import json
import re

import pytest
import yaml
from conftest import CONFIGS, ROOT

import shapecli
from shapecli.errors import ShapeCliError
from shapecli.model.args import bind_all
from shapecli.schema import MARK, spec_schema, write_schema
from shapecli.spec.yamlload import parse_yaml

jsonschema = pytest.importorskip("jsonschema")

CORPUS = ROOT / "tests" / "corpus" / "specs"

# Bad corpus specs the schema cannot flag, and why: each needs the data, the variables' values or the order of
# items, or JSON Schema cannot tell 4.0 from 4 or see NaN. A spec leaving this list is progress: shorten it.
NEEDS_MORE_THAN_A_SCHEMA = {
    "attention_on_one_input.yaml": "the number of inputs",
    "flow_missing_input_at_the_top.yaml": "the --input given on the command line",
    "flow_missing_input_in_a_residual.yaml": "the --input given on the command line",
    "residual_given_two_inputs.yaml": "the number of inputs",
    "repeat_index_out_of_range.yaml": "an index against a list variable's length",
    "budget_nested_over.yaml": "the product of nested repeats",
    "name_input_reserved.yaml": "a name that a later from: reads as the merge's own input (schema: any identifier)",
    "set_in_repeated_copies.yaml": "a --set value given on the command line",
    "block_recursion.yaml": "blocks referring to each other",
    "block_self_recursion.yaml": "a block referring to itself",
    "concat_mismatch.yaml": "shapes",
    "conv_after_flatten.yaml": "shapes",
    "cyclic_vars.yaml": "variables referring to each other",
    "float_for_int.yaml": "4.0 is an integer to JSON Schema",
    "from_forward.yaml": "the order of named items",
    "from_unknown.yaml": "the names of earlier items",
    "kernel_larger_than_input.yaml": "shapes",
    "lstm_without_item.yaml": "shapes (a tuple output)",
    "nan.yaml": "NaN passes every JSON Schema bound",
    "one_input_for_two.yaml": "the number of inputs",
    "pool_to_zero.yaml": "shapes",
    "power_bomb.yaml": "an expression's value",
    "power_tower.yaml": "an expression's value",
    "repeat_nested_explosion.yaml": "the product of nested repeats",
    "residual_mismatch.yaml": "shapes",
    "two_inputs_for_one.yaml": "the number of inputs",
    "undefined_var.yaml": "the variables defined",
    "var_chain_recursion.yaml": "the depth of variable chains",
    "flow_branches_and_two_inputs.yaml": "in:'s length together with the merge's keys",
    "flow_gru_three_inputs.yaml": "the number of tensors a layer's forward takes",
    "flow_in_keywords_on_merge.yaml": "in:'s form together with the layer key (a mapping on a merge)",
    "flow_in_unknown_keyword.yaml": "a layer's forward's argument names",
    "flow_input_names_mixed.yaml": "a --input value given on the command line",
    "flow_mha_query_only.yaml": "the number of inputs",
    "flow_out_on_one_tensor.yaml": "whether a layer returns a tuple",
    "flow_out_too_many.yaml": "how many outputs a layer returns",
    "flow_tie_to_a_tensor.yaml": "what a name refers to (an item or a tensor)",
    "flow_unknown_in.yaml": "the names of inputs and earlier items",
    "set_refused_by_constructor.yaml": "a --set value given on the command line",
    "inline_on_a_layer.yaml": "which layer types hold items (schema: inline: on any item)",
    "inline_sequential_named.yaml": "whether an inline item has a module of its own (a block's item count)",
    "inline_block_named_use.yaml": "how many items an inline block holds",
    "inline_duplicate_name.yaml": "the names an inline block's uses put in one module",
    "residual_duplicate_name.yaml": "the names a Residual's parts put in one module",
    "tensor_repeat.yaml": "reserved keys that apply to a layer but not to a Parameter (the schema allows them on every item)",
    "tensor_freeze_buffer.yaml": "reserved keys that apply to a layer but not to a Buffer",
    "tensor_no_name.yaml": "a name that a Parameter item needs and a layer does not",
    "tensor_int_param.yaml": "a dtype that depends on the item type (Parameter: floating point)",
    "tensor_int_normal.yaml": "an init scheme that depends on the dtype",
    "tensor_too_few_dims.yaml": "shapes (a `_` lined up with the batch)",
    "tensor_tied.yaml": "what the name a `tie:` gives refers to",
    "causal_max_len_short.yaml": "shapes (a sequence longer than max_len)",
}


@pytest.fixture(scope="module")
def validator():
    schema = spec_schema()
    cls = jsonschema.validators.validator_for(schema)
    assert cls is jsonschema.Draft7Validator  # the draft yaml-language-server validates
    cls.check_schema(schema)
    return cls(schema)


def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_plain(v) for v in x]
    return x


def _corpus():
    """(name, expected exit code, data) of every corpus spec shapecli's YAML reader loads."""
    out = []
    for f in sorted(CORPUS.glob("*.yaml")):
        raw = f.read_bytes()
        code = int(re.match(r"\ufeff?# expect: (\d)", raw.decode("utf-8", "replace")).group(1))
        try:
            data = parse_yaml(raw.decode("utf-8-sig"), f.name)
        except (ShapeCliError, UnicodeDecodeError):
            continue  # tags, anchors, control characters, bad YAML: refused before any schema applies
        out.append((f.name, code, _plain(data)))
    return out


def test_the_schema_flags_the_bad_corpus_specs_it_can(validator):
    loaded = _corpus()
    bad = [(n, d) for n, c, d in loaded if c == 2]
    missed = {n for n, d in bad if validator.is_valid(d)}
    assert missed == set(NEEDS_MORE_THAN_A_SCHEMA)
    flagged = len(bad) - len(missed)
    assert flagged >= 37  # 11 of 53 before the schema knew reserved keys, ranges, init schemes (issue 18)


def test_the_schema_accepts_every_good_spec(validator):
    good = [(n, d) for n, c, d in _corpus() if c == 0]
    assert len(good) >= 4
    for name, data in good:
        assert validator.is_valid(data), (name, [e.message for e in validator.iter_errors(data)][:3])
    for f in sorted(CONFIGS.glob("*.yaml")):
        errors = [f"{e.json_path}: {e.message[:120]}" for e in validator.iter_errors(yaml.safe_load(f.read_text()))]
        assert not errors, (f.name, errors[:3])


def test_every_spec_example_in_the_docs_validates(validator):
    n = 0
    for doc in sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]:
        for m in re.finditer(r"```yaml\n(.*?)```", doc.read_text(), re.DOTALL):
            data = yaml.safe_load(m.group(1))
            if isinstance(data, dict) and "layers" in data:
                n += 1
                assert validator.is_valid(data), (doc.name, m.group(1)[:200])
    assert n >= 10


def _shapecli_accepts(text: str) -> bool:
    """The parser and the argument binding accept the spec, and, where it has an input, it builds and runs."""
    try:
        spec = shapecli.parse_spec(text, "x.yaml")
        bind_all(spec)
        if spec.inputs:
            shapecli.materialize(spec, device="cpu")
        return True
    except ShapeCliError:
        return False


# Each: a spec, and where the schema's error is. shapecli refuses each too (checked below).
BAD = {
    "layer name in the wrong case": ("layers:\n  - Conv2D: {out_channels: 4, kernel_size: 3}\n", "$.layers[0]"),
    "a misspelt reserved key": ("layers:\n  - Linear: 4\n    nmae: head\n", "$.layers[0]"),
    "a misspelt reserved key next to a block": (
        "blocks:\n  b: [ReLU]\nlayers:\n  - Linear: 4\n    nmae: head\n", "$.layers[0]"),
    "a layer and a block in one item": ("blocks:\n  b: [ReLU]\nlayers:\n  - Linear: 4\n    b: null\n", "$.layers[0]"),
    "only reserved keys": ("layers:\n  - name: x\n", "$.layers[0]"),
    "an unknown init scheme": ("init: {weight: kaiming_normall}\nlayers: [ReLU]\n", "$.init.weight"),
    "a 2-D scheme for a bias": ("layers:\n  - Linear: 4\n    init: {bias: orthogonal}\n", "$.layers[0].init.bias"),
    "an unknown init argument": ("init: {weight: {normal: {sd: 1}}}\nlayers: [ReLU]\n", "$.init.weight"),
    "a non-positive std": ("init: {weight: {normal: {std: 0}}}\nlayers: [ReLU]\n", "$.init.weight"),
    "constant without its value": ("init: {weight: constant}\nlayers: [ReLU]\n", "$.init.weight"),
    "an activation torch does not know": (
        "input: [2, 5, 8]\nlayers:\n  - TransformerEncoderLayer: {nhead: 2, activation: swish}\n", "$.layers[0]"),
    "a padding mode ConvTranspose refuses": (
        "input: [2, 3, 8, 8]\nlayers:\n  - ConvTranspose2d: {out_channels: 4, kernel_size: 3, padding_mode: reflect}\n",
        "$.layers[0]"),
    "a required argument missing": ("layers:\n  - Conv2d: {out_channels: 4}\n", "$.layers[0]"),
    "a bare layer that needs an argument": ("layers:\n  - Linear\n", "$.layers[0]"),
    "too many positional arguments": ("layers:\n  - Linear: [4, true, float32, 5]\n", "$.layers[0]"),
    "an attribute in an expression": ("vars: {h: 4}\nlayers:\n  - Linear: '${h.real}'\n", "$.layers[0]"),
    "a block named like a layer": ("blocks:\n  Linear: [ReLU]\nlayers: [ReLU]\n", "$.blocks"),
    "dim on Add": ("layers:\n  - Add: {branches: [[ReLU], [ReLU]], dim: 1}\n", "$.layers[0]"),
}

GOOD = {
    "a bare block name": "blocks:\n  b: [ReLU]\ninput: [2, 4]\nlayers:\n  - b\n  - b: null\n",
    "Add with a list of branches": "input: [2, 4]\nlayers:\n  - Add: [[Linear: 4], [Linear: 4]]\n",
    "a branch that is one item": "input: [2, 4]\nlayers:\n  - Add: [Linear: 4, [ReLU]]\n",
    "variables for a list and a flag": ("vars: {f: true, s: [8, 3]}\ninput: [2, 4, 8, 8]\n"
                                        "layers:\n  - Conv2d: $s\n    freeze: $f\n"),
    "positional arguments": "input: [2, 4, 8, 8]\nlayers:\n  - Conv2d: [16, 3]\n  - Flatten\n",
    "an expression": "vars: {h: 4}\ninput: [2, 4]\nlayers:\n  - Linear: '${min(h, 8) * 2 // 1}'\n",
    "Permute's one list": "input: [2, 4, 5]\nlayers:\n  - Permute: [0, 2, 1]\n",
    "null in an adaptive pool size": "input: [2, 3, 8, 8]\nlayers:\n  - AdaptiveAvgPool2d: {output_size: [4, null]}\n",
    "a one-key init with a scalar": "init: {weight: {constant: 0.5}, bias: zeros}\ninput: [2, 4]\nlayers: [Linear: 3]\n",
    "an inferred argument given": "input: [2, 4]\nlayers:\n  - Linear: {in_features: 4, out_features: 2}\n",
    "named dims in the input": "input: [B, 3, H=32, W=8..64]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 3}\n",
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_schema_and_parser_both_refuse(validator, case):
    text, where = BAD[case]
    best = jsonschema.exceptions.best_match(validator.iter_errors(yaml.safe_load(text)))
    assert best is not None and best.json_path.startswith(where), (best.json_path, best.message[:200])
    assert not _shapecli_accepts(text)


@pytest.mark.parametrize("case", sorted(GOOD))
def test_schema_and_parser_both_accept(validator, case):
    text = GOOD[case]
    assert _shapecli_accepts(text)
    assert validator.is_valid(yaml.safe_load(text)), [e.message[:200] for e in validator.iter_errors(yaml.safe_load(text))]


def test_hover_text_and_defaults_come_from_pytorch():
    d = spec_schema()["definitions"]
    assert d["layer_Conv2d"]["description"].startswith(
        "Applies a 2D convolution over an input signal composed of several input planes.\n\n"
        "Conv2d(*in_channels, out_channels, kernel_size, stride=1,")
    assert "Example: - Conv2d: {out_channels: 16, kernel_size: 3}" in d["layer_Conv2d"]["description"]
    stride = d["arg_Conv2d_stride"]
    assert stride["default"] == 1 and stride["description"].endswith("Stride of the convolution. Default: 1")
    act = d["arg_TransformerEncoderLayer_activation"]
    assert act["default"] == "relu" and {"type": "string", "enum": ["relu", "gelu"]} in act["anyOf"]
    inferred = d["arg_Conv2d_in_channels"]["description"]
    assert inferred.startswith("in_channels (int): inferred from the channel dimension (dim -3)")
    kaiming = d["scheme"]["anyOf"][1]["properties"]["kaiming_normal"]
    assert kaiming["description"].startswith("torch.nn.init.kaiming_normal_: Fill the input Tensor with values using")
    mode = kaiming["anyOf"][0]["properties"]["mode"]
    assert mode["enum"] == ["fan_in", "fan_out"] and mode["default"] == "fan_in"


def test_write_schema_replaces_only_its_own_file(tmp_path, cli):
    target = tmp_path / ".shapecli" / "spec.schema.json"
    code, out, err = cli("schema", "-o", str(target))
    assert (code, out, err) == (0, "", "")
    written = json.loads(target.read_text())
    assert written == spec_schema() and written["$comment"] == MARK
    write_schema(str(target))  # its own file: replaced
    assert sorted(p.name for p in target.parent.iterdir()) == ["spec.schema.json"]  # no temp file left
    other = tmp_path / "settings.json"
    other.write_text('{"yaml.schemas": {}}\n')
    code, out, err = cli("schema", "-o", str(other))
    assert code == 2 and err == (f"{other}: error: exists and was not written by `shapecli schema -o`; "
                                 "not replacing it (move it away, or choose another path)\n")
    assert other.read_text() == '{"yaml.schemas": {}}\n'
    code, _, err = cli("schema", "-o", str(tmp_path))  # a directory
    assert code == 2 and "not replacing it" in err


def test_docs_editors_md_attaches_the_file_the_command_writes(tmp_path, cli):
    text = (ROOT / "docs" / "editors.md").read_text()
    (command,) = re.findall(r"```bash\n(.*?)\n```", text, re.DOTALL)
    assert command == "shapecli schema -o .shapecli/spec.schema.json"
    target = command.split(" -o ")[1]
    (settings,) = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", text, re.DOTALL)]
    (vscode_path,) = settings["yaml.schemas"]
    assert (ROOT / vscode_path).resolve() == (ROOT / target).resolve()  # relative to the workspace folder
    (lua,) = re.findall(r"```lua\n(.*?)```", text, re.DOTALL)
    assert f'vim.fn.getcwd() .. "/{target}"' in lua
    (spec,) = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
    modeline = re.match(r"# yaml-language-server: \$schema=(\S+)\n", spec).group(1)
    assert (CONFIGS / modeline).resolve() == (ROOT / target).resolve()  # relative to a spec in configs/
    args = command.split()[1:]  # schema -o .shapecli/spec.schema.json, written under tmp_path
    code, _, err = cli(*args[:-1], str(tmp_path / target))
    assert code == 0, err
    assert json.loads((tmp_path / target).read_text()) == spec_schema()
