"""What the commands share: their common options, the budget parser, and the one writer of error lines."""
from __future__ import annotations

import sys

import typer

from shapecli.errors import UsageError

InputOpt = typer.Option(None, "--input", "-i", metavar="SHAPE",
                        help="Sample input shape, e.g. 2,20 or B,3,H=224,W=224; '2,16:int64' for token ids; "
                             "'2,10;2,20' for two tensors. Repeat to push more inputs through the materialized model.")
SetOpt = typer.Option(None, "--set", "-s", metavar="NAME=VALUE", help="Override a spec variable (repeatable).")



def parse_budget(text: str) -> int:
    units = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
             "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}
    t = text.strip().lower()
    num = t.rstrip("abgikm")
    unit = t[len(num):]
    try:
        v = float(num)
    except ValueError:
        v = -1
    if unit not in units or not (v >= 0) or v == float("inf"):
        raise UsageError(f"--max-memory '{text}': write a size such as 256MiB or 2GiB")
    return int(v * units[unit])


def err(line: str) -> None:
    from shapecli.errors import literal

    sys.stderr.write(literal(line, 400) + "\n")


