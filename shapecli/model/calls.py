"""Calling a module the way nn.Module.__call__ does, without its two Python frames where they would only
pass the call on to `forward`.

nn.Module.__call__ (`_wrapped_call_impl`, then `_call_impl`) calls `forward` at once when the module
has no hook, no global hook is registered, the module is not compiled, and no JIT trace is running; it
costs ~1.2 µs a call before `forward` starts (a 10,000-pair spec makes 50,000 calls in its first pass).
`direct` is that test, read each call as torch reads it; anywhere it fails, the call goes through
nn.Module.__call__, hooks and all. Changes nothing anywhere: each call reads the state it finds.
"""
from __future__ import annotations

from shapecli._torch import nn, torch

_module = torch.nn.modules.module  # torch's global hook registries: dicts it changes in place, never rebinds
_CALL = nn.Module.__call__  # as torch defines it; a profiler or torch.fx may replace it for a while
_GLOBAL_HOOKS = (_module._global_backward_pre_hooks, _module._global_backward_hooks,
                 _module._global_forward_hooks, _module._global_forward_pre_hooks)
_tracing = torch._C._get_tracing_state

# a module's forward hook dicts: where a run's hooks live (run/hooks.py detach) and what a swap moves (lazy.finalize)
HOOK_DICTS = ("_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
              "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs")


def direct(m: nn.Module) -> bool:
    """Whether nn.Module.__call__ would call `m.forward` at once: the test of torch's `_call_impl`, and
    nn.Module.__call__ not replaced (torch.fx's tracer, a profiler), `m` not compiled, no JIT trace."""
    d = m.__dict__
    g0, g1, g2, g3 = _GLOBAL_HOOKS
    return not (d["_forward_hooks"] or d["_forward_pre_hooks"] or d["_backward_hooks"] or d["_backward_pre_hooks"]
                or g0 or g1 or g2 or g3) and m._compiled_call_impl is None and nn.Module.__call__ is _CALL \
        and not _tracing()


def forward_of(m: nn.Module):
    """What to call for `m(*args)`: `m.forward` where nn.Module.__call__ would call it at once, else `m`
    itself (a class with a __call__ of its own, a hook, ...)."""
    return m.forward if type(m).__call__ is _CALL and direct(m) else m
