"""shapecli's whole-process cost beside baselines measured in the same run.

    .venv/bin/python bench/run.py            # 3 runs per case (median), all cases
    .venv/bin/python bench/run.py --quick    # 1 run per case, no 10,000-layer case
    .venv/bin/python bench/run.py --setup    # once: a venv for the torchinfo baselines (numpy + torchinfo)

Every measurement is a fresh process: wall time around it, and its peak resident memory from
os.wait4 (that child's own rusage). Baselines: `python -c "import torch"` (the floor any torch
tool pays) and torchinfo.summary on a hand-written twin of each spec (bench/models.py; huge ones
built on the meta device); for the CPU cases also torchinfo on one OpenMP thread, as shapecli's CLI
runs (docs/performance.md). Cases run round-robin, so load drifts hit every case alike. torchinfo needs numpy, which shapecli's venv does not have, so the
baselines run in bench/results/baseline-venv (--setup makes it: a venv that sees shapecli's
site-packages plus its own numpy and torchinfo); without it those baselines are skipped.
Targets are printed as PASS/FAIL lines, never asserted. Results: bench/results/latest.json.
docs/performance.md records a run and what the figures mean.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
BASE_VENV = RESULTS / "baseline-venv"
PY = sys.executable
SHAPECLI = str(Path(PY).parent / "shapecli")
ENV = dict(os.environ, NO_COLOR="1")
ENV.pop("PYTHONDONTWRITEBYTECODE", None)  # stale bytecode would be recompiled on every run


# ---------------------------------------------------------------------------- measuring

def run_once(cmd: list, env: dict | None = None, cwd=ROOT) -> tuple[float, float] | None:
    """(wall seconds, peak RSS MiB) of one fresh process running `cmd`; None if it failed."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, env={**ENV, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.read().decode(errors="replace")  # (small: errors only) read before waiting
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.stderr.close()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode not in (0, 1):  # check exits 1 on a regression, still a complete run
        print(f"  ! {' '.join(cmd[:4])} ... exited {p.returncode}: "
              f"{err.strip().splitlines()[-1] if err.strip() else ''}", file=sys.stderr)
        return None
    return wall, usage.ru_maxrss / 1024  # ru_maxrss is KiB on Linux


def forward_costs() -> list | None:
    """bench/forward.py's rows: a materialized model's forward against its hand-written twin, in-process."""
    r = subprocess.run([PY, str(BENCH / "forward.py"), "--json"], capture_output=True, text=True, env=ENV, cwd=ROOT)
    if r.returncode != 0:
        print(f"  forward cost                skipped: {r.stderr.strip().splitlines()[-1:] or r.returncode}")
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


def summarize(samples: list) -> dict | None:
    if not samples or any(x is None for x in samples):
        return None
    walls, rss = [w for w, _ in samples], [m for _, m in samples]
    return {"s": statistics.median(walls), "min_s": min(walls), "mib": statistics.median(rss),
            "runs": len(walls), "all_s": [round(w, 3) for w in walls]}


def baseline_python() -> str | None:
    cand = BASE_VENV / "bin" / "python"
    for py in ([str(cand)] if cand.exists() else []) + [PY]:
        ok = subprocess.run([py, "-c", "import numpy, torchinfo"], capture_output=True, env=ENV).returncode == 0
        if ok:
            return py
    return None


def setup() -> None:
    """A venv that sees shapecli's site-packages (torch) plus its own numpy and torchinfo."""
    import site  # noqa: F401
    import venv

    RESULTS.mkdir(parents=True, exist_ok=True)
    venv.create(BASE_VENV, with_pip=True)
    sp = subprocess.run([PY, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                        capture_output=True, text=True).stdout.strip()
    ver = f"python{sys.version_info.major}.{sys.version_info.minor}"
    (BASE_VENV / "lib" / ver / "site-packages" / "shapecli-venv.pth").write_text(sp + "\n")
    subprocess.run([str(BASE_VENV / "bin" / "pip"), "install", "-q", "numpy", "torchinfo>=1.8"], check=True)
    print(f"baseline venv ready: {BASE_VENV}")


# ---------------------------------------------------------------------------- generated specs

def mlp_spec(n: int) -> str:
    return (f"# {n} Linear+ReLU pairs of width 16 (bench/run.py)\nname: mlp_{n}\ninput: [2, 16]\nlayers:\n"
            f"  - Sequential: [Linear: 16, ReLU]\n    repeat: {n}\n  - Linear: 4\n")


def small_spec(i: int) -> str:
    w = 8 + (i % 7) * 8
    kind = i % 3
    if kind == 0:
        body = f"  - Linear: {w}\n  - ReLU\n  - Linear: {w // 2}\n  - Tanh\n  - Linear: 3\n"
        inp = f"[2, {10 + i}]"
    elif kind == 1:
        body = (f"  - Conv2d: {{out_channels: {w}, kernel_size: 3, padding: 1}}\n  - BatchNorm2d\n  - ReLU\n"
                f"  - MaxPool2d: 2\n  - Flatten\n  - Linear: 10\n")
        inp = "[2, 3, 16, 16]"
    else:
        body = (f"  - Embedding: [{100 + i}, {w}]\n  - Residual: [LayerNorm, Linear: {w}]\n  - Mean: {{dim: 1}}\n"
                f"  - Linear: 5\n")
        inp = "{shape: [2, 12], dtype: int64}"
    return f"name: small_{i}\ninput: {inp}\nlayers:\n{body}"


# ---------------------------------------------------------------------------- the run

def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")).split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    torch_v = subprocess.run([PY, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True,
                             env=ENV).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": mem, "os": platform.platform(),
            "python": platform.python_version(), "torch": torch_v, "load_before": os.getloadavg()[0]}


def main() -> int:
    ap = argparse.ArgumentParser(description="shapecli whole-process benchmarks beside import torch and torchinfo.")
    ap.add_argument("--quick", action="store_true", help="1 run per case; skip the 10,000-layer MLP")
    ap.add_argument("--repeat", type=int, default=None, help="runs per case (default 3, --quick 1)")
    ap.add_argument("--setup", action="store_true", help="create the torchinfo baseline venv and exit")
    ap.add_argument("--only", default=None, help="comma-separated case names")
    args = ap.parse_args()
    if args.setup:
        setup()
        return 0
    repeat = args.repeat or (1 if args.quick else 3)
    only = set(args.only.split(",")) if args.only else None
    base_py = baseline_python()
    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['memory']}; {info['os']}; "
          f"python {info['python']}, torch {info['torch']}; load {info['load_before']:.2f}")
    print(f"runs per case: {repeat} (median); torchinfo baselines: {base_py or 'unavailable (run --setup)'}\n")

    tmp = Path(tempfile.mkdtemp(prefix="shapecli-bench-"))
    results: dict = {}

    def want(name):
        return only is None or name in only

    jobs: list = []  # (name, cmd, env): run round-robin, `repeat` rounds, so load drifts hit every case alike

    def run(name, cmd, env=None):
        jobs.append((name, cmd, env))

    def torchinfo(name):
        if base_py is None:
            results[f"torchinfo:{name}"] = None
            return
        run(f"torchinfo:{name}", [base_py, str(BENCH / "torchinfo_case.py"), name])
        if name in ("resnet50", "gpt2_small"):  # shapecli's CLI uses one thread (docs/performance.md): the same for torchinfo
            run(f"torchinfo 1 thread:{name}", [base_py, str(BENCH / "torchinfo_case.py"), name], {"OMP_NUM_THREADS": "1"})

    run("import torch", [PY, "-c", "import torch"])
    if want("help"):
        run("shapecli --help", [SHAPECLI, "--help"])
    for name in ("mlp", "resnet50", "gpt2_small", "llama7b", "gpt3_175b"):
        if not want(name):
            continue
        spec = ROOT / "configs" / f"{name}.yaml"
        if not spec.exists():
            print(f"  {name:<26} skipped: {spec} does not exist")
            continue
        # GPT-3's target is the full report with memory estimates (issue: "analytic statistics and memory estimates")
        extra = ["--dtype", "float32,bfloat16"] if name == "gpt3_175b" else []
        run(name, [SHAPECLI, "inspect", str(spec), *extra])
        torchinfo(name)
    # models written in Python: the same twins torchinfo runs, named as targets (docs/python.md)
    for name, shape in (("resnet50", "1,3,224,224"), ("llama7b", "1,2048:int64")):
        if want(f"python_{name}") or want(name):
            run(f"python {name}", [SHAPECLI, "inspect", f"{BENCH / 'models.py'}:{name}", "-i", shape])
            if not want(name):
                torchinfo(name)
    sizes = [10, 100, 1000] + ([] if args.quick else [10000])
    for n in sizes:
        if want("mlp_n"):
            path = tmp / f"mlp_{n}.yaml"
            path.write_text(mlp_spec(n))
            run(f"mlp_{n} layers", [SHAPECLI, "inspect", str(path)])
    if want("check50"):
        d = tmp / "fifty"
        d.mkdir()
        for i in range(50):
            (d / f"small_{i:02d}.yaml").write_text(small_spec(i))
        has_check = subprocess.run([SHAPECLI, "check", "--help"], capture_output=True, env=ENV).returncode == 0
        if not has_check:
            print("  check 50 specs              skipped: this shapecli has no `check` command")
        else:
            snap = subprocess.run([SHAPECLI, "snapshot", str(d)], capture_output=True, text=True, env=ENV)
            if snap.returncode != 0:
                print(f"  check 50 specs              skipped: snapshot failed: {snap.stderr.strip()[:200]}")
            else:
                run("check 50 specs", [SHAPECLI, "check", str(d)])

    print(f"measuring {len(jobs)} cases x {repeat} rounds (wall time, peak RSS of the process):")
    if not args.quick:
        for _, cmd, env in jobs:  # warm the file cache and bytecode once, unmeasured
            run_once(cmd, env)
    samples: dict = {name: [] for name, _, _ in jobs}
    for rnd in range(repeat):
        for name, cmd, env in jobs:
            samples[name].append(run_once(cmd, env))
    for name, _, _ in jobs:
        r = results[name] = summarize(samples[name])
        shown = f"{r['s']:7.2f} s (min {r['min_s']:.2f}) {r['mib']:6.0f} MiB" if r else "   failed"
        print(f"  {name:<26} {shown}")
    info["load_after"] = os.getloadavg()[0]

    # ------------------------------------------------------------------ table and targets
    def get(k):
        return results.get(k)

    print("\n| case | shapecli s | MiB | baseline | s | MiB | time ratio (of minima) | memory ratio |")
    print("|---|--:|--:|---|--:|--:|--:|--:|")
    rows = [("shapecli --help", "import torch"), ("mlp", "import torch"), ("mlp", "torchinfo:mlp"),
            ("resnet50", "torchinfo:resnet50"), ("resnet50", "torchinfo 1 thread:resnet50"),
            ("gpt2_small", "torchinfo:gpt2_small"), ("gpt2_small", "torchinfo 1 thread:gpt2_small"),
            ("llama7b", "torchinfo:llama7b"), ("gpt3_175b", "torchinfo:gpt3_175b"),
            ("python resnet50", "torchinfo:resnet50"), ("python llama7b", "torchinfo:llama7b")]
    rows += [(f"mlp_{n} layers", "import torch") for n in sizes]
    rows += [("check 50 specs", "import torch")]
    table = []
    for a, b in rows:
        ra, rb = get(a), get(b)
        if ra is None:
            continue
        tr = f"{ra['s'] / rb['s']:.2f}x ({ra['min_s'] / rb['min_s']:.2f}x)" if rb else "—"
        mr = f"{ra['mib'] / rb['mib']:.2f}x" if rb else "—"
        bs = f"{rb['s']:.2f}" if rb else "—"
        bm = f"{rb['mib']:.0f}" if rb else "—"
        print(f"| {a} | {ra['s']:.2f} | {ra['mib']:.0f} | {b} | {bs} | {bm} | {tr} | {mr} |")
        table.append({"case": a, "baseline": b, "s": ra["s"], "mib": ra["mib"],
                      "baseline_s": rb["s"] if rb else None, "baseline_mib": rb["mib"] if rb else None})

    targets = []

    def target(label, ok, detail):
        status = "SKIP" if ok is None else ("PASS" if ok else "FAIL")
        targets.append({"target": label, "status": status, "detail": detail})
        print(f"{status}  {label}: {detail}")

    def ratio(a, b, key="s"):
        ra, rb = get(a), get(b)
        return (ra[key] / rb[key]) if ra and rb else None

    print("\ntargets:")
    for label, a, b, key, limit in [
        ("--help <= 0.1x import torch", "shapecli --help", "import torch", "s", 0.1),
        ("MLP <= 1.0x import torch", "mlp", "import torch", "s", 1.0),
        ("ResNet-50 full report <= 0.9x torchinfo CPU time", "resnet50", "torchinfo:resnet50", "s", 0.9),
        ("GPT-2 small <= 0.5x torchinfo time", "gpt2_small", "torchinfo:gpt2_small", "s", 0.5),
        ("GPT-2 small <= 0.5x torchinfo peak memory", "gpt2_small", "torchinfo:gpt2_small", "mib", 0.5),
        ("GPT-3 175B <= 0.8x torchinfo-on-meta time", "gpt3_175b", "torchinfo:gpt3_175b", "s", 0.8),
        ("Python ResNet-50 (measured stats) <= 0.8x torchinfo", "python resnet50", "torchinfo:resnet50", "s", 0.8),
        ("Python 7B Llama on meta <= 0.5x torchinfo on meta", "python llama7b", "torchinfo:llama7b", "s", 0.5),
    ]:
        r = ratio(a, b, key)
        target(label, None if r is None else r <= limit, "not measured" if r is None else f"{r:.2f}x")
    r1 = ratio("resnet50", "torchinfo 1 thread:resnet50")
    if r1 is not None:
        print(f"info  ResNet-50 vs torchinfo also on one thread: {r1:.2f}x")
    g3 = get("gpt3_175b")
    target("GPT-3 175B < 512 MiB", None if not g3 else g3["mib"] < 512, f"{g3['mib']:.0f} MiB" if g3 else "not measured")
    m10, m1k, m10k = get("mlp_10 layers"), get("mlp_1000 layers"), get("mlp_10000 layers")
    if m10 and m1k and m10k and m1k["s"] <= m10["s"]:  # the 1,000-layer run no slower than start-up: noise
        target("10,000 layers <= 12x 1,000 layers beyond start-up", None,
               f"not measurable in this run: the 1,000-layer run took {m1k['s']:.2f} s, the 10-layer run "
               f"{m10['s']:.2f} s")
    elif m10 and m1k and m10k:
        grow = (m10k["s"] - m10["s"]) / (m1k["s"] - m10["s"])
        target("10,000 layers <= 12x 1,000 layers beyond start-up", grow <= 12,
               f"{grow:.1f}x (start-up = the 10-layer run, {m10['s']:.2f} s)")
    else:
        target("10,000 layers <= 12x 1,000 layers beyond start-up", None, "not measured (--quick skips it)")
    if m10 and m10k:  # issue 17: the per-layer cost
        beyond = m10k["s"] - m10["s"]
        target("10,000 layers <= 3 s beyond start-up", beyond <= 3,
               f"{beyond:.2f} s (min {m10k['min_s'] - m10['min_s']:.2f} s; start-up = the 10-layer run, {m10['s']:.2f} s)")
    else:
        target("10,000 layers <= 3 s beyond start-up", None, "not measured (--quick skips it)")
    c50, it = get("check 50 specs"), get("import torch")
    if c50 and it:
        limit = it["s"] + 50 * 0.050
        target("50 specs <= import torch + 50 ms/spec", c50["s"] <= limit,
               f"{c50['s']:.2f} s vs {limit:.2f} s ({(c50['s'] - it['s']) / 50 * 1000:.0f} ms/spec beyond import)")
    else:
        target("50 specs <= import torch + 50 ms/spec", None, "not measured")
    fwd = forward_costs() if want("forward") else None
    if fwd:
        worst = max(fwd, key=lambda r: r["ratio"])
        print("info  forward per call, shapecli vs hand-written: "
              + ", ".join(f"{r['case']} {r['shapecli_us']:.0f}/{r['twin_us']:.0f} µs" for r in fwd))
        target("materialized model's forward <= 1.10x the same layers by hand", worst["ratio"] <= 1.10,
               f"worst {worst['case']} {worst['ratio']:.3f}x (bench/forward.py)")
    else:
        target("materialized model's forward <= 1.10x the same layers by hand", None, "not measured")
    print(f"\nload average: {info['load_before']:.2f} before, {info['load_after']:.2f} after "
          "(other work on the machine inflates every figure; compare ratios)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps({"machine": info, "repeat": repeat, "results": results,
                                                     "table": table, "targets": targets,
                                                     "forward": fwd}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
