"""Coverage-guided fuzzing of shapecli's readers with atheris (libFuzzer for Python).

    python tests/fuzz/run.py list                            # the targets (tests/fuzz/targets.py)
    python tests/fuzz/run.py fuzz TARGET --runs 1000000      # fuzz one target; --time S bounds the wall time
    python tests/fuzz/run.py replay TARGET [FILE ...]        # run the committed corpus (or files) once, check the contract
    python tests/fuzz/run.py merge TARGET                    # minimize: the committed corpus + .fuzz/TARGET/corpus,
                                                             #   merged by coverage, replaces tests/fuzz/corpus/TARGET
    python tests/fuzz/run.py seed TARGET                     # (re)write the seed files (seed-*) from configs/, docs/, tests/corpus/

`fuzz` needs `pip install atheris`; the others do not. The fuzzer starts from tests/fuzz/corpus/TARGET,
writes what it finds to .fuzz/TARGET/corpus (git-ignored) and any crash, hang or out-of-memory input to
.fuzz/TARGET/crash-*, timeout-*, oom-* (replay one with `replay TARGET FILE`). It stops at --runs executions,
--time seconds or the first crash, and prints one summary line: executions, seconds, executions/s,
coverage (libFuzzer's `cov`: instrumented edges; `ft`: features), corpus size and crashes. Extra libFuzzer
flags go after `--`. The contract and the targets are described in tests/fuzz/targets.py and docs/reliability.md.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path[:0] = [str(ROOT), str(HERE.parent)]

from fuzz.targets import TARGETS  # imports no shapecli module: the worker instruments them first

WORK = ROOT / ".fuzz"
WALL_BACKSTOP = 300  # libFuzzer's -timeout (wall seconds); the per-input bound itself is CPU time, in the worker


def replay(target, paths) -> int:
    """Run each file through `target` with the per-input time bound; print each violation; the count."""
    from fuzz_support import time_limit

    bad = 0
    for p in paths:
        try:
            with time_limit(target.timeout):
                target.run_one(Path(p).read_bytes())
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt):
                raise
            bad += 1
            print(f"{p}: {type(e).__name__}: {str(e)[:300]}")
    return bad


def corpus_files(target) -> list:
    d = target.corpus()
    return sorted(p for p in d.iterdir() if p.is_file()) if d.is_dir() else []


# ---------------------------------------------------------------------------- the fuzzing worker (atheris)

class CpuTimeout(Exception):
    """An input ran past the target's time bound: a hang, reported as a crash."""


def worker(name: str, flags: list) -> None:
    import atheris
    from atheris.import_hook import HookManager

    target = TARGETS[name]
    dataflow = os.environ.get("FUZZ_DATAFLOW", "0") == "1"  # comparison tracing: ~2.5x slower here
    with HookManager(set(target.instrument), set(), enable_loader_override=True, trace_dataflow=dataflow):
        import yaml  # noqa: F401

        import shapecli.baseline.document
        import shapecli.spec.parser  # noqa: F401
        for p in corpus_files(target)[:50]:  # the lazy imports inside the readers, instrumented too
            try:
                target.run_one(p.read_bytes())
            except Exception:  # noqa: BLE001, S110 - replay reports these; here we only import
                pass

    for ref in target.functions:  # code outside the instrumented packages that the reader drives (torch's unpickler)
        import importlib

        mod, qual = ref.split(":")
        obj = importlib.import_module(mod)
        for part in qual.split("."):
            obj = getattr(obj, part)
        atheris.instrument_func(obj)

    def over(signum, frame):
        raise CpuTimeout(f"the input used more than {target.timeout} s of CPU time")

    signal.signal(signal.SIGVTALRM, over)

    def one(data: bytes) -> None:
        # The time bound is CPU time (ITIMER_VIRTUAL), not wall time: on a shared machine a starved process
        # would otherwise "hang" on inputs that take 0.1 s. libFuzzer's wall-clock -timeout is only a backstop.
        signal.setitimer(signal.ITIMER_VIRTUAL, target.timeout)
        try:
            target.run_one(data)
        finally:
            signal.setitimer(signal.ITIMER_VIRTUAL, 0)

    atheris.Setup([str(_worker_script(name)), *flags], one)  # libFuzzer re-runs argv[0] for -merge
    atheris.Fuzz()


def _worker_script(name: str) -> Path:
    """An executable that runs this worker for `name`: libFuzzer's -merge=1 starts `argv[0] flags...` in a shell."""
    path = WORK / name / "worker.sh"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" _worker {name} "$@"\n'
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
        path.chmod(0o755)
    return path


STATUS = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/(\S+)")


def fuzz(name: str, runs: int, seconds: int, extra: list) -> int:
    target = TARGETS[name]
    work = WORK / name
    (work / "corpus").mkdir(parents=True, exist_ok=True)
    flags = [f"-runs={runs}", f"-timeout={WALL_BACKSTOP}", f"-max_len={target.max_len}", "-rss_limit_mb=2048",
             "-print_final_stats=1", f"-artifact_prefix={work}/", *extra]
    if seconds:
        flags.append(f"-max_total_time={seconds}")
    flags += [str(work / "corpus"), str(target.corpus())]
    cmd = [str(_worker_script(name)), *flags]
    log = work / "last.log"
    before = set(work.glob("crash-*")) | set(work.glob("timeout-*")) | set(work.glob("oom-*"))
    t0 = time.time()
    last = None
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        for line in proc.stdout:
            out.write(line)
            m = STATUS.match(line)
            if m:
                last = m
            if not m or not re.search(r"\b(NEW|REDUCE)\b", line):
                print(line, end="", flush=True)
        rc = proc.wait()
    secs = time.time() - t0
    use = resource.getrusage(resource.RUSAGE_CHILDREN)  # the worker's CPU time: the machine may be shared
    text = log.read_text(errors="replace")
    executed = re.search(r"stat::number_of_executed_units: (\d+)", text)
    n = int(executed.group(1)) if executed else (int(last.group(1)) if last else 0)
    crashes = sorted((set(work.glob("crash-*")) | set(work.glob("timeout-*")) | set(work.glob("oom-*"))) - before)
    summary = {"target": name, "executions": n, "seconds": round(secs, 1),
               "exec_per_s": round(n / secs) if secs else 0,  # libFuzzer's own figure reads 0 under atheris
               "cpu_seconds": round(use.ru_utime + use.ru_stime, 1),
               "cov": int(last.group(2)) if last else None, "ft": int(last.group(3)) if last else None,
               "corpus": int(last.group(4)) if last else None, "new_crashes": [str(c) for c in crashes],
               "exit": rc}
    print("SUMMARY " + json.dumps(summary), flush=True)
    with open(WORK / "runs.jsonl", "a") as f:
        f.write(json.dumps(dict(summary, when=time.strftime("%Y-%m-%d %H:%M:%S"))) + "\n")
    return 1 if crashes or rc not in (0,) else 0


# ---------------------------------------------------------------------------- corpus upkeep

def merge(name: str, sources: list) -> int:
    """libFuzzer's -merge=1: the smallest set of inputs with the coverage of all of them, replacing the corpus."""
    target = TARGETS[name]
    sources = [str(s) for s in (sources or [WORK / name / "corpus"])] + [str(target.corpus())]
    tmp = Path(tempfile.mkdtemp(prefix=f"fuzz-merge-{name}-"))
    cmd = [str(_worker_script(name)), "-merge=1",
           f"-max_len={target.max_len}", f"-timeout={WALL_BACKSTOP}", str(tmp), *sources]
    rc = subprocess.call(cmd)
    if rc != 0:
        print(f"merge failed (exit {rc}); the corpus is unchanged")
        return rc
    for p in corpus_files(target):
        p.unlink()
    for p in tmp.iterdir():  # libFuzzer names files by their SHA-1
        shutil.copy(p, target.corpus() / p.name)
    shutil.rmtree(tmp)
    files = corpus_files(target)
    print(f"{name}: {len(files)} files, {sum(p.stat().st_size for p in files):,} bytes in {target.corpus()}")
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_worker"]:
        worker(argv[1], argv[2:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list")
    f = sub.add_parser("fuzz")
    f.add_argument("target", choices=sorted(TARGETS))
    f.add_argument("--runs", type=int, default=1_000_000)
    f.add_argument("--time", type=int, default=0, help="stop after this many seconds (0: no limit)")
    f.add_argument("extra", nargs="*", help="libFuzzer flags, after --")
    r = sub.add_parser("replay")
    r.add_argument("target", choices=sorted(TARGETS))
    r.add_argument("files", nargs="*")
    m = sub.add_parser("merge")
    m.add_argument("target", choices=sorted(TARGETS))
    m.add_argument("sources", nargs="*", help="corpus directories to merge in (default .fuzz/TARGET/corpus)")
    s = sub.add_parser("seed")
    s.add_argument("target", choices=sorted(TARGETS))
    a = ap.parse_args(argv)
    if a.cmd == "list":
        for t in TARGETS.values():
            print(f"{t.name:10s} {len(corpus_files(t)):4d} corpus files  {t.doc}")
        return 0
    if a.cmd == "fuzz":
        return fuzz(a.target, a.runs, a.time, a.extra)
    if a.cmd == "replay":
        t = TARGETS[a.target]
        files = a.files or corpus_files(t)
        bad = replay(t, files)
        print(f"{a.target}: {len(files)} inputs, {bad} contract violations")
        return 1 if bad else 0
    if a.cmd == "merge":
        return merge(a.target, a.sources)
    if a.cmd == "seed":
        from fuzz.seeds import write_seeds

        return write_seeds(TARGETS[a.target])
    return 2


if __name__ == "__main__":
    sys.exit(main())
