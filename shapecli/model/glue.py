"""shapecli's own small layers: the glue real models need between torch.nn layers.

Each is a plain nn.Module a user could train; docs/spec.md documents them. Containers
(Residual, Concat, Add, Multiply) are here too (the Chain that feeds them is model/flow.py's);
model/build.py's build() wires their children. None of them needs a hook: a `from:` reference is
a dict (the tape) that the Chain holding the named item writes and the merge reads, inside their
forward, and that the network empties before and after each call.
"""

from shapecli._torch import nn, torch
from shapecli.errors import ShapeError
from shapecli.model.tape import read_feed, write_saves


def _shape(t) -> list:
    return list(t.shape) if isinstance(t, torch.Tensor) else [_shape(x) for x in t]


class Item(nn.Module):
    """Pick one element of a tuple output: LSTM's (output, (h, c)) -> output."""

    def __init__(self, index: int):
        super().__init__()
        self.index = index

    def forward(self, x):
        if isinstance(x, torch.Tensor):
            raise ShapeError(f"Item picks from a tuple output, but its input is one tensor {list(x.shape)}")
        if not -len(x) <= self.index < len(x):
            raise ShapeError(f"index {self.index} is out of range for a tuple of {len(x)} outputs")
        return x[self.index]

    def extra_repr(self) -> str:
        return f"index={self.index}"


class Select(nn.Module):
    """torch.select: `{dim: 1, index: -1}` takes the last time step of [B, T, C]."""

    def __init__(self, dim: int, index: int):
        super().__init__()
        self.dim, self.index = dim, index

    def forward(self, x):
        return x.select(self.dim, self.index)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, index={self.index}"


class Permute(nn.Module):
    def __init__(self, dims: list[int]):
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x):
        return x.permute(*self.dims)

    def extra_repr(self) -> str:
        return f"dims={self.dims}"


class Transpose(nn.Module):
    def __init__(self, dim0: int, dim1: int):
        super().__init__()
        self.dim0, self.dim1 = dim0, dim1

    def forward(self, x):
        return x.transpose(self.dim0, self.dim1)

    def extra_repr(self) -> str:
        return f"dim0={self.dim0}, dim1={self.dim1}"


class Reshape(nn.Module):
    """Reshape every dimension but the batch: `Reshape: [64, -1]` gives [B, 64, -1]."""

    def __init__(self, shape: list[int]):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class Mean(nn.Module):
    def __init__(self, dim: int | list[int], keepdim: bool = False):
        super().__init__()
        self.dim, self.keepdim = (tuple(dim) if isinstance(dim, (list, tuple)) else dim), keepdim

    def forward(self, x):
        return x.mean(dim=self.dim, keepdim=self.keepdim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, keepdim={self.keepdim}"


class ClassToken(nn.Module):
    """A learned [1, 1, D] token prepended to a [B, N, D] sequence (ViT's class token)."""

    def __init__(self, embed_dim: int):
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, 1, embed_dim))

    def forward(self, x):
        return torch.cat([self.token.expand(x.shape[0], -1, -1), x], dim=1)


class PositionalEmbedding(nn.Module):
    """A learned [num_positions, D] table; the first N rows are added to a [B, N, D] input."""

    def __init__(self, embed_dim: int, num_positions: int | None = None):
        super().__init__()
        self.num_positions = num_positions
        self.weight = nn.Parameter(torch.empty(num_positions, embed_dim))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x):
        n = x.shape[-2]
        if n > self.num_positions:
            raise ShapeError(f"the input has {n} positions; the table holds {self.num_positions} (num_positions)")
        return x + self.weight[:n]


class SelfAttention(nn.MultiheadAttention):
    """MultiheadAttention(x, x, x), batch first, returning the output tensor only.

    `causal: true` masks the positions after each token: built in each forward (as Llama's code does),
    or, with `max_len: N`, registered once as a buffer `mask` ([N, N], bool, True above the diagonal),
    non-persistent as GPT-2's `attn.bias` is in Hugging Face's code: it follows from N, so a checkpoint
    need not hold it."""

    def __init__(self, embed_dim: int, num_heads: int, causal: bool = False, dropout: float = 0.0, bias: bool = True,
                 max_len: int | None = None):
        super().__init__(embed_dim, num_heads, dropout=dropout, bias=bias, batch_first=True)
        self.causal = causal
        if max_len is not None:
            if not causal or max_len < 1:
                raise ValueError(f"max_len sizes the causal mask: it needs causal: true and max_len >= 1, got {max_len}")
            self.register_buffer("mask", torch.ones(max_len, max_len, dtype=torch.bool).triu(1), persistent=False)

    def forward(self, x):
        mask = None
        if self.causal:
            n = x.shape[-2]
            buffered = self._buffers.get("mask")
            if buffered is None:
                mask = torch.ones(n, n, dtype=torch.bool, device=x.device).triu(1)
            elif n > buffered.shape[0]:
                raise ShapeError(f"the input has {n} positions; the causal mask covers {buffered.shape[0]} (max_len)")
            else:
                mask = buffered[:n, :n]
        return super().forward(x, x, x, need_weights=False, attn_mask=mask, is_causal=False)[0]


class CausalMask(nn.Module):
    """A [T, T] float mask, -inf above the diagonal, for a sequence of length T = x.shape[dim]:
    nn.Transformer.generate_square_subsequent_mask(T), made in the forward as nn.Transformer's users do."""

    def __init__(self, dim: int = 1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        n = x.shape[self.dim]
        return torch.full((n, n), float("-inf"), device=x.device).triu(1)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


GLUE = {c.__name__: c for c in (Item, Select, Permute, Transpose, Reshape, Mean, ClassToken,
                                  PositionalEmbedding, SelfAttention, CausalMask)}


# ---------------------------------------------------------------------------- containers

def _check_same(label: str, what: list[str], outs: list, dim: int | None = None) -> None:
    shapes = [_shape(o) for o in outs]
    for w, o, s in zip(what, outs, shapes):
        if not isinstance(o, torch.Tensor):
            raise ShapeError(f"{label}: {w} gives a tuple {s}; add `- Item: 0` to pick a tensor")
    ref = shapes[0]
    for w, s in zip(what[1:], shapes[1:]):
        rank_ok = len(s) == len(ref)
        if dim is None:
            ok = s == ref
        else:
            d = dim % len(ref) if ref else 0
            ok = rank_ok and all(a == b for i, (a, b) in enumerate(zip(ref, s)) if i != d)
        if not ok:
            along = "" if dim is None else f" (all dims but {dim} must agree)"
            raise ShapeError(f"{label}: {what[0]} gives {ref} but {w} gives {s}{along}")


class Parts(nn.Module):
    """A container whose children run in groups (its parts), each group in order: a Residual's body,
    shortcut and after, a merge's branches. Its children read and write the tape as a Chain's do
    (model/flow.py): `saves` is what they write, `feeds` what they read (`in:`)."""

    def __init__(self, items: "dict[str, nn.Module]", parts: list, saves: dict, tape: dict,
                 feeds: dict | None = None):
        super().__init__()
        for k, m in items.items():
            self.add_module(k, m)
        self.parts = [tuple(p) for p in parts]  # names, not modules: the swap of a placeholder replaces _modules' entry
        self.saves = {k: list(v) for k, v in saves.items()}  # child name -> [(tape key, element index or None)]
        self.feeds = dict(feeds or {})  # child name -> ([tape key or None], {keyword: tape key or None})
        self._tape = tape
        self.where: dict = {}  # child name -> (Loc, label) of an item with `in:`/`out:` (flow.locate_outputs)

    def run(self, i: int, x):
        for name in self.parts[i]:
            feed = self.feeds.get(name)
            if feed is None:
                x = self._modules[name](x)
            else:
                args, kw = read_feed(feed, x, self._tape, self.where.get(name))
                x = self._modules[name](*args, **kw)
            write_saves(self.saves.get(name, ()), x, self._tape, self.where.get(name))
        return x


class Residual(Parts):
    """after(body(x) + shortcut(x)); the shortcut is the identity when it has no items, and so is after."""

    def forward(self, *xs):
        if len(xs) != 1:  # the network's first item gets every input: say so in the spec's terms
            raise ShapeError(f"a Residual reads one tensor; it got {len(xs)}: name the one it reads with `in: name`")
        x = xs[0]
        y = self.run(0, x)
        s = self.run(1, x) if self.parts[1] else x
        if not (isinstance(y, torch.Tensor) and isinstance(s, torch.Tensor) and y.shape == s.shape):
            _check_same("Residual", ["the body", "the shortcut" if self.parts[1] else "the identity shortcut"], [y, s])
        return self.run(2, y + s)


class _Merge(Parts):
    """Branches run on the same input, plus outputs of earlier named items (`from:`)."""

    def __init__(self, items, parts: list, refs: list[str], saves: dict, tape: dict, feeds: dict | None = None,
                 tensors=()):
        super().__init__(items, parts, saves, tape, feeds)
        self.refs = list(refs)
        self.tensors = frozenset(tensors)  # refs that are owned tensors: expanded over the batch

    def inputs(self, *xs) -> tuple[list, list]:
        """The operands in order: the branches' outputs (or the input itself), then `from:`'s, where
        a None in `refs` (`input` in `from:`) places the merge's own input. Without either, the
        tensors it was given (`in: [a, b]`)."""
        outs, what = [], []
        if not self.parts and not self.refs:
            if len(xs) < 2:
                raise ShapeError(f"{type(self).__name__} without branches or from: merges the tensors `in:` names; "
                                 f"it got {len(xs)}")
            return list(xs), [f"input {i + 1}" for i in range(len(xs))]
        if len(xs) != 1:
            raise ShapeError(f"{type(self).__name__} with branches or from: reads one input; it got {len(xs)}")
        x = xs[0]
        if self.parts:
            for i in range(len(self.parts)):
                outs.append(self.run(i, x))
                what.append(f"branch {i}")
        elif None not in self.refs:
            outs.append(x)
            what.append("its input")
        for r in self.refs:
            t = x if r is None else self._tape[r]
            if r in self.tensors:
                t = _over_batch(t, x)
            outs.append(t)
            what.append("its input" if r is None else f"'{r}'")
        return outs, what


def _over_batch(t, x):
    """An owned tensor of batch size 1 as the batch of `x` (torchvision's class_token.expand(n, -1, -1))."""
    if isinstance(x, torch.Tensor) and t.dim() == x.dim() and t.shape[0] == 1 and x.shape[0] != 1:
        return t.expand(x.shape[0], *t.shape[1:])
    return t


def _refs(refs: list) -> list:
    return ["input" if r is None else r for r in refs]


class Concat(_Merge):
    def __init__(self, items, parts, refs, saves, tape, feeds: dict | None = None, dim: int = 1, tensors=()):
        super().__init__(items, parts, refs, saves, tape, feeds, tensors)
        self.dim = dim

    def forward(self, *xs):
        outs, what = self.inputs(*xs)
        _check_same("Concat", what, outs, self.dim)
        return torch.cat(outs, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}" + (f", from={_refs(self.refs)}" if self.refs else "")


class Add(_Merge):
    """The sum of the branches (and `from:` outputs)."""

    def forward(self, *xs):
        outs, what = self.inputs(*xs)
        _check_same(type(self).__name__, what, outs)
        out = outs[0]
        for o in outs[1:]:
            out = self.combine(out, o)
        return out

    @staticmethod
    def combine(a, b):
        return a + b

    def extra_repr(self) -> str:
        return f"from={_refs(self.refs)}" if self.refs else ""


class Multiply(Add):
    """The elementwise product of the branches: gated units (SwiGLU: silu(gate(x)) * up(x))."""

    @staticmethod
    def combine(a, b):
        return a * b
