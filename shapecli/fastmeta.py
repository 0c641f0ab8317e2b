"""Keep the meta device cheap: process-wide workarounds for costs torch pays on the meta path.

Nothing in shapecli's library path uses this module: `materialize()`/`inspect()` never touch
sys.modules. It is installed once by the CLI process (`install()`, from shapecli/cli/startup.py,
as torch is imported), or by a library user's explicit opt-in, `shapecli.fast_meta()` (a context:
process-wide, not thread-safe). docs/performance.md has what each costs without it.

1. Stand-ins for three modules torch imports on the meta path only to answer questions whose
   answer is known there. While installed, and only for a module not yet imported, a small
   stand-in takes its place in sys.modules:

   - `torch._dynamo` (about 1.3 s, 60 MiB): most of torch's Python meta kernels are wrapped by
     `torch._compile._disable_dynamo`, whose first call imports dynamo only to mark the function
     "do not trace" (it caches `torch._dynamo.disable(fn)` on `fn.__dynamo_disable`). Nothing
     is compiled here, so the stand-in's `disable` hands back the function itself; those marks
     are removed on exit, so a later `torch.compile` sees torch as it was.
   - `torch.fx.experimental.symbolic_shapes` (imports sympy: about 0.25 s, most of what shaping
     GPT-2 small costs beyond `import torch`): meta kernels call a dozen of its helpers
     (`torch._check` -> `expect_true`, `guard_or_false`, `sym_eq`, ...), one-liners for the
     plain ints and bools that are every size on a meta run. The stand-in has them, written as
     torch writes them.
   - `sympy`: torch's type promotion imports it only to ask `isinstance(x, sympy.Basic)`, which
     is False for every object while sympy is not imported.

   Anything else asked of a stand-in, a symbolic value (a SymInt), or an import of a submodule
   (`import torch._dynamo.exc`: `_Finder`) retires every stand-in at once and imports the real
   modules, which answer from then on: slower, never different.

2. Without numpy installed, torch's meta kernels run `import numpy` (in
   `torch.sym_max`) thousands of times per model, each a failed search of sys.path (about 3 s
   for GPT-3-shaped specs). While installed, a missing numpy is recorded in
   sys.modules as None, so the import fails at once, as it would anyway; uninstall() removes it.

Both are pure speed-ups: shapes, dtypes and parameter identities are unchanged. Neither is
thread-safe: they change sys.modules for every thread. (`skip_init`, which is per-thread and
stays in the library path, lives in shapecli/model/skipinit.py.)
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import operator
import sys
import types
from contextlib import contextmanager

from shapecli._torch import torch


class _StandIn(types.ModuleType):
    """A module's place in sys.modules, held while the real module is not imported (see 1).

    Names a subclass defines answer for plain values. Any other name (or a symbolic value) ends
    every stand-in at once: the real modules are imported and answer from then on."""

    package = False  # True where the real module is a package: its submodules may be imported

    def __init__(self, name: str):
        super().__init__(name)
        if self.package:
            self.__path__ = []  # a package: `import sympy.core` asks the finders, and _Finder answers

    def __getattr__(self, name):
        if name.startswith("__"):  # the import system asks for __path__ etc.: a plain module has none
            raise AttributeError(name)
        return getattr(self._standin_real(), name)

    def _standin_real(self) -> types.ModuleType:
        _retire_stand_ins()  # the real import (and whatever it imports) must see real modules only
        return importlib.import_module(self.__name__)

    def _standin_install(self) -> bool:
        """Take the module's place if it is free (the parent package loaded, the module not)."""
        parent_name, _, leaf = self.__name__.rpartition(".")
        parent = sys.modules.get(parent_name) if parent_name else None
        # vars(), not hasattr: torch's own __getattr__ would import torch._dynamo to answer
        if self.__name__ in sys.modules or (parent_name and (parent is None or leaf in vars(parent))):
            return False
        sys.modules[self.__name__] = self
        if parent is not None:
            setattr(parent, leaf, self)
        if not _active:
            sys.meta_path.insert(0, _FINDER)
        _active.append(self)
        return True

    def _standin_remove(self) -> None:
        parent_name, _, leaf = self.__name__.rpartition(".")
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        parent = sys.modules.get(parent_name) if parent_name else None
        if parent is not None and vars(parent).get(leaf) is self:
            delattr(parent, leaf)


_active: list = []  # the stand-ins now in sys.modules


def _retire_stand_ins() -> None:
    while _active:
        _active.pop()._standin_remove()
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)


class _Finder:
    """First on sys.meta_path while stand-ins are active: importing a submodule of one
    (`import torch._dynamo.utils`, `from sympy.core import S`) retires them all, and the real
    package and its submodule are imported as they would have been."""

    @staticmethod
    def find_spec(fullname, path=None, target=None):
        if not any(fullname.startswith(s.__name__ + ".") for s in _active):
            return None
        _retire_stand_ins()
        importlib.import_module(fullname.rpartition(".")[0])  # the real parent, and what it imports
        # The real parent may have imported it already: hand that very module over (taken out of
        # sys.modules until the import system puts it back, or it would load a second copy).
        done = sys.modules.pop(fullname, None)
        if done is not None:
            return importlib.util.spec_from_loader(fullname, _Loaded(done))
        return importlib.util.find_spec(fullname)


class _Loaded:
    """The loader of a module that is already imported: the import system gets it unchanged."""

    def __init__(self, module):
        self.module, self.spec, self.loader = module, module.__spec__, getattr(module, "__loader__", None)

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        module.__spec__, module.__loader__ = self.spec, self.loader  # as they were before the hand-over


_FINDER = _Finder()


def _is_bool(a) -> bool:
    return isinstance(a, bool)


class _ConcreteShapes(_StandIn):
    """torch.fx.experimental.symbolic_shapes: the helpers meta kernels call, for plain values
    exactly as torch's own answer; anything else goes to torch's own."""

    def expect_true(self, a, skip: int = 0):
        return a if type(a) is bool else self._standin_real().expect_true(a, skip + 1)

    def guard_or_false(self, a):
        return a if _is_bool(a) else self._standin_real().guard_or_false(a)

    def guard_or_true(self, a):
        return a if _is_bool(a) else self._standin_real().guard_or_true(a)

    def guard_size_oblivious(self, expr):
        return expr if _is_bool(expr) else self._standin_real().guard_size_oblivious(expr)

    def statically_known_true(self, x):
        return x if _is_bool(x) else self._standin_real().statically_known_true(x)

    def guard_int(self, a):
        return a if type(a) is int else self._standin_real().guard_int(a)

    def sym_eq(self, x, y):
        if isinstance(x, (tuple, list)) and isinstance(y, (tuple, list)):
            if len(x) != len(y):
                return False
            return functools.reduce(operator.and_, map(self.sym_eq, x, y), True)
        if type(x) is int and type(y) is int:
            return x == y
        return self._standin_real().sym_eq(x, y)

    def sym_and(self, x, *others):  # plain operators, the same for symbolic values
        for y in others:
            x = operator.and_(x, y)
        return x

    def sym_or(self, x, *others):
        for y in others:
            x = operator.or_(x, y)
        return x

    def is_nested_int(self, s):
        return isinstance(s, torch.SymInt) and self._standin_real().is_nested_int(s)

    def has_guarding_hint(self, a):
        return True if isinstance(a, (bool, int, float)) else self._standin_real().has_guarding_hint(a)

    def guarding_hint_or_throw(self, a):
        return a if _is_bool(a) or type(a) is int else self._standin_real().guarding_hint_or_throw(a)


class _NoSympy(_StandIn):
    """sympy, before anything imported it: torch's type promotion only asks `isinstance(x,
    sympy.Basic)`, and while sympy is not imported no sympy object can exist, so a class of
    its own that nothing is an instance of gives the same answer. Once the real sympy is
    imported (by this or by anyone), its own Basic is returned."""

    package = True

    class _Unimported:
        pass

    def __getattr__(self, name):
        if name == "Basic" and sys.modules.get("sympy") is self:
            return self._Unimported
        return super().__getattr__(name)


class _NoDynamo(_StandIn):
    """torch._dynamo, for `_disable_dynamo`'s one question: nothing is traced, so `disable(fn)` is fn."""

    package = True

    def __init__(self, name: str):
        super().__init__(name)
        self._marked: list = []  # functions torch then marked with __dynamo_disable = fn

    def disable(self, fn=None, recursive=True, **kwargs):
        if not callable(fn):  # the decorator-factory form: not what meta kernels use
            return self._standin_real().disable(fn, recursive, **kwargs)
        self._marked.append(fn)
        return fn

    def _standin_remove(self) -> None:
        super()._standin_remove()
        for fn in self._marked:  # (strings: a name in a class body would be mangled)
            if getattr(fn, "__dynamo_disable", None) is fn:
                delattr(fn, "__dynamo_disable")
        self._marked.clear()


def install() -> bool:
    """Install the stand-ins and the missing numpy for the rest of the process (the CLI does, once,
    as torch is imported: shapecli/cli/startup.py). Process-wide; not for a library call.
    Returns whether numpy was recorded as missing."""
    try:
        if not _active:  # (not twice)
            for stand_in in (_NoDynamo("torch._dynamo"), _ConcreteShapes("torch.fx.experimental.symbolic_shapes"),
                             _NoSympy("sympy")):
                stand_in._standin_install()
        if "numpy" not in sys.modules and importlib.util.find_spec("numpy") is None:
            sys.modules["numpy"] = None  # `import numpy` fails at once, as it would after a search
            return True
    except Exception:  # noqa: BLE001 - a speed-up must never break a run
        pass
    return False


def uninstall(no_numpy: bool = False) -> None:
    """Undo install(): the real modules answer from now on; marks of (1) removed."""
    if no_numpy and "numpy" in sys.modules and sys.modules["numpy"] is None:
        del sys.modules["numpy"]
    _retire_stand_ins()


@contextmanager
def fast_meta():
    """The stand-ins of (1) and the missing numpy of (2) for the duration of the block: an explicit
    opt-in for library users who shape big models on meta (exported as `shapecli.fast_meta`).

    PROCESS-WIDE and NOT THREAD-SAFE: it changes sys.modules for every thread while active. Use it
    only where no other thread imports or uses torch's compiler stack (torch.compile, torch.export,
    dynamo, sympy) meanwhile; shapecli's own symbolic pass is such a user."""
    no_numpy = install()
    try:
        yield
    finally:
        uninstall(no_numpy)
