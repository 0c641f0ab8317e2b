"""The zoo's torchvision models have torchvision's state_dict: the same names, shapes, dtypes, in order.

The reference lists are tests/fixtures/torchvision-state-dicts/*.json (torchvision 0.29.1; see its
README). tests/test_torchvision.py loads torchvision's own weights into these models, where
torchvision is installed.
"""
import json
from pathlib import Path

import pytest
from conftest import CONFIGS

import shapecli

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "torchvision-state-dicts"
ZOO = ["resnet18", "resnet50", "vgg11_bn", "mobilenet_v2", "alexnet", "inception"]


def _entries(model) -> list:
    return [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in model.state_dict().items()]


@pytest.mark.parametrize("name", ZOO)
def test_state_dict_is_torchvisions(name):
    want = json.loads((FIXTURES / f"{name}.json").read_text())["state_dict"]
    model, report = shapecli.materialize(str(CONFIGS / f"{name}.yaml"), device="meta")
    got = _entries(model)
    first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), None)
    assert first is None, f"entry {first}: {got[first]} != {want[first]}"
    assert len(got) == len(want)
    # the report names the parameters as the model does
    assert [p.name for p in report.params] == [k for k, _, _ in want if k in dict(model.named_parameters())]


def test_the_names_come_from_annotations_not_from_restructuring():
    """ResNet-18's block is a Residual whose items register on it: conv1 .. downsample, relu2 after the add."""
    model, report = shapecli.materialize(str(CONFIGS / "resnet18.yaml"), device="meta")
    block = model.get_submodule("layer2.0")
    assert list(block._modules) == ["conv1", "bn1", "relu1", "conv2", "bn2", "downsample", "relu2"]
    assert list(model.get_submodule("layer2.1")._modules) == ["conv1", "bn1", "relu1", "conv2", "bn2", "relu2"]
    assert {lay.path: lay.type for lay in report.layers}["layer2.0"] == "basic"
