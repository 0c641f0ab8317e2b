"""The exported code of `Parameter:`/`Buffer:` items: the tensor registered on its container, as
`self.class_token = nn.Parameter(torch.zeros(1, 1, 768))` or `register_buffer(...)`, its init drawn
where the spec model draws it (in module order). No torch here."""
from __future__ import annotations

from shapecli.export.pyfmt import Call, lines, literal

# schemes written as the tensor's constructor: no nn.init call after it
_MAKERS = {"zeros": "torch.zeros", "ones": "torch.ones"}


def tensor_lines(parent: str, acc: str, node, args: dict, ind: str) -> list:
    """The lines that create, register and fill the tensor `node` declares, `acc` being its access."""
    d = node.tensor
    shape = [int(v) for v in args["shape"]]
    size = ", ".join(map(str, shape))
    dtype = "" if args["dtype"] == "float32" else f", dtype=torch.{args['dtype']}"
    after = []
    if d.fill == "arange":
        make = f"torch.arange({shape[-1]}{dtype}).expand({size}).contiguous()"
    elif d.init.name in _MAKERS:
        make = f"{_MAKERS[d.init.name]}({size}{dtype})"
    elif d.init.name == "constant":
        make = f"torch.full(({size}{',' if len(shape) == 1 else ''}), {literal(d.init.args['val'])}{dtype})"
    else:
        make = f"torch.empty({size}{dtype})"
        kw = "".join(f", {k}={literal(v)}" for k, v in d.init.kwargs)
        after = [f"{ind}nn.init.{d.init.name}_({acc}{kw})"]
    if d.kind == "Parameter":
        grad = [("requires_grad", "False")] if node.freeze else []
        return lines(Call("nn.Parameter", [(None, make), *grad]), ind, f"{acc} = ") + after
    keep = [] if d.persistent else [("persistent", "False")]
    return lines(Call(f"{parent}.register_buffer", [(None, f'"{node.key}"'), (None, make), *keep]), ind) + after


def expanded(access: str, node, v: str) -> str:
    """An owned tensor as a merge's operand: over the batch of `v` (the spec model's rule, glue._over_batch)."""
    n = len(node.tensor.shape)
    if n < 2 or node.tensor.shape[0] != 1:
        return access
    return f"{access}.expand({v}.shape[0], {', '.join(['-1'] * (n - 1))})"
