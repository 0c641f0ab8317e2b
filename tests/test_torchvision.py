"""torchvision's models through `shapecli inspect torchvision.models:...`, against the zoo's specs.

Optional: skipped where torchvision does not import (it does not beside torch 2.13.0). Run it with
torch 2.14.1 and torchvision 0.29.1, from the checkout's root:

    .venv-compat/bin/python -m pytest -q tests/test_torchvision.py      (.ci/compat sets up .venv-compat)
"""
import json

import pytest

pytest.importorskip("torchvision")

CASES = [
    ("resnet18", "torchvision.models:resnet18()", "1,3,224,224"),
    ("resnet50", "torchvision.models:resnet50()", "1,3,224,224"),
    ("vgg11_bn", "torchvision.models:vgg11_bn()", "1,3,224,224"),
    ("mobilenet_v2", "torchvision.models:mobilenet_v2()", "1,3,224,224"),
    ("alexnet", "torchvision.models:alexnet()", "1,3,224,224"),
    ("inception", "torchvision.models:googlenet(aux_logits=False, init_weights=False)", "1,3,224,224"),
    ("vit_b16", "torchvision.models:vit_b_16()", "1,3,224,224"),
]


@pytest.mark.parametrize("config, target, shape", CASES, ids=[c[0] for c in CASES])
def test_torchvision_model_has_the_specs_totals(cli, config, target, shape):
    from conftest import CONFIGS

    code, out, err = cli("inspect", target, "-i", shape, "--device", "meta", "--json")
    assert code == 0, err
    got = json.loads(out)
    code, out, err = cli("inspect", str(CONFIGS / f"{config}.yaml"), "-i", shape, "--device", "meta", "--json")
    assert code == 0, err
    want = json.loads(out)
    assert got["source"] == target
    for k in ("params", "trainable", "buffers", "param_bytes"):
        assert got["totals"][k] == want["totals"][k], k
    assert got["outputs"] == want["outputs"]


def test_vit_b16_loads_torchvisions_state_dict_strictly_and_computes_the_same():
    import torch
    import torchvision
    from conftest import CONFIGS

    import shapecli

    model, _ = shapecli.materialize(CONFIGS / "vit_b16.yaml", device="cpu", budget=2**31)
    tv = torchvision.models.vit_b_16()
    result = model.load_state_dict(tv.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    model.eval()
    tv.eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(model(x), tv(x))
