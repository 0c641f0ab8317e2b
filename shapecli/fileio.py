"""Writing files safely: a crash or a failed run never leaves half a file behind."""
from __future__ import annotations

import os
import stat
import tempfile

from shapecli.errors import Loc, ShapeCliError


def read_regular(path: str, max_bytes: int, error: type[ShapeCliError], what: str, missing_ok: bool = False,
                 pipe_hint: str = "") -> bytes | None:
    """A file's bytes, refusing (with `error`, naming the file) anything but a regular file of at
    most `max_bytes`: a FIFO or /dev/zero is never opened, so nothing blocks or runs away.
    None when the file does not exist and `missing_ok`."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if missing_ok:
            return None
        raise error("no such file", Loc(path)) from None
    except OSError as e:
        raise error(f"cannot read: {e.strerror or e}", Loc(path)) from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"is a directory, not a {what} file", Loc(path))
    if not stat.S_ISREG(st.st_mode):
        raise error(f"not a regular file (a pipe or device is not read{pipe_hint})", Loc(path))
    if st.st_size > max_bytes:
        raise error(f"the file is {st.st_size:,} bytes; a {what} may be at most {max_bytes:,}", Loc(path))
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise error(f"cannot read: {e.strerror or e}", Loc(path)) from None
    if len(data) > max_bytes:  # it grew while we read it
        raise error(f"the {what} is larger than {max_bytes:,} bytes", Loc(path))
    return data


def write_atomic(path: str, text: str) -> None:
    """Write `text` to `path` via a temp file in the same directory, fsync, os.replace.

    A crash leaves the old file or the new one, never half of either. The new file keeps the old
    one's permissions (or gets the umask's default), not mkstemp's 0600.
    """
    d = os.path.dirname(os.path.abspath(path))
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        um = os.umask(0)
        os.umask(um)
        mode = 0o666 & ~um
    fd, tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable (POSIX); not possible everywhere
        dfd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
