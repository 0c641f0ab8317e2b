"""The one dtype table (no torch): the names as torch spells them, bits per element, and aliases."""
from __future__ import annotations

from shapecli.errors import UsageError

# bits per element of every dtype shapecli names: spec inputs, parameters, estimates
BITS = {"float64": 64, "float32": 32, "float16": 16, "bfloat16": 16, "float8_e4m3fn": 8, "float8_e5m2": 8,
        "complex64": 64, "complex128": 128, "int64": 64, "int32": 32, "int16": 16, "int8": 8, "uint8": 8,
        "int4": 4, "bool": 8}
# the dtypes a sample input may have (a spec's `input:`, --input, a baseline's inputs)
INPUT = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool",
         "complex64")
# the dtypes a memory estimate can be asked for (--dtype), in the order messages list them
ESTIMATE = ("float64", "float32", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2", "int8", "uint8", "int4")
# the estimate dtypes that training and activations are estimated in
FLOATING = ("float64", "float32", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2")
# other spellings --dtype accepts
ALIASES = {"fp64": "float64", "double": "float64", "fp32": "float32", "float": "float32", "fp16": "float16",
           "half": "float16", "bf16": "bfloat16", "fp8": "float8_e4m3fn", "float8": "float8_e4m3fn", "e4m3": "float8_e4m3fn",
           "e5m2": "float8_e5m2", "i8": "int8", "u8": "uint8", "i4": "int4"}


# every spelling of an input's dtype: INPUT's names, then the aliases of one of them (bf16, fp16, double, ...)
INPUT_SPELLINGS = INPUT + tuple(a for a, name in ALIASES.items() if name in INPUT)


def bits(name: str, default: int = 32) -> int:
    """Bits per element of dtype `name` ('float32', not 'torch.float32'); `default` for a name not in the table."""
    return BITS.get(name, default)


def _name(value) -> str:
    """A dtype's name as written: 'bf16', 'float32', or a torch.dtype (torch.bfloat16 -> 'bfloat16')."""
    text = str(value).strip()
    return text[len("torch."):] if text.startswith("torch.") else text.lower()


_TORCH_NAMES: dict = {}  # torch.float32 -> "float32", once per dtype


def torch_name(dtype) -> str:
    """A torch.dtype's name as the Report writes it: torch.float32 -> 'float32' (cached: 20,000 parameters)."""
    name = _TORCH_NAMES.get(dtype)
    if name is None:
        name = _TORCH_NAMES[dtype] = str(dtype).replace("torch.", "")
    return name


def input_name(value) -> str | None:
    """The name in INPUT for an input's dtype as the spec, --input or the Python API writes it (an alias such as
    'bf16', or a torch.dtype), or None for one a sample input cannot have."""
    name = _name(value)
    name = ALIASES.get(name, name)
    return name if name in INPUT else None


def parse_estimate(values) -> list[str]:
    """`["float32,bf16", "int8"]`, a torch.dtype, or a list of those -> ["float32", "bfloat16", "int8"]: the
    dtypes of memory estimates, for --dtype and the Python API alike (order kept, duplicates dropped)."""
    if values is None:
        return []
    if isinstance(values, str) or not hasattr(values, "__iter__"):
        values = [values]
    out: list[str] = []
    for v in values:
        for part in str(v).split(","):
            name = _name(part)
            if not name:
                continue
            name = ALIASES.get(name, name)
            if name not in ESTIMATE:
                raise UsageError(f"--dtype '{part.strip()}': choose from {', '.join(ESTIMATE)} "
                                 f"(or {', '.join(sorted(ALIASES))})")
            if name not in out:
                out.append(name)
    return out
