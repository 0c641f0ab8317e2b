"""One torchinfo baseline in a fresh process: `python bench/torchinfo_case.py NAME`.

Builds the hand-written twin (bench/models.py) on its device (CPU, or meta for the huge ones)
and prints torchinfo.summary at full depth, as shapecli prints every layer.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torchinfo  # noqa: E402

from models import build  # noqa: E402

model, xs, device = build(sys.argv[1])
torchinfo.summary(model, input_data=xs, device=device, depth=99, verbose=1)
