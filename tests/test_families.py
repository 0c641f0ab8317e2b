"""Every layer family whose size is inferred, against a hand-written explicit-size PyTorch twin."""
import pytest
import torch
from torch import nn

import shapecli

# (spec item, input shape(s), explicit-size twin)
CASES = [
    ("Linear: 7", [2, 5], lambda: nn.Linear(5, 7)),
    ("Linear: {out_features: 7, bias: false}", [2, 3, 5], lambda: nn.Linear(5, 7, bias=False)),
    ("LazyLinear: 7", [2, 5], lambda: nn.Linear(5, 7)),
    ("Bilinear: 4", [[2, 5], [2, 6]], lambda: nn.Bilinear(5, 6, 4)),
    ("Conv1d: [8, 3]", [2, 4, 16], lambda: nn.Conv1d(4, 8, 3)),
    ("Conv1d: [8, 3]", [4, 16], lambda: nn.Conv1d(4, 8, 3)),  # unbatched
    ("Conv2d: {out_channels: 8, kernel_size: 3, stride: 2, groups: 2}", [2, 4, 9, 9], lambda: nn.Conv2d(4, 8, 3, 2, groups=2)),
    ("Conv3d: [8, [1, 3, 3]]", [1, 3, 4, 8, 8], lambda: nn.Conv3d(3, 8, (1, 3, 3))),
    ("ConvTranspose1d: [8, 3]", [2, 4, 16], lambda: nn.ConvTranspose1d(4, 8, 3)),
    ("ConvTranspose2d: {out_channels: 6, kernel_size: 2, stride: 2, groups: 3}", [2, 3, 5, 5], lambda: nn.ConvTranspose2d(3, 6, 2, 2, groups=3)),
    ("ConvTranspose3d: [2, 3]", [1, 4, 4, 4, 4], lambda: nn.ConvTranspose3d(4, 2, 3)),
    ("LazyConv2d: [8, 3]", [2, 4, 9, 9], lambda: nn.Conv2d(4, 8, 3)),
    ("BatchNorm1d", [4, 6], lambda: nn.BatchNorm1d(6)),
    ("BatchNorm1d", [4, 6, 10], lambda: nn.BatchNorm1d(6)),
    ("BatchNorm2d", [2, 6, 4, 4], lambda: nn.BatchNorm2d(6)),
    ("BatchNorm3d", [2, 6, 2, 4, 4], lambda: nn.BatchNorm3d(6)),
    ("InstanceNorm1d: {affine: true}", [2, 6, 10], lambda: nn.InstanceNorm1d(6, affine=True)),
    ("InstanceNorm2d: {affine: true, track_running_stats: true}", [2, 6, 4, 4], lambda: nn.InstanceNorm2d(6, affine=True, track_running_stats=True)),
    ("InstanceNorm3d: {affine: true}", [2, 6, 2, 4, 4], lambda: nn.InstanceNorm3d(6, affine=True)),
    ("LayerNorm", [2, 7, 12], lambda: nn.LayerNorm(12)),
    ("LayerNorm: {normalized_shape: [7, 12]}", [2, 7, 12], lambda: nn.LayerNorm([7, 12])),
    ("RMSNorm", [2, 7, 12], lambda: nn.RMSNorm(12)),
    ("GroupNorm: 3", [2, 6, 4, 4], lambda: nn.GroupNorm(3, 6)),
    ("RNN: {hidden_size: 9, num_layers: 2, batch_first: true}", [2, 5, 4], lambda: nn.RNN(4, 9, 2, batch_first=True)),
    ("LSTM: {hidden_size: 9, bidirectional: true, proj_size: 3}", [5, 2, 4], lambda: nn.LSTM(4, 9, bidirectional=True, proj_size=3)),
    ("GRU: 9", [5, 2, 4], lambda: nn.GRU(4, 9)),
    ("RNNCell: 9", [2, 4], lambda: nn.RNNCell(4, 9)),
    ("LSTMCell: 9", [2, 4], lambda: nn.LSTMCell(4, 9)),
    ("GRUCell: 9", [2, 4], lambda: nn.GRUCell(4, 9)),
    ("MultiheadAttention: {num_heads: 2, batch_first: true}", [[2, 5, 8], [2, 5, 8], [2, 5, 8]], lambda: nn.MultiheadAttention(8, 2, batch_first=True)),
    ("TransformerEncoderLayer: {nhead: 2, dim_feedforward: 16, batch_first: true}", [2, 5, 8], lambda: nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)),
    ("TransformerDecoderLayer: {nhead: 2, dim_feedforward: 16}", [[5, 2, 8], [6, 2, 8]], lambda: nn.TransformerDecoderLayer(8, 2, 16)),
    ("Transformer: {nhead: 2, num_encoder_layers: 1, num_decoder_layers: 1, dim_feedforward: 16}", [[5, 2, 8], [6, 2, 8]],
     lambda: nn.Transformer(8, 2, 1, 1, 16)),
    ("Embedding: [100, 8]", "ids", lambda: nn.Embedding(100, 8)),
    ("PReLU: 1", [2, 3], lambda: nn.PReLU(1)),
]


def _inputs(shape):
    if shape == "ids":
        return [torch.zeros(2, 5, dtype=torch.long)], "input: {shape: [2, 5], dtype: int64}"
    shapes = shape if isinstance(shape[0], list) else [shape]
    return [torch.randn(s) for s in shapes], "input: " + (str(shapes) if len(shapes) > 1 else str(shapes[0]))


@pytest.mark.parametrize("item,shape,twin", CASES, ids=[c[0] for c in CASES])
def test_inferred_family_matches_explicit_twin(item, shape, twin):
    xs, input_line = _inputs(shape)
    spec = shapecli.parse_spec(f"{input_line}\nlayers:\n  - {item}\n", "t.yaml")
    model, report = shapecli.materialize(spec)
    ref = twin()
    assert [(n, list(p.shape)) for n, p in ref.named_parameters()] == \
        [(n[2:], list(p.shape)) for n, p in model.named_parameters()]
    assert [(n, list(b.shape)) for n, b in ref.named_buffers()] == [(b.name[2:], b.shape) for b in report.buffers]
    assert type(model[0]) is type(ref)
    with torch.no_grad():
        ref_out = ref.eval()(*xs) if not isinstance(ref, nn.Transformer) else ref(*xs)

    def shapes(o):
        return list(o.shape) if isinstance(o, torch.Tensor) else [shapes(x) for x in o]

    def reported(o):
        return o.shape if hasattr(o, "shape") else [reported(x) for x in o]

    assert reported(report.runs[0].output) == shapes(ref_out)
    assert report.totals.params == sum(p.numel() for p in ref.parameters())


def test_meta_device_gives_the_same_shapes():
    spec = shapecli.parse_spec("input: [2, 3, 32, 32]\nlayers:\n  - Conv2d: [8, 3]\n  - BatchNorm2d\n  - Flatten\n  - Linear: 10\n", "t.yaml")
    _, cpu = shapecli.materialize(spec, device="cpu")
    _, meta = shapecli.materialize(spec, device="meta")
    assert meta.device == "meta" and cpu.device == "cpu"
    assert [(p.name, p.shape) for p in cpu.params] == [(p.name, p.shape) for p in meta.params]
    assert [lay.output_shapes for lay in cpu.layers] == [lay.output_shapes for lay in meta.layers]
    assert all(p.stats is None or p.stats.source == "analytic" for p in meta.params)
