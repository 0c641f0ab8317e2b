"""A model written in Python, named on the command line: `pkg.mod:Net`, `path/to/net.py:make`,
`'torchvision.models:resnet50(num_classes=10)'`.

Parsing is pure (no import, no torch): `is_target` tells a Python target from a spec path, `parse`
splits it and reads the keyword arguments with `ast.literal_eval` (literals only: nothing is
evaluated). `load` imports the module, finds the attribute and calls it; importing is running the
user's code, so only the CLI's and the API's explicit targets reach `load` (never a spec, a
baseline, a directory walk or a glob: docs/python.md).
"""
from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field

from shapecli.errors import Loc, UsageError, literal

_TARGET = re.compile(r"(?P<mod>[^:()\s][^:()]*?):(?P<attr>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*(?:\((?P<args>.*)\))?",
                     re.DOTALL)
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


@dataclass(frozen=True)
class PyTarget:
    text: str  # as given: what a report and a baseline record
    module: str  # a dotted module name, or a .py file's path
    attr: str  # a (dotted) attribute of the module
    kwargs: dict = field(default_factory=dict)  # literal keyword arguments for a callable
    called: bool = False  # written with parentheses: `make()`

    @property
    def is_file(self) -> bool:
        return self.module.endswith(".py")

    @property
    def name(self) -> str:
        """What the report calls the model: the attribute's last part (`resnet50`)."""
        return self.attr.rsplit(".", 1)[-1]


def is_target(text: str) -> bool:
    """Whether `text` names a Python model (MODULE:ATTR, FILE.py:ATTR) rather than a spec file."""
    if not isinstance(text, str) or os.path.lexists(text):
        return False
    m = _TARGET.fullmatch(text.strip())
    return m is not None and (m["mod"].endswith(".py") or _DOTTED.fullmatch(m["mod"]) is not None)


def parse(text: str) -> PyTarget:
    """Split a target; its arguments are Python literals given by name (UsageError otherwise)."""
    m = _TARGET.fullmatch(text.strip())
    if m is None or not (m["mod"].endswith(".py") or _DOTTED.fullmatch(m["mod"])):
        raise UsageError(f"'{literal(text)}': a Python target is MODULE:ATTR or FILE.py:ATTR, "
                         "optionally with literal keyword arguments: 'pkg.mod:make(num_classes=10)'")
    kwargs = {}
    if m["args"] is not None and m["args"].strip():
        try:
            call = ast.parse(f"f({m['args']})", mode="eval").body
        except SyntaxError:
            raise UsageError(f"'{literal(text)}': the arguments are not Python syntax") from None
        if not isinstance(call, ast.Call) or call.args or any(k.arg is None for k in call.keywords):
            raise UsageError(f"'{literal(text)}': give the arguments by name, as literals (num_classes=10)")
        for k in call.keywords:
            try:
                kwargs[k.arg] = ast.literal_eval(k.value)
            except (ValueError, SyntaxError, TypeError):
                raise UsageError(f"'{literal(text)}': {k.arg}={literal(ast.unparse(k.value))} is not a Python "
                                 "literal (numbers, strings, True/False/None, tuples, lists, dicts)") from None
    return PyTarget(text.strip(), m["mod"], m["attr"], kwargs, m["args"] is not None)


def resolve(target: PyTarget):
    """Import the target's module (running its code) and return its attribute, unevaluated."""
    module = _import(target)
    obj = module
    for part in target.attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            import difflib

            names = [n for n in dir(obj) if not n.startswith("_")]
            near = difflib.get_close_matches(part, names, 3)
            hint = f" (did you mean {', '.join(near)}?)" if near else ""
            raise UsageError(f"'{target.module}' has no attribute '{target.attr}'{hint}", Loc(target.text)) from None
    return obj


def instantiate(target: PyTarget, obj, device: str | None = None):
    """The nn.Module `obj` is, or the one it returns when called with the target's arguments.
    device "meta": called under torch.device("meta") (its init runs on meta kernels: no values)."""
    from shapecli._torch import nn, torch

    if isinstance(obj, nn.Module):
        if target.kwargs or target.called:
            raise UsageError(f"'{target.attr}' is a module instance, not a callable", Loc(target.text))
        return obj
    if not callable(obj):
        raise UsageError(f"'{target.attr}' is a {type(obj).__name__}, not an nn.Module or a callable that returns one",
                         Loc(target.text))
    try:
        if device == "meta":  # on meta kernels: no values, no memory
            with torch.device("meta"):
                model = obj(**target.kwargs)
        else:
            model = obj(**target.kwargs)
    except Exception as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise TargetError(f"{target.attr}() raised {type(e).__name__}" + (f": {literal(msg, 200)}" if msg else ""),
                          Loc(target.text)) from e
    if not isinstance(model, nn.Module):
        raise UsageError(f"{target.attr}() returned a {type(model).__name__}, not an nn.Module", Loc(target.text))
    return model


class TargetError(UsageError):
    """The user's code raised while building the model (exit 2; --debug shows its traceback)."""


def _import(target: PyTarget):
    import importlib
    import importlib.util
    import sys

    if target.is_file:
        path = target.module
        if not os.path.isfile(path):
            raise UsageError(f"no such file '{path}'", Loc(target.text))
        name = os.path.splitext(os.path.basename(path))[0]
        where = os.path.dirname(os.path.abspath(path))
        loaded = sys.modules.get(name)
        if loaded is not None and os.path.abspath(getattr(loaded, "__file__", "") or "") == os.path.abspath(path):
            return loaded
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        added = where not in sys.path
        if added:  # its sibling modules import as they would with `python path/to/net.py`
            sys.path.insert(0, where)
        sys.modules[name] = module  # classes defined there pickle and copy by their module
        try:
            spec.loader.exec_module(module)
        except BaseException as e:
            sys.modules.pop(name, None)
            if isinstance(e, Exception):
                raise _raised(target, e) from e
            raise
        finally:
            if added and where in sys.path:
                sys.path.remove(where)
        return module
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:  # `pkg.mod` from the current directory, as `python -m` would find it
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(target.module)
    except ModuleNotFoundError as e:
        if e.name and (target.module == e.name or target.module.startswith(e.name + ".")):
            raise UsageError(f"no module named '{e.name}' (is it installed, or on PYTHONPATH?)",
                             Loc(target.text)) from None
        raise _raised(target, e) from e
    except Exception as e:
        raise _raised(target, e) from e
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def _raised(target: PyTarget, e: Exception) -> TargetError:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return TargetError(f"importing '{target.module}' raised {type(e).__name__}" + (f": {literal(msg, 200)}" if msg else ""),
                       Loc(target.text))
