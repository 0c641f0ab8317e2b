"""Command-line texts: `--input` shapes and `--set` pairs (no torch)."""
from __future__ import annotations

import re

from shapecli.dtypes import input_name
from shapecli.errors import UsageError, did_you_mean, literal
from shapecli.spec.dims import parse_dims, unify_dims
from shapecli.spec.nodes import DTYPES, IDENT, MAX_INT, InputSpec
from shapecli.spec.yamlload import resolve_plain


def parse_set(items: list[str]) -> dict:
    """`--set hidden=512` pairs into {name: value} (values typed as YAML scalars)."""
    out = {}
    for item in items:
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq or not IDENT.match(name):
            raise UsageError(f"--set takes name=value, got '{literal(item)}'")
        try:
            out[name] = resolve_plain(value.strip())
        except ValueError as e:
            raise UsageError(f"--set {name}: {e}") from None
    return out


def parse_input_text(text: str, default: list | None = None) -> list:
    """`--input` text: `2,20`, `B,3,H=224,W=224`, `2,16:int64` (or `:bf16`, as --dtype spells it), several
    tensors as `2,10;2,20`. The one parser of input texts: the CLI's --input and the Python API's inputs.

    A named dimension without a sample size takes it from the spec's default input (same
    position, same rank), or is the batch (first position, sample 2); anywhere else it must be
    written with one (`H=224`) or a range (`H=32..1024`), so a typo such as `--input abc` is an
    error rather than a silent new input. A tensor written without a dtype has the dtype of the
    spec's input at its position (token ids stay int64), or float32.
    """
    if not text.strip():
        raise UsageError("--input is empty; write a shape such as 2,20")
    parts = text.split(";")
    names = [d.name for d in default or []]
    if any(names) and any(_NAMED.match(p) and _NAMED.match(p).group(1) in names for p in parts):
        parts = _by_name(text, parts, names, default)
    out = []
    for i, part in enumerate(parts):
        shape_text, _, dtype = part.strip().partition(":")
        written = dtype.strip()
        dtype = input_name(written) if written else default[i].dtype if default and i < len(default) else "float32"
        if dtype is None:
            raise UsageError(f"--input '{literal(text)}': unknown dtype '{literal(written)}'{did_you_mean(written, DTYPES)}")
        ref = default[i].shape if default and i < len(default) else None
        dims = parse_dims(shape_text, defaults=ref)
        same_rank = ref is not None and len(ref) == len(dims)
        for j, d in enumerate(dims):
            batch_ok = j == 0 and ref is None  # no default input to contradict: a lone name is the batch
            if d.name and getattr(d, "_defaulted", False) and d.lo is None and d.hi is None and not same_rank and not batch_ok:
                raise UsageError(f"--input '{literal(text)}': no sample size for {literal(d.name)}; write "
                                 f"{literal(d.name)}=<size> (e.g. {literal(d.name)}=224) or a range")
            if d.size > MAX_INT:
                raise UsageError(f"--input '{literal(text)}': {d.size} is too large")
        out.append(InputSpec(dims, dtype, default[i].name if default and i < len(default) else None))
    return _unified(out)


_NAMED = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$")


def _by_name(text: str, parts: list, names: list, default: list) -> list:
    """`src=2,7;tgt=2,5` for a spec with named inputs: each part put at its input's place, in any order;
    an input not given keeps the spec's shape and dtype."""
    out = [None] * len(names)
    for part in parts:
        m = _NAMED.match(part)
        if not m or m.group(1) not in names:
            raise UsageError(f"--input '{literal(text)}': name every tensor ({'; '.join(f'{n}=...' for n in names)}), "
                             f"or give them all in order without names")
        i = names.index(m.group(1))
        if out[i] is not None:
            raise UsageError(f"--input '{literal(text)}': {m.group(1)} is given twice")
        out[i] = m.group(2)
    return [p if p is not None else ",".join(map(str, d.shape)) + ":" + d.dtype for p, d in zip(out, default)]


def _unified(inputs: list) -> list:
    """One name, one size across all tensors of a sample (B in both inputs of a Bilinear)."""
    if sum(1 for i in inputs for d in i.dims if d.name) < 2:
        return inputs
    for inp, dims in zip(inputs, unify_dims([i.dims for i in inputs])):
        inp.dims = dims
    return inputs
