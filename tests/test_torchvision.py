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


WEIGHT_COMPATIBLE = CASES  # every spec in the zoo that torchvision has: ViT-B/16 with its owned tensors too


@pytest.mark.parametrize("config, target, shape", WEIGHT_COMPATIBLE, ids=[c[0] for c in WEIGHT_COMPATIBLE])
def test_torchvision_weights_load_strictly_into_the_spec_model(config, target, shape):
    """torchvision's own state_dict (names, shapes, dtypes) loads strictly, and gives the same outputs."""
    import torch
    import torchvision.models as tvm
    from conftest import CONFIGS

    import shapecli

    call = target.split(":", 1)[1]
    kwargs = {"aux_logits": False, "init_weights": False} if config == "inception" else {}
    torch.manual_seed(0)
    ref = getattr(tvm, call.split("(")[0])(**kwargs).eval()
    model, _ = shapecli.materialize(str(CONFIGS / f"{config}.yaml"), device="cpu", budget=4 << 30)
    result = model.load_state_dict(ref.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    model.eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(model(x), ref(x), atol=1e-4, rtol=1e-4)
