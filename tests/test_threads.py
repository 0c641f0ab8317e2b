"""The Python API is thread-safe: meta, CPU and symbolic inspections on 4 threads at once give the
reports each gives alone, and leave the global RNG, sys.modules and the warning filters as they were."""
from __future__ import annotations

import sys
import threading
import warnings

import torch
from conftest import CONFIGS

import shapecli

CASES = [  # (spec, inputs, options): one on meta, one on the CPU with measured statistics, one symbolic
    ("lenet5", None, {"device": "meta"}),
    ("mlp", None, {"device": "cpu", "activations": True}),
    ("lenet5", "B,1,H=28,W=28", {}),
    ("lstm_classifier", None, {"device": "cpu"}),
]


def _plain(report) -> dict:
    d = report.to_dict()
    (d.get("symbolic") or {}).pop("seconds", None)
    return d


def _inspect(case) -> dict:
    name, inputs, opts = case
    return _plain(shapecli.inspect(str(CONFIGS / f"{name}.yaml"), inputs, **opts))


def test_four_threads_at_once_give_the_reports_of_one_at_a_time():
    alone = [_inspect(c) for c in CASES]
    assert alone[2]["symbolic"] and not alone[0]["symbolic"]  # the symbolic pass ran where asked
    rng = torch.get_rng_state()
    filters, show = list(warnings.filters), warnings.showwarning
    modules = dict(sys.modules)
    got, errors = {}, []

    def work(i: int, rounds: int = 3) -> None:
        try:
            for r in range(rounds):
                c = (i + r) % len(CASES)
                got.setdefault(c, []).append(_inspect(CASES[c]))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sum(len(v) for v in got.values()) == 12
    for c, reports in got.items():
        for rep in reports:
            assert rep == alone[c], CASES[c]
    assert torch.equal(torch.get_rng_state(), rng)
    assert warnings.filters == filters and warnings.showwarning is show
    assert not [k for k, v in sys.modules.items() if k in modules and modules[k] is not v]


def test_a_library_call_leaves_the_thread_count_and_gc_alone():
    import gc

    before = torch.get_num_threads(), gc.get_threshold(), gc.get_freeze_count()
    seen = []
    t = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    shapecli.inspect(str(CONFIGS / "mlp.yaml"), device="cpu")
    t.start()
    t.join()
    assert (torch.get_num_threads(), gc.get_threshold(), gc.get_freeze_count()) == before
    assert seen == [before[0]]  # a thread started afterwards gets the process default, not 1


def test_models_built_with_build_materialize_on_four_threads_without_equal_layers():
    """Four `build()` models fed their first input on four threads at once: each layer's initial values
    come from its model's own stream (model/context.py init_stream, under the RNG lock). Without the
    lock the threads restored each other's RNG states and ~280 of 2,400 layers started with the weights
    of another layer of the same model."""
    spec = "input: [2, 4]\nlayers:\n  - Linear: 4\n    repeat: 150\n"
    repeats, errors = [], []

    def work():
        try:
            for _ in range(4):
                model = shapecli.build(spec)
                with torch.no_grad():
                    model(torch.zeros(2, 4))
                weights = [tuple(p.flatten().tolist()) for n, p in model.named_parameters() if n.endswith("weight")]
                repeats.append(len(weights) - len(set(weights)))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, so the swaps interleave
    try:
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(before)
    assert not errors and len(repeats) == 16 and sum(repeats) == 0
