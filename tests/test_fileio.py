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
