"""A long fuzzing campaign: thousands of generated cases through the CLI, failures logged, not stopped at.

    .venv/bin/python tests/fuzz_campaign.py [--examples N] [--log failures.jsonl] [--only NAME ...]

Runs each strategy of tests/test_fuzz.py for N examples (default 1000) without shrinking, checks the
contract of tests/fuzz_support.py on every run, and prints: cases per strategy, exit codes, contract
failures (written in full to --log, with the spec text, to replay them), and the distinct kinds of error
message, with those that look like a Python bug leaking out as a "shape error" (exit 2) flagged with `!!`.
(`HYPOTHESIS_PROFILE=long FUZZ_LOG=x.jsonl pytest tests/test_fuzz.py` is the same campaign inside pytest.)
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
os.environ.setdefault("NO_COLOR", "1")

from hypothesis import HealthCheck, given, seed as hypothesis_seed, settings, strategies as st  # noqa: E402

import test_fuzz as tf  # noqa: E402
from fuzz_support import check_contract, run_cli  # noqa: E402

# Python's own words in a message: an exception from shapecli's code, passed off as an input error.
SUSPICIOUS = re.compile(r"NoneType|has no attribute|not subscriptable|not iterable|unsupported operand|takes \d+ positional|"
                        r"required positional|unexpected keyword|object is not callable|KeyError|"
                        r"list index out of range|referenced before assignment|not supported between|"
                        r"maximum recursion|can't multiply sequence|must be real number|__\w+__")


def normalize(line: str) -> str:
    line = re.sub(r"^\S*?(:\d+:\d+)?: ", "", line)  # the location
    line = re.sub(r"layer \S+ \(([^()]*)\)", r"layer (\1)", line)
    line = re.sub(r"'[^']*'", "'…'", line)
    line = re.sub(r"\[[-\d, ]*\]", "[…]", line)
    line = re.sub(r"-?\d+(\.\d+)?(e[-+]?\d+)?", "N", line)
    return line[:160]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=1000)
    ap.add_argument("--log", default="fuzz-failures.jsonl")
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--seed", type=int, default=None, help="replay the same cases (default: new random cases each run)")
    a = ap.parse_args()
    warnings.simplefilter("ignore")

    strategies = {
        "mutated": st.tuples(tf.mutated_text([p.read_text() for p in tf.CONFIG_FILES] + tf.SMALL_SPECS), tf.options()),
        "generated": st.tuples(tf.generated_spec(), tf.options()),
        "shape_aware": st.tuples(tf.shape_aware_spec(), tf.options()),
        "one_layer": st.tuples(tf.one_layer_spec(), st.just([])),
        "bytes": st.tuples(st.binary(max_size=300), st.just([])),
        "cmdline": st.tuples(st.sampled_from(tf.SMALL_SPECS), tf.options()),
    }
    if a.only:
        strategies = {k: v for k, v in strategies.items() if k in a.only}
    work = Path(tempfile.mkdtemp(prefix="shapecli-fuzz-"))
    os.chdir(work)
    totals = {}
    kinds: collections.Counter = collections.Counter()
    examples: dict = {}
    failures = 0
    log = open(os.path.abspath(os.path.join(os.environ.get("PWD", "."), a.log)) if not os.path.isabs(a.log) else a.log, "a")
    t0 = time.time()

    for name, strat in strategies.items():
        codes: collections.Counter = collections.Counter()
        slowest = [0.0, None]

        # --seed N: hypothesis.seed(N), so that each N is its own reproducible campaign (derandomize=True, as
        # before, ran the one same campaign whatever N was)
        @settings(max_examples=a.examples, deadline=None, database=None, suppress_health_check=list(HealthCheck),
                  phases=[__import__("hypothesis").Phase.generate])
        @(hypothesis_seed(a.seed) if a.seed is not None else (lambda f: f))
        @given(case=strat)
        def one(case):
            nonlocal failures
            spec_text, opts = case
            wild = False
            if isinstance(spec_text, tuple):  # one_layer: (text, wild)
                spec_text, wild = spec_text
            path = work / "spec.yaml"
            if isinstance(spec_text, bytes):
                path.write_bytes(spec_text)
            else:
                path.write_text(spec_text, encoding="utf-8", errors="surrogatepass")
            args = ["inspect", str(path), *opts]
            if "--device" not in args and (wild or name in ("mutated", "one_layer", "bytes")):
                args += ["--device", "meta"]
            try:
                code, out, err, secs = run_cli(args, timeout=60)
                check_contract(args, code, out, err)
            except (AssertionError, Exception) as e:  # noqa: B014
                failures += 1
                codes["contract-failure"] += 1
                log.write(json.dumps({"strategy": name, "args": args, "spec": path.read_bytes().decode("utf-8", "backslashreplace"),
                                      "error": f"{type(e).__name__}: {e}"[:4000]}) + "\n")
                log.flush()
                return
            codes[code] += 1
            if secs > slowest[0]:
                slowest[:] = [secs, " ".join(map(str, args[2:]))]
            for line in err.splitlines():
                if ": error: " in line or line.startswith("error: "):
                    k = normalize(line.split("error: ", 1)[1])
                    kinds[k] += 1
                    examples.setdefault(k, (line[:300], path.read_bytes()[:300]))

        t = time.time()
        one()
        totals[name] = (sum(codes.values()), dict(codes), time.time() - t, slowest[0])
        print(f"{name:12s} {sum(codes.values()):6d} cases  {time.time() - t:7.1f} s  exits {dict(codes)}  "
              f"slowest {slowest[0]:.2f} s", flush=True)

    n = sum(v[0] for v in totals.values())
    print(f"\n{n} cases in {time.time() - t0:.0f} s; {failures} contract failures (details: {a.log})")
    print(f"{len(kinds)} distinct kinds of error message:")
    for k, c in kinds.most_common():
        flag = "!!" if SUSPICIOUS.search(k) else "  "
        print(f"{flag} {c:6d}  {k}")
    bad = [k for k in kinds if SUSPICIOUS.search(k)]
    for k in bad:
        line, spec = examples[k]
        print(f"\n!! {line}\n   spec: {spec!r}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
