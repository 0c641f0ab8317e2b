"""The tape: the named tensors a network's items write (`name:`, `out:`) and read (`in:`) as it runs.

Chains (model/flow.py) and the parts of Residuals and merges (model/glue.py) read and write it alike.
It imports no other shapecli module but errors: a leaf of the import graph.
"""
from __future__ import annotations

from shapecli._torch import torch
from shapecli.errors import Problem, ShapeError


def _name(key: str) -> str:
    return key.rsplit(":", 1)[-1] if key.startswith(":") else key


def read_feed(feed: tuple, own, tape: dict, where) -> tuple[list, dict]:
    """The positional and keyword tensors an item's `in:` names (`feed`: [tape key or None], {keyword: tape key
    or None}; None is the item's own input `own`), read from the tape; `where`: the item's (Loc, label)."""
    def read(key):
        if key is None:
            return own
        if key not in tape:  # an input the sample lacks; the parser sees to every other order
            loc, label = where or (None, None)
            raise ShapeError(Problem(f"'{_name(key)}' has no value: the sample gives fewer inputs than the spec names",
                                     loc, label))
        return tape[key]
    return [read(k) for k in feed[0]], {a: read(k) for a, k in feed[1].items()}


def write_saves(saves, x, tape: dict, where) -> None:
    """Put an item's output `x` on the tape for later `from:`/`in:` readers: [(tape key, element index or None)]."""
    for key, index in saves:
        tape[key] = x if index is None else _element(x, index, where)


def _element(x, index: int, where):
    loc, label = where or (None, None)
    if isinstance(x, torch.Tensor) or not isinstance(x, (tuple, list)):
        raise ShapeError(Problem(f"`out:` names output {index + 1}, but it returns one tensor {list(x.shape)}; "
                                 "use `name:` to name it", loc, label))
    if index >= len(x):
        raise ShapeError(Problem(f"`out:` names {index + 1} outputs, but it returns {len(x)}", loc, label))
    return x[index]
