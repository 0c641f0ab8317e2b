"""Shared by test_corpus.py, test_fuzz.py and fuzz_campaign.py: run the CLI in-process and check the
output contract for bad input (docs/spec.md; issue "Bad input never crashes, hangs, executes code or
loses a file").

The contract checked by `check_contract`:
  * exit code 0, 1 or 2 (3 is an internal error, i.e. a bug);
  * no traceback, no "internal error" on stderr;
  * every stderr line is one problem: `[path[:line:col]: ]error|warning|note: [layer <path> (<Type>): ]message`,
    with no control character (escape sequences in a spec are echoed as `\\x1b`, never raw);
  * an exit 2 says why on stderr; an exit 0 reports no error;
  * `--json` / `-f json` output is valid JSON on stdout whenever a report was printed.
"""
from __future__ import annotations

import io
import json
import os
import re
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"

LINE = re.compile(r"^(?:(?P<where>\S.*?): )?(?P<level>error|warning|note|info): (?P<rest>\S.*)$")
LAYER = re.compile(r"^layer (?P<path>[^ ]+) \((?P<type>[^()]+)\): \S")
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Lines the baseline commands print about files they wrote or skipped (not problems).
STATUS = re.compile(r"^\S.*: (?:created|refreshed|updated|written|skipped|unchanged|up to date)\b.*$")


class Hang(Exception):
    pass


@contextmanager
def time_limit(seconds: float):
    """Fail (instead of hanging the test run) when a call takes longer than `seconds` (main thread only)."""
    if seconds <= 0 or not hasattr(signal, "SIGALRM"):
        yield
        return

    def on_alarm(signum, frame):
        raise Hang(f"did not finish within {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_cli(args, stdin: bytes | str | None = None, timeout: float = 60.0):
    """(code, stdout, stderr, seconds): `shapecli *args` in this process, stdin from bytes/str."""
    from shapecli.cli.app import main

    out, err = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr, sys.stdin
    sys.stdout, sys.stderr = out, err
    if stdin is not None:
        data = stdin.encode() if isinstance(stdin, str) else stdin
        sys.stdin = io.TextIOWrapper(io.BytesIO(data))
    t = time.perf_counter()
    try:
        with time_limit(timeout):
            code = main([str(a) for a in args])
    finally:
        sys.stdout, sys.stderr, sys.stdin = old
    return int(code), out.getvalue(), err.getvalue(), time.perf_counter() - t


def check_contract(args, code: int, out: str, err: str) -> None:
    """Assert the bad-input contract for one run; the message says what broke and on which command line."""
    what = f"shapecli {' '.join(map(str, args))[:300]!s}\nexit {code}\nstderr:\n{err[:3000]}"
    assert code in (0, 1, 2), f"exit code {code} (3 = internal error, a bug)\n{what}"
    assert "Traceback" not in err and "internal error" not in err, f"traceback / internal error\n{what}"
    cmd = next((str(a) for a in args if not str(a).startswith("-")), "")
    for line in err.splitlines():
        if not line.strip():
            continue
        assert not CONTROL.search(line), f"raw control character on stderr: {line!r}\n{what}"
        m = LINE.match(line)
        if m is None:
            assert cmd in ("check", "snapshot") and STATUS.match(line), f"not a one-line problem: {line!r}\n{what}"
            continue
        rest = m["rest"]
        if rest.startswith("layer "):
            assert LAYER.match(rest), f"malformed 'layer <path> (<Type>):' part: {line!r}\n{what}"
        where = m["where"]
        if where and re.search(r":\d+$", where):
            assert re.search(r":\d+:\d+$", where), f"a location is path:line:col: {line!r}\n{what}"
    assert not CONTROL.search(out), \
        f"raw control character on stdout\n{what}\nstdout: {out[:500]!r}"
    if code == 2:
        assert err.strip(), f"exit 2 without a message\n{what}"
    if code == 0:
        assert not any(LINE.match(ln) and LINE.match(ln)["level"] == "error" for ln in err.splitlines()), \
            f"exit 0 with an error line\n{what}"
    formats = [a for b, a in zip(args, args[1:]) if b in ("-f", "--format")]  # the last one wins
    as_json = "--json" in args or (formats[-1:] == ["json"])
    if as_json and cmd == "inspect" and out.strip():
        try:
            json.loads(out)
        except ValueError as e:
            raise AssertionError(f"--json output is not JSON ({e})\n{what}\nstdout: {out[:500]!r}") from None
    if as_json and cmd == "inspect" and code == 0:
        assert out.strip(), f"--json printed nothing\n{what}"


def tree_state(*roots: Path) -> dict:
    """{path: (size, mtime_ns)} of every file under `roots` (to show that nothing was created or changed)."""
    state = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
            for f in filenames:
                p = os.path.join(dirpath, f)
                try:
                    st = os.lstat(p)
                except OSError:
                    continue
                state[p] = (st.st_size, st.st_mtime_ns)
    return state


SKIP_DIRS = {".git", ".venv", "__pycache__", ".hypothesis", ".pytest_cache", "node_modules"}
# What shapecli itself writes: baselines, exports, and write_atomic's temporary files.
OUTPUT_SUFFIXES = (".shapes.json", ".html", ".htm", ".svg", ".tmp")


def written_outputs(root: Path = ROOT) -> dict:
    """shapecli-output-like files in the repository. Others edit the sources, configs and docs while the tests
    run, so the guard looks for what shapecli could write rather than for any change."""
    return {p: v for p, v in tree_state(root).items() if p.endswith(OUTPUT_SUFFIXES)}


CORPUS_DIR = ROOT / "tests" / "corpus"
