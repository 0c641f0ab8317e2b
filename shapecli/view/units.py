"""How numbers, sizes, shapes and histograms are written in every view (no torch, no rich)."""
from __future__ import annotations

from shapecli.shapes import shape_text


def shape_str(out) -> str:
    """[2, 10] for a tensor; (A, (B, C)) for tuple outputs; '—' when absent."""
    return shape_text(out)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} PiB"


def human_count(n: int) -> str:
    for unit, div in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return str(n)


BARS = " ▁▂▃▄▅▆▇█"


def sparkline(counts) -> str:
    if not counts:
        return ""
    top = max(counts) or 1
    return "".join(BARS[min(8, round(c / top * 8))] if c else BARS[0] for c in counts)


def fmt_float(v) -> str:
    if v is None:
        return "—"
    if v != v:
        return "nan"
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e4 or a < 1e-3:
        return f"{v:.2e}"
    return f"{v:.4f}"
