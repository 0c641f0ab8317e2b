"""Symbolic shapes: which input sizes a network accepts, and what comes out, as formulas.

`--input B,3,H,W` names the free dimensions. `symbolic_pass` runs the (already materialized)
model once under PyTorch's fake-tensor mode with a `ShapeEnv`: every named dimension becomes a
SymInt, forward hooks read each layer's output sizes as sympy formulas, and every guard PyTorch
records on the way (``H >= 7``, ``2*(H//2) == H``, ``3*H*W == 9216``) becomes a constraint in
the user's names, attributed to the layer that was running when it appeared.

PyTorch also records guards that only choose strides, memory formats or broadcasting paths;
those are not constraints. Guards raised by `torch._check` (shape checks proper) are kept as
they are; every other guard is tested with up to three concrete runs (static fake tensors, no
compute) at sizes that break it: if the network still runs and every layer matches its formula,
the guard is dropped; if every run fails, it is a constraint. One more concrete run at other
valid sizes checks all formulas before they are reported. Well-known layers (activations,
normalization, RNNs, ceil-mode pooling) are followed by shape-only forwards during the
symbolic run, because PyTorch's own kernels are slow (or unroll time) with symbolic sizes. When the symbolic
machinery cannot follow the network (data-dependent shapes, a layer that needs the concrete
value of a size, a formula that disagrees with a concrete run), the pass falls back to
concrete probes at several sizes, fits simple formulas to them, and says why in `note`.

Torch is imported lazily: `parse_dims` and the dataclasses cost nothing to import.

The package, one job a module (each imports only from those above it):

- `result.py`: `SymbolicResult` and `layer_outputs` (the public data types);
- `context.py`: one call's variables, inputs, layers and batch, and how messages name them;
- `layers.py`: shape-only forwards for well-known layers, swapped in during the trace;
- `trace.py`: the run under fake tensors with a `ShapeEnv`: formulas and guards per layer;
- `evaluate.py`: exact, fast evaluation of sympy expressions at concrete sizes;
- `space.py`: conditions in the user's names and the sizes that satisfy them;
- `formulas.py`: ShapeEnv expressions printed as the user's formulas;
- `constraints.py`: constraints in words, attributed to layers;
- `probes.py`: concrete runs, and the fallback that fits formulas to them;
- `solve.py`: the symbolic pass proper, from the trace to a `SymbolicResult`;
- this file: `symbolic_pass`, which runs `solve` and falls back to `probes`.
"""
from __future__ import annotations

import contextlib
import threading
import time

from shapecli import warncapture
from shapecli.errors import UsageError
from shapecli.spec.dims import Dim, parse_dims, unify_dims
from shapecli.analyses.symbolic.context import _Ctx, _short_error, _Unfollowable
from shapecli.analyses.symbolic.probes import _probe_pass
from shapecli.analyses.symbolic.result import SymbolicResult, layer_outputs
from shapecli.analyses.symbolic.solve import _symbolic

__all__ = ["Dim", "SymbolicResult", "parse_dims", "unify_dims", "symbolic_pass", "layer_outputs"]


def symbolic_pass(model, inputs, layers, batch_dim: int = 0, *, verify: int = 1, max_probes: int = 24) -> SymbolicResult:
    """Run `model` once with symbolic sizes and report formulas, constraints and batch checks.

    model: a materialized nn.Module (real CPU parameters, or meta ones for huge models).
    inputs: the model's positional inputs as [(dims, dtype)]: dims from `parse_dims`.
    layers: layer path -> submodule whose output is reported (forward hooks).
    batch_dim: which dimension of each input is the batch.
    verify: how many concrete runs at other valid sizes check the formulas (0 to skip).
    max_probes: the most concrete runs spent on classifying guards and on the probe fallback.

    Raises UsageError for inconsistent inputs (a name given two samples). Any failure of the
    symbolic machinery itself falls back to probes; `method` and `note` say so.
    """
    t0 = time.perf_counter()
    ctx = _Ctx(model, inputs, layers, batch_dim)
    ctx.max_probes = max_probes
    with _quiet_torch():
        try:
            res = _symbolic(ctx, verify)
        except UsageError:
            raise
        except _Unfollowable as e:
            res = _probe_pass(ctx, f"symbolic shapes could not follow the network: {e}; described from concrete probes instead")
        except Exception as e:  # the symbolic machinery failed: say so, and probe
            msg = _short_error(e)
            res = _probe_pass(ctx, f"symbolic shapes could not follow the network ({msg}); described from concrete probes instead")
    res.seconds = round(time.perf_counter() - t0, 3)
    return res


_TORCH_LOGGERS = (
    "torch._subclasses.fake_tensor",  # logs every failing meta kernel (our probes fail on purpose)
    "torch.fx.experimental.symbolic_shapes",
    "torch.fx.experimental.recording",
    "torch._dynamo",
)


_quiet_lock = threading.Lock()
_quiet_saved: list = []  # [(logger, level)] while any thread is probing
_quiet_count = [0]


@contextlib.contextmanager
def _quiet_torch():
    """Silence PyTorch's own logging and warnings while probing (failures are expected).

    Logger levels are process-wide: the first of overlapping passes (any thread) saves and
    raises them, the last puts them back; warnings are dropped for this thread only."""
    import logging

    with _quiet_lock:
        if _quiet_count[0] == 0:
            for name in _TORCH_LOGGERS:
                log = logging.getLogger(name)
                _quiet_saved.append((log, log.level))
                log.setLevel(logging.CRITICAL + 1)
        _quiet_count[0] += 1
    try:
        with warncapture.ignore():
            yield
    finally:
        with _quiet_lock:
            _quiet_count[0] -= 1
            if _quiet_count[0] == 0:
                for log, level in _quiet_saved:
                    log.setLevel(level)
                _quiet_saved.clear()
