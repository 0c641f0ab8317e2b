"""Writing files safely: a crash or a failed run never leaves half a file behind."""
from __future__ import annotations

import os
import stat
import tempfile

from shapecli.errors import Loc, OutputError, ShapeCliError


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

    A crash leaves the old file or the new one, never half of either. A replaced regular file keeps
    its read/write/execute permissions (never setuid, setgid or sticky bits); anything else, a
    symlink included (it is replaced, its target untouched), gets a new file's mode: 0666 less the
    umask, not mkstemp's 0600 and never a symlink target's.
    """
    d = os.path.dirname(os.path.abspath(path))
    try:
        st = os.lstat(path)
        mode = stat.S_IMODE(st.st_mode) & 0o777 if stat.S_ISREG(st.st_mode) else None
    except FileNotFoundError:
        mode = None
    if mode is None:
        mode = 0o666 & ~_umask()
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


def _umask() -> int:
    """The process's umask, read from /proc where possible (os.umask can only be read by setting it)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    um = os.umask(0o022)
    os.umask(um)
    return um


# Report files (--html, --svg): shapecli replaces only a file it wrote itself, recognised by this
# comment near its start, unless told to (--force).
REPORT_MARKER = "<!-- written by shapecli; it may replace this file -->"
_MARKER_WINDOW = 1024


def mark_report(text: str) -> str:
    """An HTML or SVG document with shapecli's marker: after the <!DOCTYPE ...> or <?xml ...?> line, else first."""
    first, nl, rest = text.partition("\n")
    if nl and first.lstrip().lower().startswith(("<!doctype", "<?xml")):
        return f"{first}\n{REPORT_MARKER}\n{rest}"
    return f"{REPORT_MARKER}\n{text}"


def is_our_report(path: str) -> bool:
    """Whether the file at `path` carries shapecli's report marker (an unreadable file does not)."""
    try:
        with open(path, "rb") as f:
            head = f.read(_MARKER_WINDOW)
    except OSError:
        return False
    return REPORT_MARKER.encode() in head


def write_output(path: str, text: str, what: str, error: type[ShapeCliError] = OutputError) -> None:
    """write_atomic, with a failure (read-only directory or file system, full disk, ...) as one
    `error` line naming the file: exit 2, the old file intact."""
    try:
        write_atomic(path, text)
    except OSError as e:
        raise error(f"cannot write the {what}: {e.strerror or e}", Loc(path)) from None


# `shapecli schema -o` marks the schemas it writes, so that it replaces only its own files.
SCHEMA_MARK = "written by `shapecli schema -o`; regenerate it with the same command (do not edit)"


def write_schema_file(path: str, schema: dict) -> None:
    """Write a JSON Schema (its "$comment" is SCHEMA_MARK) to `path` atomically, creating its folder;
    refuse to replace a file that `shapecli schema -o` did not write."""
    import json

    if os.path.lexists(path):
        try:
            with open(path, encoding="utf-8") as f:
                old = json.load(f)
        except (OSError, ValueError):
            old = None
        if not (isinstance(old, dict) and old.get("$comment") == SCHEMA_MARK):
            raise OutputError("exists and was not written by `shapecli schema -o`; not replacing it "
                              "(move it away, or choose another path)", Loc(path))
    d = os.path.dirname(path)
    try:
        if d:
            os.makedirs(d, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create the folder: {e.strerror or e}", Loc(path)) from None
    write_output(path, json.dumps(schema, indent=2) + "\n", "schema")
