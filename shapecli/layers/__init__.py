"""The closed layer registry: which layer types a spec may name, and everything each pass knows about them.

Names map to `torch.nn` classes (looked up by the name in this table, never by a name taken
from a spec) or to shapecli's glue layers. The table itself needs no torch, so parsing and
`--help` stay fast; `cls()`/`signature()` import torch when a model is actually built.

record.py holds the record of one layer type, catalog.py declares them all, signature.py reads
constructors. `registered(record, ...)` adds layer types for a `with` block, seen only by the
code running in that context (this thread, this asyncio task): other threads keep the catalog.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Mapping
from typing import Iterator, Optional

from shapecli.layers.catalog import ALIASES, BUILTIN, CONTAINERS, MERGES, NOT_LAYERS  # noqa: F401
from shapecli.layers.record import LayerType, missing
from shapecli.layers.signature import Param, Signature, read_signature

_SCOPED: contextvars.ContextVar[dict] = contextvars.ContextVar("shapecli_layers", default={})


class _Registry(Mapping):
    """The catalog's records, plus those `registered` in the current context."""

    def __getitem__(self, name: str) -> LayerType:
        scoped = _SCOPED.get()
        if scoped and name in scoped:
            return scoped[name]
        return BUILTIN[name]

    def get(self, name, default=None):  # Mapping.get's try/except and extra call cost ~0.5 µs (30,001 items)
        scoped = _SCOPED.get()
        if scoped and name in scoped:
            return scoped[name]
        return BUILTIN.get(name, default)

    def __contains__(self, name) -> bool:
        return name in BUILTIN or name in _SCOPED.get()

    def __iter__(self) -> Iterator[str]:
        yield from BUILTIN
        yield from _SCOPED.get()

    def __len__(self) -> int:
        return len(BUILTIN) + len(_SCOPED.get())


REGISTRY = _Registry()


@contextlib.contextmanager
def registered(*records: LayerType):
    """Make `records` layer types a spec may name, for the `with` block and this context only.

    A record registered here gives its class (`cls=`); its rules may be functions. The names
    may not shadow a catalog type, a container or another registered type."""
    scoped = dict(_SCOPED.get())
    for r in records:
        if r.name in REGISTRY or r.name in CONTAINERS or r.name in scoped:
            raise ValueError(f"layer type {r.name!r} is already registered")
        if r.cls is None:
            raise ValueError(f"layer type {r.name!r}: a registered record gives its class (cls=...)")
        if missing(r):
            raise ValueError(f"layer type {r.name!r} lacks {', '.join(missing(r))}")
        scoped[r.name] = r
    token = _SCOPED.set(scoped)
    try:
        yield
    finally:
        _SCOPED.reset(token)


def canonical(name: str) -> str | None:
    """The registry name for a spec's layer name (aliases resolved), or None."""
    if name in REGISTRY or name in CONTAINERS:
        return name
    return ALIASES.get(name)


def known_names() -> list[str]:
    names = sorted(REGISTRY) if _SCOPED.get() else list(_sorted_builtin())
    return names + list(CONTAINERS)


@functools.lru_cache(maxsize=1)
def _sorted_builtin() -> tuple:
    return tuple(sorted(BUILTIN))


def get(name: str) -> LayerType:
    return REGISTRY[name]


def cls(name: str):
    """The Python class for a registry name (imports torch)."""
    return _class_of(REGISTRY[name])


def _class_of(lt: LayerType):
    if lt.cls is not None:
        return lt.cls
    if lt.glue:
        from shapecli.model import glue

        return glue.GLUE[lt.name]
    from shapecli._torch import nn

    return getattr(nn, lt.name)  # lt.name is from the catalog, never from a spec


_BY_CLASS: dict = {}  # the catalog's {class: record}, built once (replaced whole, never changed in place)


def of_class(klass: type) -> Optional[LayerType]:
    """The record of a class: its own, or its nearest registered base class's (torch's
    NonDynamicallyQuantizableLinear is a Linear); None for a class no record covers."""
    scoped = _SCOPED.get()
    by_class = _BY_CLASS or _build_by_class()
    extra = {lt.cls: lt for lt in scoped.values()} if scoped else {}
    for k in klass.__mro__:
        lt = extra.get(k) or by_class.get(k)
        if lt is not None:
            return lt
    return None


def of_module(module) -> Optional[LayerType]:
    return of_class(type(module))


def classes() -> dict:
    """{class: record} of every layer type known in this context (imports torch)."""
    scoped = _SCOPED.get()
    return {**(_BY_CLASS or _build_by_class()), **{lt.cls: lt for lt in scoped.values()}}


def _build_by_class() -> dict:
    global _BY_CLASS
    table = {}
    for lt in BUILTIN.values():
        try:
            table[_class_of(lt)] = lt
        except AttributeError:  # a class this torch lacks
            continue
    _BY_CLASS = table  # one assignment: the same table whichever thread builds it
    return table


_SIGS: dict = {}


def signature(name: str) -> Signature:
    """The constructor's parameters as a spec sees them (imports torch on first use)."""
    lt = REGISTRY[name]
    sig = _SIGS.get(lt)
    if sig is None:
        base = None
        if lt.signature_of:
            from shapecli._torch import nn

            base = getattr(nn, lt.signature_of)
        sig = read_signature(lt, _class_of(lt), base)
        if BUILTIN.get(name) is lt:  # a record registered for a while is read again each time
            _SIGS[lt] = sig
    return sig


__all__ = ["ALIASES", "CONTAINERS", "MERGES", "NOT_LAYERS", "REGISTRY", "LayerType", "Param", "Signature",
           "canonical", "classes", "cls", "get", "known_names", "of_class", "of_module", "registered", "signature"]
