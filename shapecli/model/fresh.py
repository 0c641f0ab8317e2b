"""nn.Module instances made without their `__init__`: placeholders and plain Sequentials take a fresh
nn.Module's state directly (nn.Module.__init__ and its checked __setattr__ cost ~10 µs a module)."""
from __future__ import annotations

from shapecli._torch import nn

_STATE: tuple = ()  # nn.Module.__init__'s attributes: (name, the type of a fresh container or None, value)


def module_state() -> dict:
    """The attributes nn.Module.__init__ sets, fresh: the same names, a new empty dict/OrderedDict/set for
    each container, the same plain values (`training`), taken once from a real nn.Module() of the installed
    torch (tests/test_model.py compares them)."""
    global _STATE
    if not _STATE:  # the same tuple from any thread
        _STATE = tuple((k, type(v) if isinstance(v, (dict, set, list)) else None, v) for k, v in vars(nn.Module()).items())
    return {k: (fresh() if fresh is not None else v) for k, fresh, v in _STATE}
