"""Hand-written twins of the model zoo in configs/: plain torch.nn, every size written out.

Each twin is built independently of shapecli (nothing here imports it) and has the module
structure that docs/spec.md says the matching spec must produce, so its `named_parameters()`
(names, order, shapes, trainability) is what shapecli must report:

* the network is a Sequential whose children are the spec's items, named by their `name:` or
  else by their index;
* `Sequential:` items, `blocks` and `repeat: n` each build a nested Sequential (repeat: indexed
  copies of the item);
* `Residual` has children `body` and `shortcut` (each a Sequential of the list's items);
  `Concat`/`Add` branches are children `0`, `1`, ... (each a Sequential);
* `inline: true` (torchvision's names): an inline Sequential, block or repeat adds no level (its
  items are numbered on in the enclosing Sequential); an inline Residual (`FlatResidual`) or
  Concat holds its parts' items itself, named, or by their index among all of them;
* glue layers (ClassToken, PositionalEmbedding, SelfAttention, Item, Select, ...) are the tiny
  equivalents below.

`TWINS[name]` is a `Twin`: a factory, the sample input(s), the expected output shape and, where
one is published (torchvision / the GPT-2 paper), the expected parameter total.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import nn

# --------------------------------------------------------------------------- glue layers


class Item(nn.Module):
    def __init__(self, index: int):
        super().__init__()
        self.index = index

    def forward(self, x):
        return x[self.index]


class Select(nn.Module):
    def __init__(self, dim: int, index: int):
        super().__init__()
        self.dim, self.index = dim, index

    def forward(self, x):
        return torch.select(x, self.dim, self.index)


class Transpose(nn.Module):
    def __init__(self, dim0: int, dim1: int):
        super().__init__()
        self.dim0, self.dim1 = dim0, dim1

    def forward(self, x):
        return torch.transpose(x, self.dim0, self.dim1)


class Mean(nn.Module):
    def __init__(self, dim, keepdim: bool = False):
        super().__init__()
        self.dim, self.keepdim = dim, keepdim

    def forward(self, x):
        return x.mean(self.dim, keepdim=self.keepdim)


class ClassToken(nn.Module):
    """A learned [1, 1, D] token prepended to [B, N, D]."""

    def __init__(self, dim: int):
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x):
        return torch.cat([self.token.expand(x.shape[0], -1, -1), x], dim=1)


class PositionalEmbedding(nn.Module):
    """A learned [num_positions, D] table added to [B, N, D] (its first N rows)."""

    def __init__(self, num_positions: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(num_positions, dim))

    def forward(self, x):
        return x + self.weight[: x.shape[1]]


class SelfAttention(nn.MultiheadAttention):
    """MultiheadAttention(x, x, x), batch first, returning the output tensor only."""

    def __init__(self, embed_dim: int, num_heads: int, causal: bool = False, dropout: float = 0.0, bias: bool = True,
                 max_len: Optional[int] = None):
        super().__init__(embed_dim, num_heads, dropout=dropout, bias=bias, batch_first=True)
        self.causal = causal
        if max_len is not None:  # GPT-2's code registers its causal mask once, non-persistent
            self.register_buffer("mask", torch.ones(max_len, max_len, dtype=torch.bool).triu(1), persistent=False)

    def forward(self, x):
        mask = None
        if self.causal:
            n = x.shape[1]
            mask = self.mask[:n, :n] if hasattr(self, "mask") else \
                torch.ones(n, n, dtype=torch.bool, device=x.device).triu(1)
        return super().forward(x, x, x, attn_mask=mask, need_weights=False)[0]


class Residual(nn.Module):
    """body(x) + shortcut(x); identity shortcut when there is none."""

    def __init__(self, body: nn.Module, shortcut: Optional[nn.Module] = None):
        super().__init__()
        self.body = body
        if shortcut is not None:
            self.shortcut = shortcut
        self._has_shortcut = shortcut is not None

    def forward(self, x):
        return self.body(x) + (self.shortcut(x) if self._has_shortcut else x)


class FlatResidual(nn.Module):
    """`Residual` with `inline: true`: after(body(x) + shortcut(x)), the parts' items its own children
    (a (name, module) pair, or a module named by its index among all of them); an empty shortcut is x."""

    def __init__(self, body: list, shortcut: list = (), after: list = ()):
        super().__init__()
        self.parts, i = [], 0
        for items in (body, shortcut, after):
            names = []
            for it in items:
                name, mod = it if isinstance(it, tuple) else (str(i), it)
                self.add_module(name, mod)
                names.append(name)
                i += 1
            self.parts.append(names)

    def _run(self, names: list, x):
        for n in names:
            x = getattr(self, n)(x)
        return x

    def forward(self, x):
        body, shortcut, after = self.parts
        return self._run(after, self._run(body, x) + self._run(shortcut, x))


class Concat(nn.Module):
    """Branches (children `0`, `1`, ..., or named by (name, module) pairs) run on the same input,
    concatenated along `dim`."""

    def __init__(self, *branches, dim: int = 1):
        super().__init__()
        for i, b in enumerate(branches):
            name, mod = b if isinstance(b, tuple) else (str(i), b)
            self.add_module(name, mod)
        self.dim = dim

    def forward(self, x):
        return torch.cat([b(x) for b in self.children()], dim=self.dim)


class ConcatFrom(nn.Module):
    """`Concat: {from: ref}`: concatenate x with the output of the earlier item named `ref`.

    Has no parameters; `Net.forward` supplies the saved output.
    """

    def __init__(self, ref: str, dim: int = 1):
        super().__init__()
        self.ref, self.dim = ref, dim


class Net(nn.Sequential):
    """The whole network (or any Sequential): items run in order; named outputs are kept
    for `ConcatFrom` (U-Net long skips)."""

    def forward(self, x):
        saved = {}
        for name, m in self.named_children():
            x = torch.cat([x, saved[m.ref]], dim=m.dim) if isinstance(m, ConcatFrom) else m(x)
            saved[name] = x
        return x


def seq(*items) -> Net:
    """A Sequential of spec items: a module (named by its index) or a (name, module) pair."""
    named = OrderedDict()
    for i, it in enumerate(items):
        name, mod = it if isinstance(it, tuple) else (str(i), it)
        assert name not in named, name
        named[name] = mod
    return Net(named)


def rep(n: int, make: Callable[[int], nn.Module]) -> Net:
    """`repeat: n`: n independent copies in a nested Sequential; make(i) builds copy i."""
    return seq(*[make(i) for i in range(n)])


# --------------------------------------------------------------------------- the zoo


def mlp():
    return seq(nn.Linear(20, 256), nn.ReLU(), nn.Linear(256, 10))


def lenet5():
    return seq(
        nn.Conv2d(1, 6, 5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2, 2),
        nn.Conv2d(6, 16, 5), nn.Sigmoid(), nn.AvgPool2d(2, 2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.Sigmoid(),
        nn.Linear(84, 10),
    )


def alexnet():
    features = seq(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
    )
    classifier = seq(
        nn.Dropout(0.5), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(),
        nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(),
        nn.Linear(4096, 1000),
    )
    return seq(("features", features), ("avgpool", nn.AdaptiveAvgPool2d((6, 6))), nn.Flatten(),
               ("classifier", classifier))


def vgg11_bn():
    def conv(cin, c):  # block `conv`, inline: its layers are the features' own
        return [nn.Conv2d(cin, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU()]

    pool = lambda: nn.MaxPool2d(2, 2)  # noqa: E731
    features = seq(  # torchvision's make_layers numbering: features.0 .. features.28
        *conv(3, 64), pool(),
        *conv(64, 128), pool(),
        *conv(128, 256), *conv(256, 256), pool(),
        *conv(256, 512), *conv(512, 512), pool(),
        *conv(512, 512), *conv(512, 512), pool(),
    )
    classifier = seq(
        nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, 1000),
    )
    return seq(("features", features), ("avgpool", nn.AdaptiveAvgPool2d((7, 7))), nn.Flatten(),
               ("classifier", classifier))


def _resnet_stem():
    return [
        ("conv1", nn.Conv2d(3, 64, 7, 2, 3, bias=False)),
        ("bn1", nn.BatchNorm2d(64)),
        ("relu", nn.ReLU()),
        ("maxpool", nn.MaxPool2d(3, 2, 1)),
    ]


def _resnet_head(c):
    return [("avgpool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(c, 1000))]


def resnet18():
    def basic(cin, c, stride=1):  # block `basic`: torchvision's BasicBlock
        down = [("downsample", seq(nn.Conv2d(cin, c, 1, stride, bias=False), nn.BatchNorm2d(c)))] if stride > 1 else []
        body = [("conv1", nn.Conv2d(cin, c, 3, stride, 1, bias=False)), ("bn1", nn.BatchNorm2d(c)), ("relu1", nn.ReLU()),
                ("conv2", nn.Conv2d(c, c, 3, 1, 1, bias=False)), ("bn2", nn.BatchNorm2d(c))]
        return FlatResidual(body, down, [("relu2", nn.ReLU())])

    def stage(cin, c, stride=2):  # block `stage`: the copies are its own items
        return seq(basic(cin, c, stride), basic(c, c))

    return seq(
        *_resnet_stem(),
        ("layer1", stage(64, 64, 1)),
        ("layer2", stage(64, 128)),
        ("layer3", stage(128, 256)),
        ("layer4", stage(256, 512)),
        *_resnet_head(512),
    )


def resnet50():
    def bottleneck(cin, c, stride=1, down=False):  # block `bottleneck`: torchvision's Bottleneck
        body = [("conv1", nn.Conv2d(cin, c, 1, bias=False)), ("bn1", nn.BatchNorm2d(c)), ("relu1", nn.ReLU()),
                ("conv2", nn.Conv2d(c, c, 3, stride, 1, bias=False)), ("bn2", nn.BatchNorm2d(c)), ("relu2", nn.ReLU()),
                ("conv3", nn.Conv2d(c, 4 * c, 1, bias=False)), ("bn3", nn.BatchNorm2d(4 * c))]
        shortcut = [("downsample", seq(nn.Conv2d(cin, 4 * c, 1, stride, bias=False), nn.BatchNorm2d(4 * c)))]
        return FlatResidual(body, shortcut if down else [], [("relu3", nn.ReLU())])

    def stage(cin, c, n, stride):  # block `stage`
        return seq(bottleneck(cin, c, stride, down=True), *[bottleneck(4 * c, c) for _ in range(n - 1)])

    return seq(
        *_resnet_stem(),
        ("layer1", stage(64, 64, 3, 1)),
        ("layer2", stage(256, 128, 4, 2)),
        ("layer3", stage(512, 256, 6, 2)),
        ("layer4", stage(1024, 512, 3, 2)),
        *_resnet_head(2048),
    )


def mobilenet_v2():
    def conv_bn_relu6(cin, c, k=3, s=1, g=1):  # torchvision's Conv2dNormActivation
        return seq(nn.Conv2d(cin, c, k, s, (k - 1) // 2, groups=g, bias=False), nn.BatchNorm2d(c), nn.ReLU6())

    def bottleneck(cin, c, t, s):  # expand 1x1 (not for t = 1), depthwise 3x3, linear 1x1 projection
        h = cin * t
        expand = [conv_bn_relu6(cin, h, k=1)] if t > 1 else []
        return seq(*expand, conv_bn_relu6(h, h, s=s, g=h), nn.Conv2d(h, c, 1, bias=False), nn.BatchNorm2d(c))

    def inverted(cin, c, t, s):  # torchvision's InvertedResidual: its child `conv`, x + conv(x) where the shape is kept
        conv = bottleneck(cin, c, t, s)
        return FlatResidual([("conv", conv)]) if s == 1 and cin == c else seq(("conv", conv))

    blocks, cin = [], 32
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                       (6, 320, 1, 1)]:  # table 2
        blocks += [inverted(cin if j == 0 else c, c, t, s if j == 0 else 1) for j in range(n)]
        cin = c
    features = seq(conv_bn_relu6(3, 32, s=2), *blocks, conv_bn_relu6(320, 1280, k=1))
    return seq(
        ("features", features),
        ("pool", nn.AdaptiveAvgPool2d(1)),
        nn.Flatten(),
        ("classifier", seq(nn.Dropout(0.2), nn.Linear(1280, 1000))),
    )


def unet():
    def double_conv(cin, c):  # block `double_conv`
        return seq(
            nn.Conv2d(cin, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
        )

    c = 16
    return seq(
        ("enc1", double_conv(3, c)), nn.MaxPool2d(2),
        ("enc2", double_conv(c, 2 * c)), nn.MaxPool2d(2),
        ("enc3", double_conv(2 * c, 4 * c)), nn.MaxPool2d(2),
        ("bottleneck", double_conv(4 * c, 8 * c)),
        ("up3", nn.ConvTranspose2d(8 * c, 4 * c, 2, 2)), ConcatFrom("enc3"),
        ("dec3", double_conv(8 * c, 4 * c)),
        ("up2", nn.ConvTranspose2d(4 * c, 2 * c, 2, 2)), ConcatFrom("enc2"),
        ("dec2", double_conv(4 * c, 2 * c)),
        ("up1", nn.ConvTranspose2d(2 * c, c, 2, 2)), ConcatFrom("enc1"),
        ("dec1", double_conv(2 * c, c)),
        ("head", nn.Conv2d(c, 2, 1)),
    )


def inception():
    """torchvision's GoogLeNet (Inception v1), aux_logits=False."""

    def conv(cin, c, k=1, s=1, p=0):  # block `conv` (torchvision's BasicConv2d)
        return seq(("conv", nn.Conv2d(cin, c, k, s, p, bias=False)), ("bn", nn.BatchNorm2d(c, eps=0.001)), nn.ReLU())

    def module(cin, c1, c3r, c3, c5r, c5, pp):  # block `inception`: its Concat, the branches its own children
        return Concat(
            ("branch1", conv(cin, c1)),
            ("branch2", seq(conv(cin, c3r), conv(c3r, c3, 3, p=1))),
            ("branch3", seq(conv(cin, c5r), conv(c5r, c5, 3, p=1))),  # 3x3, as in torchvision
            ("branch4", seq(nn.MaxPool2d(3, 1, 1, ceil_mode=True), conv(cin, pp))),
        )

    return seq(
        ("conv1", conv(3, 64, 7, 2, 3)),
        ("maxpool1", nn.MaxPool2d(3, 2, ceil_mode=True)),
        ("conv2", conv(64, 64)),
        ("conv3", conv(64, 192, 3, p=1)),
        ("maxpool2", nn.MaxPool2d(3, 2, ceil_mode=True)),
        ("inception3a", module(192, 64, 96, 128, 16, 32, 32)),
        ("inception3b", module(256, 128, 128, 192, 32, 96, 64)),
        ("maxpool3", nn.MaxPool2d(3, 2, ceil_mode=True)),
        ("inception4a", module(480, 192, 96, 208, 16, 48, 64)),
        ("inception4b", module(512, 160, 112, 224, 24, 64, 64)),
        ("inception4c", module(512, 128, 128, 256, 24, 64, 64)),
        ("inception4d", module(512, 112, 144, 288, 32, 64, 64)),
        ("inception4e", module(528, 256, 160, 320, 32, 128, 128)),
        ("maxpool4", nn.MaxPool2d(2, 2, ceil_mode=True)),
        ("inception5a", module(832, 256, 160, 320, 32, 128, 128)),
        ("inception5b", module(832, 384, 192, 384, 48, 128, 128)),
        ("avgpool", nn.AdaptiveAvgPool2d(1)),
        nn.Flatten(),
        ("dropout", nn.Dropout(0.2)),
        ("fc", nn.Linear(1024, 1000)),
    )


def audio_conv1d():
    """M5 (Dai et al. 2017) on 1 s of 16 kHz audio, 35 classes (Speech Commands)."""

    def conv(cin, c, k=3, s=1):  # block `conv`
        return seq(nn.Conv1d(cin, c, k, s), nn.BatchNorm1d(c), nn.ReLU(), nn.MaxPool1d(4))

    return seq(
        conv(1, 128, 80, 4),
        conv(128, 128),
        conv(128, 256),
        conv(256, 512),
        Mean(2),
        ("fc", nn.Linear(512, 35)),
    )


def conv3d():
    def conv(cin, c):  # block `conv`
        return seq(nn.Conv3d(cin, c, 3, padding=1, bias=False), nn.BatchNorm3d(c), nn.ReLU())

    return seq(
        conv(3, 32), nn.MaxPool3d((1, 2, 2)),
        conv(32, 64), nn.MaxPool3d(2),
        rep(2, lambda i: conv(64 if i == 0 else 128, 128)),
        nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Dropout(0.5),
        ("fc", nn.Linear(128, 10)),
    )


def lstm_classifier():
    emb = nn.Embedding(10000, 128)
    emb.weight.requires_grad_(False)  # freeze: true
    return seq(
        ("embed", emb),
        ("lstm", nn.LSTM(128, 256, num_layers=2, batch_first=True)),
        Item(0),
        Select(1, -1),
        ("fc", nn.Linear(256, 4)),
    )


def gpt2_small():
    d, heads, vocab, ctx = 768, 12, 50257, 1024

    def block(i):  # block `block`: pre-norm attention and MLP, each in a residual
        return seq(
            Residual(seq(nn.LayerNorm(d), SelfAttention(d, heads, causal=True, max_len=1024))),
            Residual(seq(nn.LayerNorm(d), nn.Linear(d, 4 * d), nn.GELU(approximate="tanh"), nn.Linear(4 * d, d))),
        )

    wte = nn.Embedding(vocab, d)
    head = nn.Linear(d, vocab, bias=False)
    head.weight = wte.weight  # tie: wte
    return seq(
        ("wte", wte),
        ("wpe", PositionalEmbedding(ctx, d)),
        ("drop", nn.Dropout(0.1)),
        ("h", rep(12, block)),
        ("ln_f", nn.LayerNorm(d)),
        ("head", head),
    )


class EncoderBlock(nn.Module):
    """torchvision's ViT EncoderBlock: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, d: int, heads: int, mlp: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(d, heads, dropout=0.0, batch_first=True)
        self.dropout = nn.Dropout(0.0)
        self.ln_2 = nn.LayerNorm(d, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(d, mlp), nn.GELU(), nn.Dropout(0.0), nn.Linear(mlp, d), nn.Dropout(0.0))

    def forward(self, x):
        y = self.ln_1(x)
        y = self.dropout(self.self_attention(y, y, y, need_weights=False)[0]) + x
        return y + self.mlp(self.ln_2(y))


class Encoder(nn.Module):
    def __init__(self, seq_len: int, d: int, depth: int):
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, seq_len, d).normal_(std=0.02))
        self.dropout = nn.Dropout(0.0)
        self.layers = nn.Sequential(OrderedDict((f"encoder_layer_{i}", EncoderBlock(d, 12, 3072)) for i in range(depth)))
        self.ln = nn.LayerNorm(d, eps=1e-6)

    def forward(self, x):
        return self.ln(self.layers(self.dropout(x + self.pos_embedding)))


class VisionTransformer(nn.Module):
    """torchvision.models.vit_b_16's layout, written out: the class token is the model's own."""

    def __init__(self, d: int = 768):
        super().__init__()
        self.conv_proj = nn.Conv2d(3, d, 16, 16)
        self.class_token = nn.Parameter(torch.zeros(1, 1, d))
        self.encoder = Encoder(197, d, 12)
        self.heads = nn.Sequential(OrderedDict(head=nn.Linear(d, 1000)))

    def forward(self, x):
        x = self.conv_proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)
        return self.heads(self.encoder(x)[:, 0])


def vit_b16():
    return VisionTransformer()


class GRUSeq2Seq(nn.Module):
    """Teacher-forced GRU seq2seq: the encoder's final state starts the decoder (configs/gru_seq2seq.yaml)."""

    def __init__(self, vocab=1000, emb=64, hidden=128):
        super().__init__()
        self.src_embed = nn.Embedding(vocab, emb)
        self.encoder = nn.GRU(emb, hidden, batch_first=True)
        self.tgt_embed = nn.Embedding(vocab, emb)
        self.decoder = nn.GRU(emb, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, vocab)

    def forward(self, src, tgt):
        _, state = self.encoder(self.src_embed(src))
        y, _ = self.decoder(self.tgt_embed(tgt), state)
        return self.fc(y)


class TransformerEncDec(nn.Module):
    """nn.Transformer's encoder and decoder (final norms included) between embeddings and a head,
    with a causal target mask (configs/transformer_encdec.yaml)."""

    def __init__(self, vocab=1000, d=128, heads=4, ffn=512, n=2):
        super().__init__()
        self.src_embed = nn.Embedding(vocab, d)
        self.encoder = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(d, heads, ffn, batch_first=True), n, norm=nn.LayerNorm(d),
            enable_nested_tensor=False)
        self.tgt_embed = nn.Embedding(vocab, d)
        self.decoder = nn.TransformerDecoder(
            nn.TransformerDecoderLayer(d, heads, ffn, batch_first=True), n, norm=nn.LayerNorm(d))
        self.head = nn.Linear(d, vocab)

    def forward(self, src, tgt):
        mask = nn.Transformer.generate_square_subsequent_mask(tgt.shape[1], device=tgt.device)
        memory = self.encoder(self.src_embed(src))
        return self.head(self.decoder(self.tgt_embed(tgt), memory, tgt_mask=mask, tgt_is_causal=True))


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Twin:
    build: Callable[[], nn.Module]
    inputs: tuple  # ((shape, dtype), ...): the spec's default `input`
    output: tuple  # the expected output shape
    published: Optional[int] = None  # the published parameter total (tied counted once)
    same_outputs: bool = False  # with the spec model's state_dict loaded, the twin's outputs are the same

    def make(self, device: str = "meta") -> nn.Module:
        with torch.device(device):
            return self.build()

    def sample(self, device: str = "meta") -> list:
        return [torch.zeros(shape, dtype=dtype, device=device) for shape, dtype in self.inputs]


F32, I64 = torch.float32, torch.int64
IMG224 = (((1, 3, 224, 224), F32),)

TWINS: dict[str, Twin] = {
    "mlp": Twin(mlp, (((2, 20), F32),), (2, 10), 7_946),
    "lenet5": Twin(lenet5, (((2, 1, 28, 28), F32),), (2, 10), 61_706),
    "alexnet": Twin(alexnet, IMG224, (1, 1000), 61_100_840),
    "vgg11_bn": Twin(vgg11_bn, IMG224, (1, 1000), 132_868_840),
    "resnet18": Twin(resnet18, IMG224, (1, 1000), 11_689_512),
    "resnet50": Twin(resnet50, IMG224, (1, 1000), 25_557_032),
    "mobilenet_v2": Twin(mobilenet_v2, IMG224, (1, 1000), 3_504_872),
    "unet": Twin(unet, (((1, 3, 64, 64), F32),), (1, 2, 64, 64)),
    "inception": Twin(inception, IMG224, (1, 1000), 6_624_904),
    "audio_conv1d": Twin(audio_conv1d, (((2, 1, 16000), F32),), (2, 35)),
    "conv3d": Twin(conv3d, (((2, 3, 8, 32, 32), F32),), (2, 10)),
    "lstm_classifier": Twin(lstm_classifier, (((2, 16), I64),), (2, 4)),
    "gpt2_small": Twin(gpt2_small, (((1, 64), I64),), (1, 64, 50257), 124_439_808),
    "vit_b16": Twin(vit_b16, IMG224, (1, 1000), 86_567_656),
    "gru_seq2seq": Twin(GRUSeq2Seq, (((2, 12), I64), ((2, 9), I64)), (2, 9, 1000), same_outputs=True),
    "transformer_encdec": Twin(TransformerEncDec, (((2, 12), I64), ((2, 9), I64)), (2, 9, 1000), same_outputs=True),
}


def param_total(model: nn.Module) -> int:
    """Parameters counted once each (a tied parameter appears once in .parameters())."""
    return sum(p.numel() for p in model.parameters())


if __name__ == "__main__":  # quick self-check: python tests/twins.py
    for name, twin in TWINS.items():
        m = twin.make()
        out = m(*twin.sample())
        print(f"{name:16} {param_total(m):>12,} {tuple(out.shape)}  published={twin.published}")
