"""shapecli/fileio.py: reading only regular files of bounded size, and writing atomically."""
import os
import stat

import pytest

from shapecli.errors import BaselineError
from shapecli.fileio import read_regular, write_atomic


def test_read_regular_refuses_what_is_not_a_small_regular_file(tmp_path):
    f = tmp_path / "b.json"
    f.write_bytes(b"12345")
    assert read_regular(str(f), 5, BaselineError, "baseline") == b"12345"
    assert read_regular(str(tmp_path / "none.json"), 5, BaselineError, "baseline", missing_ok=True) is None
    cases = [(str(tmp_path / "none.json"), "no such file"), (str(tmp_path), "is a directory, not a baseline file")]
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "fifo")
        cases.append((str(tmp_path / "fifo"), "not a regular file"))
    for path, message in cases:
        with pytest.raises(BaselineError) as e:
            read_regular(path, 5, BaselineError, "baseline")
        assert str(e.value).startswith(f"{path}: error: {message}"), str(e.value)
    with pytest.raises(BaselineError) as e:
        read_regular(str(f), 4, BaselineError, "baseline")
    assert "the file is 5 bytes; a baseline may be at most 4" in str(e.value)


def test_write_atomic_replaces_whole_and_keeps_the_mode(tmp_path):
    f = tmp_path / "out.json"
    f.write_text("old")
    os.chmod(f, 0o640)
    write_atomic(str(f), "new ✓")
    assert f.read_text(encoding="utf-8") == "new ✓"
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]  # no temp file left behind


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    f = tmp_path / "out.json"
    f.write_text("old")

    def fail(*_):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(str(f), "new")
    assert f.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


# ---------------------------------------------------------------------------- issue 17: what may be replaced, and how

def test_a_symlink_is_replaced_by_a_new_file_with_the_umask_mode(tmp_path):
    target = tmp_path / "setuid"
    target.write_text("#!/bin/sh\n")
    os.chmod(target, 0o4755)
    link = tmp_path / "out.html"
    link.symlink_to(target)
    old = os.umask(0o027)
    try:
        write_atomic(str(link), "new")
    finally:
        os.umask(old)
    assert not link.is_symlink() and link.read_text() == "new"
    assert stat.S_IMODE(os.stat(link).st_mode) == 0o640
    assert target.read_text() == "#!/bin/sh\n" and stat.S_IMODE(os.stat(target).st_mode) == 0o4755


def test_a_replaced_file_keeps_its_permissions_but_never_setuid(tmp_path):
    f = tmp_path / "out.json"
    f.write_text("old")
    os.chmod(f, 0o6750)
    write_atomic(str(f), "new")
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o750


def test_report_marker_after_the_doctype():
    from shapecli.fileio import REPORT_MARKER, mark_report

    assert mark_report("<!DOCTYPE html>\n<html>").splitlines() == ["<!DOCTYPE html>", REPORT_MARKER, "<html>"]
    assert mark_report("<svg>\n</svg>").splitlines() == [REPORT_MARKER, "<svg>", "</svg>"]


@pytest.mark.parametrize("fail", ["mkstemp", "replace", "write"])
def test_write_output_failures_are_one_line_and_keep_the_old_file(tmp_path, monkeypatch, fail):
    import errno
    import tempfile

    from shapecli.errors import OutputError
    from shapecli.fileio import write_output

    f = tmp_path / "r.html"
    f.write_text("old")

    def boom(*a, **k):
        if fail == "mkstemp":
            raise PermissionError(errno.EACCES, "Permission denied")  # a read-only directory (root ignores chmod)
        raise OSError(errno.ENOSPC, "No space left on device")

    if fail == "mkstemp":
        monkeypatch.setattr(tempfile, "mkstemp", boom)
    elif fail == "replace":
        monkeypatch.setattr(os, "replace", boom)
    else:
        monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OutputError) as e:
        write_output(str(f), "new", "HTML report")
    msg = str(e.value)
    assert msg.startswith(f"{f}: error: cannot write the HTML report: ") and "\n" not in msg
    assert ("Permission denied" if fail == "mkstemp" else "No space left") in msg
    assert f.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


def test_inspect_html_svg_replace_only_their_own_files(cli, tmp_path):
    from conftest import CONFIGS

    spec = str(CONFIGS / "mlp.yaml")
    html, svg = tmp_path / "r.html", tmp_path / "r.svg"
    code, _, err = cli("inspect", spec, "--html", str(html), "--svg", str(svg))
    assert code == 0, err
    assert "written by shapecli" in html.read_text()[:200] and "written by shapecli" in svg.read_text()[:200]
    assert cli("inspect", spec, "--html", str(html), "--svg", str(svg))[0] == 0  # ours: replaced
    mine = tmp_path / "index.html"
    mine.write_text("<html>my own page</html>")
    code, out, err = cli("inspect", spec, "--html", str(mine))
    assert code == 2 and "was not written by shapecli" in err and "--force" in err and out == ""
    assert mine.read_text() == "<html>my own page</html>"
    code, _, err = cli("inspect", spec, "--html", str(mine), "--force")
    assert code == 0 and "written by shapecli" in mine.read_text()
    code, out, err = cli("inspect", spec, "--html", "")
    assert code == 2 and "--html: give a file name" in err and out == ""


def test_inspect_html_into_an_unwritable_place_exits_2(cli, tmp_path, monkeypatch):
    import errno
    import tempfile

    from conftest import CONFIGS

    def denied(*a, **k):
        raise PermissionError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    code, _, err = cli("inspect", str(CONFIGS / "mlp.yaml"), "--html", str(tmp_path / "r.html"))
    assert code == 2, err
    assert err.strip() == f"{tmp_path / 'r.html'}: error: cannot write the HTML report: Read-only file system"


def test_sigterm_during_a_write_removes_the_temporary_file(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    code = f"""
import os, signal, sys
from shapecli.cli import startup
from shapecli import fileio
startup.start()
def fsync(fd):
    os.kill(os.getpid(), signal.SIGTERM)
os.fsync = fsync
try:
    fileio.write_atomic({str(tmp_path / 'b.json')!r}, 'x' * 1000)
except startup.Terminated:
    print(sorted(os.listdir({str(tmp_path)!r})))
    sys.exit(143)
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.returncode == 143, p.stderr
    assert p.stdout.strip() == "[]"


def test_ctrl_c_and_sigterm_exit_with_a_message(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from conftest import ROOT

    spec = tmp_path / "long.yaml"
    spec.write_text("input: [2, 8]\nlayers:\n  - Sequential:\n      - Linear: 8\n    repeat: 15000\n")
    for sig, rc, msg in ((signal.SIGINT, 130, "shapecli: interrupted"), (signal.SIGTERM, 143, "shapecli: terminated")):
        p = subprocess.Popen([sys.executable, "-m", "shapecli", "inspect", str(spec)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, cwd=ROOT,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # a background
        time.sleep(3)  # job's parent may ignore SIGINT, and Python then leaves it ignored
        p.send_signal(sig)
        _, err = p.communicate(timeout=60)
        assert (p.returncode, err.strip()) == (rc, msg)
