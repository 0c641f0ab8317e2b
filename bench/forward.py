"""The forward cost of a model shapecli materialized against the same layers written by hand.

    .venv/bin/python bench/forward.py            # a table; --json for bench/run.py

Each case builds the spec's model with `shapecli.materialize` and its hand-written twin
(tests/twins.py) with the same weights (load_state_dict), both in eval mode, one intra-op thread,
no autograd. Calls alternate between the two models in rounds (so a load drift hits both alike),
each round timing a batch of calls with perf_counter; the figure per model is the median over
rounds of the time per call, and the ratio is shapecli's median over the twin's. The target in
bench/run.py is a ratio of at most 1.10 (issue 15: within 10% of the same layers by hand).
Small inputs, so that Python-side overhead (hooks, wrappers, the tape) shows rather than
drowning in convolution time.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import shapecli  # noqa: E402
from twins import TWINS  # noqa: E402

# (config, input shape, dtype): small inputs so per-call overhead is what is measured
CASES = [("mlp", (2, 20), torch.float32), ("lenet5", (2, 1, 28, 28), torch.float32),
         ("resnet18", (2, 3, 64, 64), torch.float32), ("unet", (1, 3, 16, 16), torch.float32),
         ("lstm_classifier", (2, 16), torch.int64)]


def _per_call(model, x, calls: int) -> float:
    t = time.perf_counter()
    for _ in range(calls):
        model(x)
    return (time.perf_counter() - t) / calls


def measure(name: str, shape, dtype, rounds: int = 15) -> dict:
    text = ",".join(map(str, shape)) + ("" if dtype == torch.float32 else ":int64")
    model, _ = shapecli.materialize(str(ROOT / "configs" / f"{name}.yaml"), [text], stats=False)
    twin = TWINS[name].build()
    twin.load_state_dict(model.state_dict())
    model.eval()
    twin.eval()
    x = torch.zeros(shape, dtype=dtype) if dtype != torch.float32 else torch.randn(shape)
    with torch.no_grad():
        if not torch.equal(model(x), twin(x)):
            raise SystemExit(f"{name}: the twin's output differs from shapecli's")
        one = _per_call(model, x, 3)
        calls = max(5, min(2000, int(0.02 / max(one, 1e-7))))  # about 20 ms a batch
        for m in (model, twin):
            _per_call(m, x, calls)  # warm
        ours, theirs = [], []
        for _ in range(rounds):
            ours.append(_per_call(model, x, calls))
            theirs.append(_per_call(twin, x, calls))
    a, b = statistics.median(ours), statistics.median(theirs)
    return {"case": name, "input": list(shape), "calls": calls, "shapecli_us": a * 1e6, "twin_us": b * 1e6,
            "ratio": a / b}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = [measure(n, s, d, args.rounds) for n, s, d in CASES]
    if args.json:
        print(json.dumps(rows))
        return 0
    print("| case | input | shapecli µs | hand-written µs | ratio |\n|---|---|--:|--:|--:|")
    for r in rows:
        print(f"| {r['case']} | {r['input']} | {r['shapecli_us']:.1f} | {r['twin_us']:.1f} | {r['ratio']:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
