"""How a shape is written, everywhere: `[2, 10]` for a tensor, `(A, B)` for a tuple of outputs (no torch)."""
from __future__ import annotations


def dims_text(dims) -> str:
    """[2, 10]: a tensor's sizes (ints, or names and formulas as text)."""
    return "[" + ", ".join(str(d) for d in dims) + "]"


def shape_text(out, dtype: bool = False, absent: str = "—") -> str:
    """The text of an output: a tensor (a dict or an object with `.shape`, or a tuple of sizes such as a
    torch.Size) as [2, 10], with its dtype after it if `dtype`; a list of outputs as (A, (B, C));
    `absent` for None."""
    if out is None:
        return absent
    if isinstance(out, list):
        return "(" + ", ".join(shape_text(o, dtype, absent) for o in out) + ")"
    if isinstance(out, dict):
        s, dt = dims_text(out["shape"]), out.get("dtype")
    elif isinstance(out, tuple):
        return dims_text(out)
    else:
        s, dt = dims_text(out.shape), getattr(out, "dtype", None)
    return f"{s} {dt}" if dtype else s
