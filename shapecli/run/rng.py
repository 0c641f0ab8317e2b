"""The global RNG during a library call: seeded for the call, put back afterwards, one call at a time.

torch's layers draw their initial values from the global CPU generator (`reset_parameters`
takes no generator), and Dropout in a forward pass draws from it too. So a run forks it
(`torch.random.fork_rng`: the caller's state is saved and put back on exit, whatever happened)
and seeds it right before the first input materializes the model. Fork and seed act on state
every thread shares, so runs that use it hold one lock: two inspections on two threads get the
values each would get alone, and the caller's RNG is as it was after each. (A thread of the
caller's own that draws from the global RNG while a run holds it would still interleave with
it: use a torch.Generator there.)
"""
from __future__ import annotations

from contextlib import contextmanager

from shapecli._torch import torch
from shapecli.model.context import RNG_LOCK as _lock  # also held by each initial-value stream switch


@contextmanager
def forked(seed: int | None = None):
    """The block runs on a fork of the global CPU RNG (seeded with `seed` unless None), holding the lock."""
    with _lock, torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        yield
