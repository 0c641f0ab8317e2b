"""Checkpoints as baselines: a weights file's names, shapes and dtypes, compared with a spec's Report.

Nothing is loaded but the names, shapes and dtypes: a `.safetensors` file's header is read with
the `safetensors` package (an optional dependency: `pip install shapecli[checkpoints]`); a
`.pt`/`.pth`/`.bin` state dict is opened with `torch.load(weights_only=True, mmap=True,
map_location="meta")`, which refuses any pickled code and maps no tensor data into memory.
The differences come back as baseline Changes (changes.py), so every `check` format draws them.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field, replace

from shapecli import dtypes
from shapecli.baseline.changes import Change, Detail
from shapecli.names import local_name
from shapecli.shapes import dims_text
from shapecli.errors import BaselineError, Loc

SAFETENSORS_SUFFIXES = (".safetensors",)
TORCH_SUFFIXES = (".pt", ".pth", ".bin")
SUFFIXES = SAFETENSORS_SUFFIXES + TORCH_SUFFIXES
# Keys a training script wraps a state dict in: {"state_dict": {...}, "epoch": 3, ...}.
WRAPPERS = ("state_dict", "model_state_dict", "model", "module", "net", "network", "weights", "params")
# safetensors dtype codes -> torch's names.
ST_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
             "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool", "C64": "complex64",
             "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2", "U16": "uint16", "U32": "uint32",
             "U64": "uint64"}


@dataclass
class Entry:
    name: str
    shape: list
    dtype: str  # torch's name: "float32"


@dataclass
class Checkpoint:
    path: str
    format: str  # "safetensors" | "torch"
    entries: list = field(default_factory=list)  # [Entry]: by name for safetensors, else in the file's order
    wrapper: str | None = None  # the key the state dict was found under, when it was wrapped
    skipped: list = field(default_factory=list)  # keys beside the tensors (epoch, optimizer, ...)
    prefix: str = ""  # taken off every key by strip_prefix ("module.": DataParallel's)


def is_checkpoint(path: str) -> bool:
    return str(path).lower().endswith(SUFFIXES)


def read_checkpoint(path: str) -> Checkpoint:
    """The tensors a checkpoint file holds (names, shapes, dtypes); BaselineError (exit 2) if it cannot be read."""
    path = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise BaselineError("no such file", Loc(path)) from None
    except OSError as e:
        raise BaselineError(f"cannot read: {e.strerror or e}", Loc(path)) from None
    if not stat.S_ISREG(st.st_mode):
        raise BaselineError("not a regular file", Loc(path))
    if path.lower().endswith(SAFETENSORS_SUFFIXES):
        return read_safetensors(path)
    if path.lower().endswith(TORCH_SUFFIXES):
        return read_torch(path)
    raise BaselineError(f"not a checkpoint: expected a file ending in {', '.join(SUFFIXES)}", Loc(path))


def read_safetensors(path: str) -> Checkpoint:
    try:
        from safetensors import safe_open
    except ImportError:
        raise BaselineError("reading .safetensors needs the safetensors package: "
                            "pip install 'shapecli[checkpoints]' (or pip install safetensors)", Loc(path)) from None
    from shapecli._torch import torch  # noqa: F401  (framework="pt" imports torch: shapecli's quiet import first)

    out = Checkpoint(path, "safetensors")
    try:
        with safe_open(path, framework="pt", device="cpu") as f:
            for name in f.keys():  # noqa: SIM118 (safe_open is not a dict)
                sl = f.get_slice(name)  # a view on the header: no tensor data read
                code = sl.get_dtype()
                out.entries.append(Entry(name, list(sl.get_shape()), ST_DTYPES.get(code, code.lower())))
    except Exception as e:  # safetensors raises its own SafetensorError for a bad header
        raise BaselineError(f"not a readable safetensors file: {_first_line(e)}", Loc(path)) from None
    return out


def read_torch(path: str) -> Checkpoint:
    _torch_zip(path)
    from shapecli import warncapture
    from shapecli._torch import torch

    try:
        # torch.load warns about odd files ("Detected pickle protocol 36 in the checkpoint ...", found by
        # fuzzing): raw on stderr, outside the one-line format; what counts is whether the file loads.
        with warncapture.ignore():
            obj = torch.load(path, weights_only=True, mmap=True, map_location="meta")
    except Exception as e:  # pickle.UnpicklingError for code, RuntimeError for a legacy or broken file
        msg = _first_line(e)
        if "weights_only" in msg.lower() or "unpickl" in type(e).__name__.lower() or "Unsupported global" in msg:
            raise BaselineError("refused: the file holds pickled code or objects other than tensors "
                                "(loaded with weights_only=True; nothing was executed)", Loc(path)) from None
        raise BaselineError(f"cannot read as a PyTorch state dict: {msg}", Loc(path)) from None
    out = Checkpoint(path, "torch")
    obj = _unwrap(obj, out)
    for name, t in obj.items():
        if isinstance(t, torch.Tensor):
            out.entries.append(Entry(str(name), list(t.shape), dtypes.torch_name(t.dtype)))
        else:
            out.skipped.append(str(name))
    if not out.entries and obj:  # an empty state dict is a model's without parameters or buffers, as in .safetensors
        nested = [str(k) for k, v in obj.items() if isinstance(v, dict) and any(isinstance(t, torch.Tensor)
                                                                               for t in v.values())]
        if nested:
            raise BaselineError(f"the tensors are nested under {', '.join(repr(k) for k in nested[:5])}; shapecli "
                                f"unwraps a state dict kept under one of {', '.join(WRAPPERS)}: save the one "
                                f"to check on its own (torch.save(ckpt[{nested[0]!r}], ...))", Loc(path))
        raise BaselineError("the file holds no tensors (not a state dict)", Loc(path))
    return out


def _torch_zip(path: str) -> None:
    """torch.save's format is a zip archive (since torch 1.6): anything else is said plainly, before torch reads it."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise BaselineError(f"cannot read: {e.strerror or e}", Loc(path)) from None
    if not head:
        raise BaselineError("the file is empty", Loc(path))
    if head[:1] == b"\x80":  # a bare pickle: the legacy format, which cannot be memory-mapped
        raise BaselineError("a PyTorch file in the legacy format (before torch 1.6, or "
                            "_use_new_zipfile_serialization=False): load it and torch.save it again to check it",
                            Loc(path))
    if head != b"PK\x03\x04":
        raise BaselineError("not a PyTorch state dict: torch.save writes a zip archive, this file is not one", Loc(path))


def _unwrap(obj, out: Checkpoint) -> dict:
    from shapecli._torch import torch

    if not isinstance(obj, dict):
        raise BaselineError(f"expected a state dict (a mapping of names to tensors), got {type(obj).__name__}",
                            Loc(out.path))
    has_tensors = any(isinstance(v, torch.Tensor) for v in obj.values())
    if not has_tensors:
        for k in WRAPPERS:
            inner = obj.get(k)
            if isinstance(inner, dict) and any(isinstance(v, torch.Tensor) for v in inner.values()):
                out.wrapper = k
                out.skipped = [str(x) for x in obj if x != k]
                return inner
    return obj


def strip_prefix(ck: Checkpoint, names) -> Checkpoint:
    """The checkpoint with a prefix that every key has taken off ("module." from DataParallel,
    "_orig_mod." from torch.compile, a training wrapper's attribute), where that matches more of
    the spec's `names` than the keys as they are; the prefix is kept in `Checkpoint.prefix`."""
    names = set(names)
    best, best_hits = ("", ck.entries), sum(e.name in names for e in ck.entries)
    entries, prefix = ck.entries, ""
    while entries and all("." in e.name for e in entries):  # every key's first part, then the next one
        head = entries[0].name.split(".", 1)[0] + "."
        if not all(e.name.startswith(head) for e in entries):
            break
        entries, prefix = [Entry(e.name[len(head):], e.shape, e.dtype) for e in entries], prefix + head
        hits = sum(e.name in names for e in entries)
        if hits > best_hits:
            best, best_hits = (prefix, entries), hits
    return replace(ck, entries=best[1], prefix=best[0]) if best[0] else ck


def notes(ck: Checkpoint) -> list:
    """What a check says about a checkpoint beside its changes: what was read, unwrapped and renamed."""
    values = 0
    for e in ck.entries:
        n = 1
        for d in e.shape:
            n *= d
        values += n
    out = [f"checkpoint ({ck.format}): {len(ck.entries):,} tensor{'s' if len(ck.entries) != 1 else ''}, "
           f"{values:,} values; names, shapes and dtypes compared"]
    if ck.wrapper:
        out.append(f"the state dict was read from the file's '{ck.wrapper}' entry" +
                   (f" (beside it: {', '.join(ck.skipped[:8])}{', ...' if len(ck.skipped) > 8 else ''})"
                    if ck.skipped else ""))
    elif ck.skipped:
        out.append(f"entries that are not tensors were left out: {', '.join(ck.skipped[:8])}"
                   f"{', ...' if len(ck.skipped) > 8 else ''}")
    if ck.prefix:
        out.append(f"the prefix '{ck.prefix}' was taken off every key of the file")
    return out


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__


# ---------------------------------------------------------------------------- comparing

def non_persistent_buffers(model) -> set:
    """The buffer names a model's state_dict() leaves out (registered with persistent=False)."""
    out = set()
    for prefix, m in model.named_modules():
        for b in getattr(m, "_non_persistent_buffers_set", ()):
            out.add(f"{prefix}.{b}" if prefix else b)
    return out


def expected_entries(report, non_persistent: set = frozenset()) -> list:
    """What the spec model's state_dict() holds, in its order: parameters (tied ones under each name)
    and persistent buffers, as [(name, layer path, shape, dtype, shared with)]."""
    out = [(p.name, p.layer, p.shape, p.dtype, p.shared_with) for p in report.params]
    out += [(b.name, b.layer, b.shape, b.dtype, None) for b in report.buffers
            if b.name not in non_persistent and b.persistent]
    return out


def compare_checkpoint(report, entries: list, non_persistent: set = frozenset()) -> list:
    """The differences between a spec's Report and a checkpoint's tensors, as Changes in spec terms:
    one per layer, naming its path and spec line; old = the checkpoint, new = the spec.

    Missing keys (in the spec, not the file), unexpected keys (in the file, not the spec), shape and
    dtype mismatches. A tied parameter may be stored once (safetensors does): it is missing only if
    neither of its names is in the file. `non_persistent`: buffer names state_dict() leaves out.
    """
    have = {e.name: e for e in entries}
    layers = {lay.path: lay for lay in report.layers}
    by_layer: dict = {}
    want = expected_entries(report, non_persistent)
    names = {w[0] for w in want}
    aliases: dict = {}  # a tied parameter's names, each of them
    for name, _, _, _, shared in want:
        if shared is not None:
            group = aliases.setdefault(shared, {shared})
            group.add(name)
            aliases[name] = group
    for name, layer, shape, dtype, shared in want:
        local = local_name(name, layer)
        e = have.get(name)
        if e is None:
            if any(a in have for a in aliases.get(name, ())):
                continue
            by_layer.setdefault(layer, []).append(Detail(local, "missing", dims_text(shape)))
            continue
        if list(e.shape) != list(shape):
            by_layer.setdefault(layer, []).append(Detail(local, dims_text(e.shape), dims_text(shape)))
        if e.dtype != dtype:
            by_layer.setdefault(layer, []).append(Detail(f"{local} dtype", e.dtype, dtype))
    paths = sorted(layers, key=len, reverse=True)
    for e in entries:
        if e.name in names:
            continue
        layer = next((p for p in paths if p and e.name.startswith(p + ".")), "")
        local = local_name(e.name, layer)
        by_layer.setdefault(layer, []).append(Detail(local, dims_text(e.shape), "not in spec"))
    order = {lay.path: i for i, lay in enumerate(report.layers)}
    out = []
    for layer in sorted(by_layer, key=lambda p: order.get(p, len(order)) if p else len(order)):  # the network's last
        lay = layers.get(layer)
        out.append(Change("changed", layer, lay.type if lay else "", lay.line if lay else None, by_layer[layer]))
    return out
