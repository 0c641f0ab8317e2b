"""The CLI process's start-up and exit: every speed-up that changes process-wide state, in one place.

A library call never changes process-wide state (sys.modules, gc, environment variables, thread
counts, the global RNG). The `shapecli` command owns its whole process, so `run()` (the console
script, and `python -m shapecli`) calls `start()` first and `finish()` last:

- **gc thresholds** `(2_000_000, 1000, 100)`, counted from right after torch's import: a
  short-lived process that allocates many small objects (a Deferred, hooks and records per
  layer) spent about 25% of a 10,000-layer run in the collector with the default `(700, 10,
  10)`; with `(50_000, 20, 100)` its two generation-1 collections (each over the million
  objects twenty generation-0 passes left) took 0.46-0.57 s of a 10,000-layer run
  (gc.callbacks), which a generation-1 threshold of 1,000 left out. With `(50_000, 1000, 100)`
  its 36 generation-0 passes still took 0.24 s of 3.96 s, and found nothing to free: what a
  run makes lives until it ends (its cycles, the placeholders and their BuildContext, become
  garbage then). Its allocations peak between 1 and 1.5 million objects (a threshold of
  1,000,000 left one pass of 0.17-0.21 s, 1,500,000 none), so 2,000,000 makes none in it;
  `gc.freeze()` right after torch's import moves import's ~235,000 objects out of every later
  collection and starts the count at 0. Callgrind, 3,000 pairs: 8,939 M instructions before,
  8,719 M after (220 M fewer, 5.6% of the run beyond start-up). The peak RSS went from 506 to
  507 MB for 10,000 pairs, from 402 to 413 MB for ResNet-50. Cycles are still freed, two million
  allocations apart, and the engine collects by hand after a failed attempt on real tensors.
- **`OMP_NUM_THREADS=1`** unless the user set it (read by torch when it is imported, later): on
  a shared 2-4 core machine OpenMP's barrier waits made ResNet-50's run 4-8x slower. The
  measuring thread (run/measure.py) relies on it only for speed: its statistics run on one
  intra-op thread in any case (run/threads.py, per thread). `OMP_NUM_THREADS=4 shapecli ...`
  uses 4.
- **the fast-meta stand-ins** (shapecli/fastmeta.py: torch._dynamo, symbolic_shapes and sympy
  stand-ins, a missing numpy recorded as missing), installed once, right after shapecli first
  imports torch (so `--help` and spec errors stay torch-free), and left for the rest of the
  process: shaping GPT-2 small on meta costs about 1.5 s less. A later symbolic pass or FLOP
  count that needs the real modules retires them (fastmeta's hand-over).
- **SIGTERM raises `Terminated`** (a KeyboardInterrupt, exit 143) in the main thread, as SIGINT
  raises KeyboardInterrupt (exit 130): the handlers that remove a temporary file on Ctrl-C
  (fileio.write_atomic) run on `kill` too, and stderr says why the run stopped.
- **`os._exit`** after flushing stdout and stderr: skips Python's interpreter teardown (about
  0.4 s with torch loaded), which has nothing left to write.

docs/performance.md measures each.
"""
from __future__ import annotations

import gc
import importlib.abc
import importlib.util
import os
import signal
import sys

GC_THRESHOLDS = (2_000_000, 1000, 100)


def start() -> None:
    """Install the CLI's process-wide speed-ups (see the module docstring)."""
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        signal.signal(signal.SIGTERM, _terminate)
    except (ValueError, OSError):  # not the main thread (an embedding program): leave SIGTERM alone
        pass
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if "shapecli._torch" in sys.modules:  # torch came first (an embedding program): install now
        _install_fast_meta()
    elif not any(isinstance(f, _AfterTorch) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterTorch())


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that cleanup runs as on Ctrl-C."""

    exit_code = 128 + signal.SIGTERM
    message = "terminated"


def _terminate(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    raise Terminated()


def finish(code: int) -> None:
    """Flush what was written and end the process now, without the interpreter's teardown."""
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except (BrokenPipeError, OSError):
            quiet_pipe()
    os._exit(int(code))


def quiet_pipe() -> None:
    """stdout's reader went away (`| head`): stop quietly, without a second error at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


def _install_fast_meta() -> None:
    """Right after shapecli first imports torch: the fast-meta stand-ins, and torch's import-time objects
    frozen out of the collector (gc thresholds, above)."""
    from shapecli import fastmeta

    fastmeta.install()
    gc.freeze()


class _AfterTorch(importlib.abc.MetaPathFinder):
    """Waits for the import of shapecli._torch (shapecli's one gateway to torch), lets it run,
    then installs the fast-meta stand-ins; removes itself on that first import."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "shapecli._torch":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenInstall(spec.loader)
        return spec


class _ThenInstall(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = self.loader  # as a plain import leaves it
        self.loader.exec_module(module)
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        _install_fast_meta()
