"""Keep the meta device cheap: scoped workarounds for costs torch pays on the meta path.

1. `fast_meta()`. Most of torch's Python meta kernels (torch._refs, torch._decomp) are
   wrapped by `torch._compile._disable_dynamo`, whose first call imports `torch._dynamo` (about
   1.3 s, 60 MiB) only to mark the function "do not trace". shapecli never compiles, so inside
   this context those wrappers find their "already disabled" cache pre-filled with the plain
   function; on exit the cache entries set here are removed again, so a later `torch.compile`
   in the same process sees torch exactly as it was. If torch._dynamo is already imported this
   part does nothing.

2. `skip_init()`. Constructing a layer on the meta device still runs its `reset_parameters`;
   `normal_`/`trunc_normal_` on meta go through the Python references (importing sympy and,
   without (1), dynamo). Values on meta do not exist, so while counting a layer's bytes (the
   CPU path's budget probe, and layers built on meta) in-place methods on meta tensors are
   skipped.

3. Also in `fast_meta()`: without numpy installed, torch's meta kernels run `import numpy` (in
   `torch.sym_max`) thousands of times per model, each a failed search of sys.path (about 3 s
   for GPT-3-shaped specs). While the context is active, a missing numpy is recorded in
   sys.modules as None, so the import fails at once, as it would anyway; removed on exit.

All are pure speed-ups: shapes, dtypes and parameter identities are unchanged.
"""
from __future__ import annotations

import importlib.util
import sys
import types
from contextlib import contextmanager

from ._torch import torch

_REF_MODULES = ("torch._refs", "torch._decomp", "torch._prims", "torch._meta_registrations")
_targets: list | None = None  # the functions the dynamo-disable wrappers guard, found once


def _find_targets() -> list:
    import torch._compile
    import torch._decomp  # noqa: F401  (imported by torch already; explicit for clarity)

    code = torch._compile._disable_dynamo(lambda: None).__code__
    try:
        slot = code.co_freevars.index("fn")
    except ValueError:  # a torch whose wrapper looks different: do nothing
        return []
    found: dict = {}
    seen: set = set()
    stack: list = []
    for name, mod in list(sys.modules.items()):
        if mod is not None and name.startswith(_REF_MODULES):
            stack.extend(v for v in list(vars(mod).values()) if callable(v))
    tables = [torch._decomp.decomposition_table, torch._decomp.meta_table,
              *torch._decomp.global_decomposition_table.values()]
    for table in tables:
        stack.extend(table.values())
    while stack:
        f = stack.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        c = getattr(f, "__code__", None)
        if c is code and f.__closure__:
            fn = f.__closure__[slot].cell_contents
            found[id(fn)] = fn
        w = getattr(f, "__wrapped__", None)
        if w is not None:
            stack.append(w)
        for cell in getattr(f, "__closure__", None) or ():
            try:
                v = cell.cell_contents
            except ValueError:
                continue
            if isinstance(v, types.FunctionType):
                stack.append(v)
    return list(found.values())


@contextmanager
def fast_meta():
    """Both speed-ups of (1) and (3) for the duration of a materialization."""
    global _targets
    mine, no_numpy = [], False
    try:
        if "torch._dynamo" not in sys.modules:
            if _targets is None:
                _targets = _find_targets()
            for fn in _targets:
                if getattr(fn, "__dynamo_disable", None) is None:
                    fn.__dynamo_disable = fn
                    mine.append(fn)
        if "numpy" not in sys.modules and importlib.util.find_spec("numpy") is None:
            sys.modules["numpy"] = None  # `import numpy` fails at once, as it would after a search
            no_numpy = True
    except Exception:  # noqa: BLE001 - a speed-up must never break a run
        pass
    try:
        yield
    finally:
        for fn in mine:
            if getattr(fn, "__dynamo_disable", None) is fn:
                try:
                    del fn.__dynamo_disable
                except AttributeError:
                    pass
        if no_numpy and "numpy" in sys.modules and sys.modules["numpy"] is None:
            del sys.modules["numpy"]


class _SkipInit(torch.overrides.TorchFunctionMode):
    """In-place methods (`normal_`, `uniform_`, `mul_`, ...) on a meta tensor return it untouched:
    an in-place op never changes its tensor's shape or dtype, and a meta tensor has no values."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name.endswith("_") and not name.endswith("__"):
            t = args[0] if args else kwargs.get("tensor", kwargs.get("self"))  # nn.init passes tensor=
            if isinstance(t, torch.Tensor) and t.is_meta:
                return t
        return func(*args, **kwargs)


@contextmanager
def skip_init():
    with _SkipInit():
        yield
