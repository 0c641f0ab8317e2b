"""Every YAML example in docs/ that is a spec (has `layers:`) builds and materializes."""
import re

import pytest
import yaml

import shapecli

from conftest import ROOT

BLOCKS = []
for doc in sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]:
    for i, m in enumerate(re.finditer(r"```yaml\n(.*?)```", doc.read_text(), re.S)):
        BLOCKS.append(pytest.param(m.group(1), id=f"{doc.name}#{i}"))


@pytest.mark.parametrize("text", BLOCKS)
def test_doc_example_runs(text):
    data = yaml.safe_load(text)
    if not (isinstance(data, dict) and "layers" in data):
        pytest.skip("not a spec")
    spec = shapecli.parse_spec(text, "example.yaml")
    shapecli.materialize(spec, device="meta" if "vocab" in text else "auto")


def test_every_spec_md_example_is_a_spec():
    text = (ROOT / "docs" / "spec.md").read_text()
    for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
        assert "layers" in yaml.safe_load(block), block


def test_output_examples_are_what_shapecli_prints():
    """docs/output.md's `<!-- example: SPEC OPTIONS --width N -->` blocks are the table at that width."""
    from shapecli.render import render

    text = (ROOT / "docs" / "output.md").read_text()
    found = re.findall(r"<!-- example: (\S+) ([^>]*?)--width (\d+) -->\n```text\n(.*?)```", text, re.S)
    assert found
    for spec, opts, width, want in found:
        report = shapecli.inspect(str(ROOT / spec))
        report.spec_file = spec
        got = render(report, "text", int(width), params="--no-params" not in opts)
        assert re.sub(r"torch \S+", "torch X", got) == re.sub(r"torch \S+", "torch X", want)


def test_side_by_side_page_is_one_model():
    """docs/pytorch-side-by-side.md: the PyTorch class and the spec are the same model (names, shapes, outputs)."""
    import torch

    text = (ROOT / "docs" / "pytorch-side-by-side.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, re.S)
    (spec_text,) = re.findall(r"```yaml\n(.*?)```", text, re.S)
    namespace: dict = {}
    exec(compile(code, "pytorch-side-by-side.md", "exec"), namespace)  # the page's own PyTorch code
    model, report = shapecli.materialize(shapecli.parse_spec(spec_text, "side_by_side.yaml"))
    twin = namespace["Seq2SeqAttention"]()
    assert [(n, list(p.shape)) for n, p in model.named_parameters()] == \
        [(n, list(p.shape)) for n, p in twin.named_parameters()]
    assert report.totals.params == sum(p.numel() for p in twin.parameters()) == 323_560
    assert "323,560 parameters" in text
    twin.load_state_dict(model.state_dict(), strict=True)
    g = torch.Generator().manual_seed(0)
    src, tgt = torch.randint(0, 1000, (2, 12), generator=g), torch.randint(0, 1000, (2, 9), generator=g)
    pad = torch.zeros(2, 12, dtype=torch.bool)
    pad[1, 8:] = True  # the second source is 8 tokens long
    model.eval()
    twin.eval()
    with torch.no_grad():
        got, want = model(src, tgt, pad), twin(src, tgt, pad)
        unpadded = model(src, tgt, torch.zeros_like(pad))
    assert got.shape == (2, 9, 1000)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(got[1], unpadded[1])  # the mask reaches the attention
