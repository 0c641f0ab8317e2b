"""shapecli/fastmeta.py: the meta-device speed-ups are scoped, touch only meta tensors, and hand over to
the real modules. (The huge-spec tests that were here are in tests/test_run.py.)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_fast_meta_leaves_torch_as_it_was():
    """The opt-in meta speed-ups are scoped: after a run (in a fresh process, where dynamo is not yet
    imported) no torch function keeps the dynamo stand-in's "do not trace" mark, dynamo was
    never imported, and a missing numpy is no longer recorded as missing."""
    r = _fresh(
        "import sys, json, shapecli, torch\n"
        "from shapecli import fastmeta as _fastmeta\n"
        "marked, disable = [], _fastmeta._NoDynamo.disable\n"
        "def spy(self, fn=None, recursive=True, **kw):\n"
        "    marked.append(fn)\n"
        "    return disable(self, fn, recursive, **kw)\n"
        "_fastmeta._NoDynamo.disable = spy\n"
        "with shapecli.fast_meta():\n"
        "    shapecli.materialize('configs/gpt2_small.yaml', device='meta')\n"
        "still = [f for f in marked if getattr(f, '__dynamo_disable', None) is not None]\n"
        "print(json.dumps({'marked': len(marked), 'still': len(still), 'dynamo': 'torch._dynamo' in sys.modules,\n"
        "                  'attr': '_dynamo' in vars(torch), 'numpy_none': sys.modules.get('numpy', 'absent') is None}))\n")
    assert r["marked"] > 10
    assert r == {"marked": r["marked"], "still": 0, "dynamo": False, "attr": False, "numpy_none": False}


def test_skip_init_only_touches_meta_tensors():
    import torch

    from shapecli.model.skipinit import skip_init

    with skip_init():
        real = torch.zeros(3).normal_()  # CPU: runs
        with torch.device("meta"):
            emb = torch.nn.Embedding(50257, 768)  # its normal_ is skipped on meta
    assert real.abs().sum() > 0
    assert emb.weight.is_meta and list(emb.weight.shape) == [50257, 768]


def _fresh(code: str) -> dict:
    """Run `code` (which prints one JSON line) in a fresh interpreter: nothing imported yet."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_library_meta_run_leaves_sys_modules_alone():
    """Without the opt-in, a meta run installs no stand-in: sys.modules only gains real modules."""
    r = _fresh(
        "import sys, json, shapecli\n"
        "before = dict(sys.modules)\n"
        "model, report = shapecli.materialize('configs/gpt2_small.yaml', device='meta')\n"
        "fake = [k for k, v in sys.modules.items() if type(v).__module__ == 'shapecli.fastmeta' or v is None]\n"
        "changed = [k for k in before if sys.modules.get(k) is not before[k]]\n"
        "print(json.dumps({'fake': fake, 'changed': changed, 'params': report.totals.params}))\n")
    assert r == {"fake": [], "changed": [], "params": 124_439_808}


def test_meta_run_imports_neither_sympy_nor_dynamo_and_leaves_no_stand_in():
    """shapecli.fast_meta()'s stand-ins keep sympy (~0.25 s) out of a meta run; afterwards sys.modules
    holds real modules only, and the shapes are those of the committed baseline."""
    r = _fresh(
        "import sys, json, shapecli\n"
        "with shapecli.fast_meta():\n"
        "    model, report = shapecli.materialize('configs/gpt2_small.yaml', device='meta')\n"
        "mods = [m for m in ('sympy', 'torch._dynamo', 'torch.fx.experimental.symbolic_shapes') if m in sys.modules]\n"
        "left = [k for k, v in sys.modules.items() if type(v).__module__ == 'shapecli.fastmeta']\n"
        "import torch.fx.experimental as fx\n"
        "print(json.dumps({'imported': mods, 'left': left, 'attr': hasattr(fx, 'symbolic_shapes'),\n"
        "                  'params': report.totals.params, 'out': report.runs[0].output.shape}))\n")
    assert r == {"imported": [], "left": [], "attr": False, "params": 124_439_808, "out": [1, 64, 50257]}


def test_stand_in_hands_over_to_the_real_modules():
    """Any name a stand-in does not define imports the real module; from then on every stand-in
    is gone and the real sympy answers, so nothing runs on a half-faked torch."""
    r = _fresh(
        "import sys, json, shapecli._torch\n"
        "from shapecli import fastmeta as _fastmeta\n"
        "with _fastmeta.fast_meta():\n"
        "    import sympy\n"
        "    fake_basic = sympy.Basic.__module__\n"
        "    import torch.fx.experimental.symbolic_shapes as ss\n"
        "    quick = ss.guard_or_false(True), ss.sym_eq([1, 2], (1, 2))\n"
        "    env = ss.ShapeEnv.__module__\n"
        "    kinds = [type(sys.modules[m]).__module__ for m in ('sympy', 'torch.fx.experimental.symbolic_shapes')]\n"
        "    basic = sympy.Basic.__module__\n"
        "    dynamo = 'torch._dynamo' in sys.modules\n"
        "print(json.dumps({'fake': fake_basic, 'quick': quick, 'env': env, 'kinds': kinds, 'basic': basic,\n"
        "                  'active': len(_fastmeta._active), 'dynamo': dynamo}))\n")
    assert r["fake"] == "shapecli.fastmeta" and r["quick"] == [True, True]
    assert r["env"] == "torch.fx.experimental.symbolic_shapes"
    assert r["kinds"] == ["builtins", "builtins"]  # plain modules: the real ones
    assert r["basic"].startswith("sympy.") and r["active"] == 0
    assert r["dynamo"] is False  # its stand-in retired with the others, dynamo itself not imported


@pytest.mark.filterwarnings("ignore:guard_size_oblivious will be removed")
def test_concrete_shapes_helpers_answer_as_torch_does():
    """For plain bools and ints each helper of the stand-in gives torch's own answer."""
    import torch.fx.experimental.symbolic_shapes as real

    from shapecli.fastmeta import _ConcreteShapes

    fake = _ConcreteShapes("torch.fx.experimental.symbolic_shapes")  # not installed: a plain object here
    cases = [("expect_true", (True,)), ("expect_true", (False,)), ("guard_or_false", (True,)),
             ("guard_or_false", (False,)), ("guard_or_true", (False,)), ("guard_size_oblivious", (True,)),
             ("statically_known_true", (False,)), ("guard_int", (7,)), ("sym_eq", ([1, 2], [1, 2])),
             ("sym_eq", ((1, 2), (1, 3))), ("sym_eq", ([1], [1, 2])), ("sym_eq", (3, 3)), ("sym_eq", ((), [])),
             ("sym_and", (True, False)), ("sym_and", (True,)), ("sym_or", (False, True)), ("sym_or", (False, False, False)),
             ("is_nested_int", (3,)), ("has_guarding_hint", (3,)), ("has_guarding_hint", (2.5,)),
             ("guarding_hint_or_throw", (7,)), ("guarding_hint_or_throw", (True,))]
    for name, args in cases:
        assert getattr(fake, name)(*args) == getattr(real, name)(*args), (name, args)


def test_importing_a_submodule_of_a_stand_in_hands_over_to_the_real_package():
    """`from sympy.core.numbers import ...` or `import torch._dynamo.exc` while the stand-ins are
    in place imports the real packages once (no second copy of a submodule) and retires them."""
    r = _fresh(
        "import sys, json, shapecli._torch\n"
        "from shapecli import fastmeta as _fastmeta\n"
        "with _fastmeta.fast_meta():\n"
        "    from sympy.core.numbers import Integer\n"
        "    import sympy\n"
        "    one_copy = sys.modules['sympy.core'] is sympy.core and hasattr(sympy.core, 'symbol')\n"
        "    active = len(_fastmeta._active)\n"
        "from torch.fx.experimental.symbolic_shapes import ShapeEnv  # needs an intact sympy\n"
        "with _fastmeta.fast_meta():\n"
        "    import torch._dynamo.exc as exc\n"
        "    import torch\n"
        "    dynamo = type(sys.modules['torch._dynamo']).__module__, torch._dynamo.exc is exc\n"
        "print(json.dumps({'int': int(Integer(3)), 'one_copy': one_copy, 'active': active, 'dynamo': dynamo,\n"
        "                  'finder': _fastmeta._FINDER in sys.meta_path, 'spec': type(sympy.core.__spec__.loader).__name__}))\n")
    assert r == {"int": 3, "one_copy": True, "active": 0, "dynamo": ["builtins", True], "finder": False,
                 "spec": "SourceFileLoader"}
