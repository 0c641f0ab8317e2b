import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "configs"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("NO_COLOR", "1")


@pytest.fixture(scope="session")
def shapecli_bin(tmp_path_factory):
    """A folder holding a `shapecli` program that runs this checkout, as an installed one would (for
    scripts that call `shapecli` by name: completion, the pre-commit hook, docs/ci.md's workflow)."""
    import stat

    bin_dir = tmp_path_factory.mktemp("bin")
    exe = bin_dir / "shapecli"
    exe.write_text(f'#!/bin/sh\nPYTHONPATH={ROOT} exec {sys.executable} -m shapecli "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return bin_dir


@pytest.fixture
def cli():
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    from shapecli.cli.app import main

    def run(*args, stdin: str | None = None):
        import io

        out, err = io.StringIO(), io.StringIO()
        old = sys.stdout, sys.stderr, sys.stdin
        sys.stdout, sys.stderr = out, err
        if stdin is not None:
            sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode()))
        try:
            code = main(list(args))
        finally:
            sys.stdout, sys.stderr, sys.stdin = old
        return code, out.getvalue(), err.getvalue()

    return run


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="Rewrite tests/golden/ from the current outputs (tests/test_golden.py).")
