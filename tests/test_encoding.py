"""cli/encoding.py: on a stream that cannot encode the output, an ASCII rendering, never exit 3 (issue 17)."""
import io
import os
import subprocess
import sys

import pytest

from conftest import CONFIGS, ROOT
from shapecli.cli.encoding import ascii_for


def _run_ascii(*args, cwd=ROOT):
    """main() with stdout and stderr as ASCII-only text streams: (code, stdout, stderr)."""
    from shapecli.cli.app import main

    out = io.TextIOWrapper(io.BytesIO(), encoding="ascii", errors="strict")
    err = io.TextIOWrapper(io.BytesIO(), encoding="ascii", errors="strict")
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    old_cwd = os.getcwd()
    os.chdir(cwd)
    try:
        code = main(list(args))
        out.flush()
        err.flush()
    finally:
        sys.stdout, sys.stderr = old
        os.chdir(old_cwd)
    assert out.errors == "strict" and err.errors == "strict"  # the streams are handed back as they were
    return code, out.buffer.getvalue().decode("ascii"), err.buffer.getvalue().decode("ascii")


def test_ascii_spellings():
    assert [ascii_for(c) for c in "→√×σ±≥é\u4e2d"] == ["->", "sqrt", "x", "sigma", "+/-", ">=", "e", "?"]


@pytest.mark.parametrize("fmt", [[], ["--json"], ["-f", "markdown"]])
def test_inspect_on_an_ascii_stream(fmt):
    code, out, err = _run_ascii("inspect", str(CONFIGS / "mlp.yaml"), *fmt)
    assert code == 0, err
    assert "internal error" not in err
    if fmt == ["--json"]:
        assert '"name": "mlp"' in out
    else:
        assert "float32 -> output" in out and "·" not in out


def test_inspect_init_column_in_ascii():
    code, table, _ = _run_ascii("inspect", str(CONFIGS / "mlp.yaml"))
    assert code == 0
    assert "fan 20->256" in table and "+/-0.2236" in table


def test_check_and_layers_on_an_ascii_stream(tmp_path):
    spec = tmp_path / "mlp.yaml"
    spec.write_text((CONFIGS / "mlp.yaml").read_text())
    assert _run_ascii("snapshot", str(spec))[0] == 0
    spec.write_text(spec.read_text().replace("256", "128"))
    for fmt in ("table", "markdown", "github", "json"):
        code, out, err = _run_ascii("check", str(spec), "-f", fmt)
        assert code == 1, (fmt, err)
        assert "internal error" not in err
    code, out, _ = _run_ascii("check", str(spec))
    assert "7,946 -> 3,978" in out
    for args in (["layers"], ["layers", "Conv2d"], ["layers", "--json"]):
        code, out, err = _run_ascii(*args)
        assert code == 0 and "internal error" not in err and out


def test_whole_process_with_lc_all_c():
    env = dict(os.environ, LC_ALL="C", PYTHONIOENCODING="ascii", NO_COLOR="1")
    p = subprocess.run([sys.executable, "-m", "shapecli", "inspect", "configs/mlp.yaml"], capture_output=True,
                       cwd=ROOT, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert b"float32 -> output [2, 10]" in p.stdout
    p.stdout.decode("ascii")
