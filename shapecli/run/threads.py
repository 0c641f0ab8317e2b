"""`one_thread()`: run a block with one intra-op thread on the calling thread only.

Measured statistics (mean, std, histograms) are sums whose last bits depend on how many
threads split them, so shapecli computes them on one intra-op thread: the same report on any
machine and under any thread setting.

`torch.set_num_threads` cannot do that in a library: besides the calling thread's OpenMP
setting it stores a process-wide default that every thread adopts on its first parallel op
(checked on torch 2.13: a thread that calls `torch.set_num_threads(1)` leaves a main thread
that had not yet run an op, and every thread started later, with one thread). So this sets
only the calling thread's OpenMP value (`omp_set_num_threads`, a per-thread setting in the
OpenMP standard, which torch's parallel loops read through `omp_get_max_threads`), after torch
has initialised the thread, and gives the old value back on exit. Where torch's parallel
backend is not OpenMP, or libgomp/libomp is not loaded, the block runs as it is (statistics
may then differ in their last digits with the thread count).
"""
from __future__ import annotations

import ctypes
import functools
from contextlib import contextmanager

from shapecli._torch import torch


@functools.lru_cache(maxsize=1)
def _omp():
    """(omp_set_num_threads, omp_get_max_threads) of the OpenMP runtime torch loaded, or None."""
    if "OpenMP" not in torch.__config__.parallel_info():
        return None
    try:
        lib = ctypes.CDLL(None)  # torch loads its OpenMP runtime into the global namespace
        set_, get = lib.omp_set_num_threads, lib.omp_get_max_threads
    except (AttributeError, OSError):
        return None
    set_.argtypes, set_.restype, get.argtypes, get.restype = [ctypes.c_int], None, [], ctypes.c_int
    return set_, get


@contextmanager
def one_thread():
    omp = _omp()
    if omp is None:
        yield
        return
    set_, get = omp
    torch.get_num_threads()  # torch's per-thread initialisation first, or it would override ours later
    old = get()
    set_(1)
    try:
        yield
    finally:
        set_(old)
