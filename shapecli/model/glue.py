"""shapecli's own small layers: the glue real models need between torch.nn layers.

Each is a plain nn.Module a user could train; docs/spec.md documents them. Containers
(Residual, Concat, Add, and Chain: a Sequential that keeps what `from:` reads) are here too;
model/lazy.py's build() wires their children. None of them needs a hook: a `from:` reference is
a dict (the tape) that the Chain holding the named item writes and the merge reads, inside their
forward, and that the network empties before and after each call.
"""
from collections import OrderedDict

from shapecli._torch import nn, torch
from shapecli.errors import ShapeError
from shapecli.model import owned as _owned
from shapecli.model.owned import LazySave


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


GLUE = {c.__name__: c for c in (Item, Select, Permute, Transpose, Reshape, Mean, ClassToken,
                                  PositionalEmbedding, SelfAttention)}


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


class Residual(nn.Module):
    """body(x) + shortcut(x); the shortcut is the identity when absent."""

    def __init__(self, body: nn.Module, shortcut: nn.Module | None = None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        y = self.body(x)
        s = self.shortcut(x) if self.shortcut is not None else x
        if not (isinstance(y, torch.Tensor) and isinstance(s, torch.Tensor) and y.shape == s.shape):
            _check_same("Residual", ["the body", "the shortcut" if self.shortcut is not None else "the identity shortcut"], [y, s])
        return y + s


class Chain(LazySave, nn.Sequential):
    """A Sequential that also writes the outputs of its items named by a later `from:` on the tape,
    and owns the tensors its `Parameter:`/`Buffer:` items declare (model/owned.py)."""

    def __init__(self, items: "OrderedDict[str, nn.Module]", saves: dict, tape: dict, owned: tuple = ()):
        super().__init__(items)
        self.saves = dict(saves)  # child name -> the path a merge reads it by
        self._tape = tape  # shared with the merges that read it
        self.owned_at: dict = {}  # child index -> [owned.Owned] declared before it (len: after the last)
        for o in owned:
            self.owned_at.setdefault(o.at, []).append(o)
        self._build = self._load = None  # while a tensor it owns is unbuilt: the BuildContext, the load hook
        if owned:
            _owned.register(self, list(owned))
            self._load = self.register_load_state_dict_pre_hook(_owned.load_hook)

    def reach(self, i: int, x) -> None:
        for o in self.owned_at[i]:
            _owned.reach(self, o, x, self._tape, self._build)
        if self._build is not None and not _owned.pending(self):
            self._build = None  # built: the model keeps no reference to the build, nor a hook
            self._load.remove()
            self._load = None

    def forward(self, x):
        at = self.owned_at
        for i, (name, m) in enumerate(self._modules.items()):
            if at and i in at:
                self.reach(i, x)
            x = m(x)
            if name in self.saves:
                self._tape[self.saves[name]] = x
        if at and len(self._modules) in at:
            self.reach(len(self._modules), x)
        return x


class _Merge(nn.Module):
    """Branches run on the same input, plus outputs of earlier named items (`from:`)."""

    def __init__(self, branches: list[nn.Module], refs: list[str], tape: dict, tensors=()):
        super().__init__()
        for i, b in enumerate(branches):
            self.add_module(str(i), b)
        self.refs = list(refs)
        self._tape = tape  # shared with the Chains that fill it
        self.tensors = frozenset(tensors)  # refs that are owned tensors: expanded over the batch

    def inputs(self, x) -> tuple[list, list]:
        """The operands in order: the branches' outputs (or the input itself), then `from:`'s, where
        a None in `refs` (`input` in `from:`) places the merge's own input."""
        outs, what = [], []
        branches = list(self.children())
        if branches:
            for i, b in enumerate(branches):
                outs.append(b(x))
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
    def __init__(self, branches, refs, tape, dim: int = 1, tensors=()):
        super().__init__(branches, refs, tape, tensors)
        self.dim = dim

    def forward(self, x):
        outs, what = self.inputs(x)
        _check_same("Concat", what, outs, self.dim)
        return torch.cat(outs, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}" + (f", from={_refs(self.refs)}" if self.refs else "")


class Add(_Merge):
    """The sum of the branches (and `from:` outputs)."""

    def forward(self, x):
        outs, what = self.inputs(x)
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
