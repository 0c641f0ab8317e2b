"""Output on a stream that cannot encode it (`LC_ALL=C`, `PYTHONIOENCODING=ascii`): an ASCII rendering.

The reports use a few non-ASCII characters (`→`, `√`, `×`, `σ`, ...). On a stream whose encoding
cannot hold them, `ascii_streams()` (the CLI's one output-stream setting, cli/app.py main) sets
stdout's and stderr's error handler to `shapecli-ascii`, which writes each such character's ASCII
spelling (`->`, `sqrt`, `x`, `sigma`) and any other as `?`: never a UnicodeEncodeError. A stream
that can encode everything (UTF-8) is left as it is, byte for byte.
"""
from __future__ import annotations

import codecs
import contextlib
import sys
import unicodedata

HANDLER = "shapecli-ascii"

ASCII = {
    "→": "->", "←": "<-", "↻": "(re)", "√": "sqrt", "×": "x", "·": ".", "—": "--", "–": "-", "…": "...",
    "±": "+/-", "≥": ">=", "≤": "<=", "≈": "~", "≠": "!=", "σ": "sigma", "μ": "mu", "κ": "kappa", "²": "^2",
    "³": "^3", "•": "*", "✗": "x", "✓": "ok", "✅": "ok", "❌": "x", "⚠": "!", "➖": "-", "🔄": "~",
    "\ufe0f": "", "│": "|", "─": "-", "█": "#", "▁": "_", "▂": "_", "▃": "=", "▄": "=", "▅": "+", "▆": "+", "▇": "#",
    "\u00a0": " ", "‘": "'", "’": "'", "“": '"', "”": '"',
}


def ascii_for(ch: str) -> str:
    """One character's ASCII spelling: the table's, else its decomposition's ASCII part (é -> e), else ?."""
    if ch in ASCII:
        return ASCII[ch]
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if c.isascii())
    return base or "?"


def _handler(e: UnicodeError):
    if not isinstance(e, UnicodeEncodeError):
        raise e
    return "".join(ascii_for(c) for c in e.object[e.start:e.end]), e.end


def _register() -> None:
    try:
        codecs.lookup_error(HANDLER)
    except LookupError:
        codecs.register_error(HANDLER, _handler)


def _can_encode_all(stream) -> bool:
    enc = getattr(stream, "encoding", None)
    if enc is None:  # a str buffer (io.StringIO): encodes nothing
        return True
    try:
        return codecs.lookup(enc).name in ("utf-8", "utf-16", "utf-32", "gb18030")
    except LookupError:
        return False


@contextlib.contextmanager
def ascii_streams():
    """For the block: stdout and stderr write an ASCII rendering of what their encoding cannot hold."""
    _register()
    saved = []
    for name in ("stdout", "stderr"):
        s = getattr(sys, name)
        if s is None or _can_encode_all(s) or not hasattr(s, "reconfigure"):
            continue
        try:
            old = s.errors
            s.reconfigure(errors=HANDLER)
        except (AttributeError, ValueError, OSError):
            continue
        saved.append((s, old))
    try:
        yield
    finally:
        for s, old in saved:
            try:
                s.reconfigure(errors=old)
            except (ValueError, OSError):
                pass
