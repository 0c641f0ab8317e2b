"""What a spec author needs to know about one layer type, as plain data (`shapecli layers [NAME]`, the spec schema).

For each registered type: PyTorch's summary and per-argument help (read from the class docstring),
its arguments in constructor order with PyTorch's own defaults (`activation` defaults to "relu",
the name a spec writes, not `None`), the values a string argument accepts, which arguments are
inferred and from which input dimension, and an example item that parses and binds. Needs torch
(constructor signatures and docstrings).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from shapecli import layers as registry
from shapecli.dtypes import INPUT as DTYPES

# String arguments whose allowed values torch's annotations do not list (they say `str`) or list wrongly:
# the values torch's constructors or forward accept, as PyTorch's docstrings list them. Conv/ConvTranspose
# mean Conv1d-3d/ConvTranspose1d-3d. tests/test_layerdoc.py builds every layer with every value, and fails
# when a `str` argument has no list.
CHOICES = {
    ("Conv", "padding"): ("valid", "same"),  # besides an int or a list of ints
    ("ConvTranspose", "padding_mode"): ("zeros",),  # annotated as Conv's four; the constructor takes only "zeros"
    ("EmbeddingBag", "mode"): ("sum", "mean", "max"),
    ("GELU", "approximate"): ("none", "tanh"),
    ("RNNCell", "nonlinearity"): ("tanh", "relu"),
    ("Upsample", "mode"): ("nearest", "linear", "bilinear", "bicubic", "trilinear", "nearest-exact"),
}

# A value for each required argument in the example item (`- Conv2d: {out_channels: 16, kernel_size: 3}`).
EXAMPLE_VALUES = {
    "out_features": 64, "out_channels": 16, "kernel_size": 3, "output_size": 1, "hidden_size": 32,
    "num_heads": 4, "nhead": 4, "num_groups": 4, "num_embeddings": 1000, "embedding_dim": 64, "size": 5,
    "groups": 2, "upscale_factor": 2, "downscale_factor": 2, "padding": 1, "value": 0.0, "norm_type": 2,
    "threshold": 0.1, "index": 0, "dim": 1, "dims": [0, 2, 1], "dim0": 1, "dim1": 2, "shape": [64, -1],
    "unflattened_size": [2, -1],
}

# Glue layers whose class has no docstring: the wording of docs/spec.md.
GLUE_SUMMARY = {
    "Permute": "torch.permute; dims cover every dimension, batch (0) included: Permute: [0, 2, 1].",
    "Transpose": "torch.transpose of two dimensions: Transpose: [1, 2].",
    "Mean": "The mean over dim (an int or a list): Mean: {dim: [2, 3]}.",
}


@dataclass
class LayerArg:
    name: str
    type: str  # "int | list[int]"
    required: bool
    inferred: bool
    default: object = None  # PyTorch's default as a spec writes it (JSON-able); None when required
    choices: list = field(default_factory=list)  # allowed strings
    inferred_from: str = ""  # "the input's last dimension (dim -1)"
    description: str = ""  # PyTorch's docstring line for the argument


@dataclass
class LayerDetail:
    name: str
    group: str
    glue: bool
    summary: str  # the docstring's first paragraph
    args: list  # [LayerArg] in constructor order
    example: str  # a YAML item that parses: "- Linear: 64"
    aliases: list = field(default_factory=list)  # ["LazyLinear"]
    multi_input: bool = False  # its forward takes several tensors
    tuple_output: bool = False

    @property
    def signature(self) -> str:
        """'Linear(*in_features, out_features, bias=True, dtype=None)': * marks an inferred argument."""
        return f"{self.name}({', '.join(arg_text(a) for a in self.args)})"

    def as_dict(self) -> dict:
        return {**asdict(self), "signature": self.signature}


def arg_text(a: LayerArg) -> str:
    """How the `layers` listing writes one argument: '*in_features', 'out_features', 'bias=True'."""
    if a.inferred:
        return "*" + a.name
    return a.name if a.required else f"{a.name}={a.default!r}"


# ---------------------------------------------------------------------------- docstrings

_ROLE = re.compile(r":(?:math|attr|class|func|meth|ref|mod|data):`([^`]*)`")
_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Shape|Attributes|Examples?|Note|Notes|Warning|Returns|Inputs?|"
                      r"Outputs?|Variables|See also|Keyword args)\s*:+\s*$", re.IGNORECASE)


def _clean(text: str) -> str:
    """RST to plain text: roles (:attr:`x` -> x, :ref:`Text<target>` -> Text), ``x`` -> x, `link`_ -> link."""
    text = _ROLE.sub(lambda m: re.sub(r"\s*<[^>]*>$", "", m.group(1)), text)
    text = re.sub(r"``([^`]*)``", r"\1", text)
    text = re.sub(r"`([^`<]*?)(?:\s*<[^>]*>)?`_*", r"\1", text)
    return " ".join(text.split())


def parse_docstring(doc: str | None) -> tuple[str, dict]:
    """(first paragraph, {argument: its text from the Args: section}) of a class docstring."""
    if not doc:
        return "", {}
    lines = doc.expandtabs().splitlines()
    para: list = []
    for ln in lines:
        if not ln.strip():
            if para and not re.match(r"^[\w.]+\(.*\)$", " ".join(para)):  # not a call signature (RNN's)
                break
            para = []
            continue
        para.append(ln.strip())
    args: dict = {}
    start = next((i for i, ln in enumerate(lines) if re.match(r"^\s*(Args|Arguments|Parameters)\s*:\s*$", ln)), None)
    if start is not None:
        indent, current = None, None
        for ln in lines[start + 1:]:
            if not ln.strip():
                continue
            ind = len(ln) - len(ln.lstrip())
            if indent is None:
                indent = ind
            if ind < indent or _SECTION.match(ln):
                break
            m = re.match(r"^\s*\*{0,2}([A-Za-z_][A-Za-z0-9_]*)(?:\s*\(([^)]*)\))?\s*:\s*(.*)$", ln)
            if ind == indent and m:
                current = m.group(1)
                args[current] = m.group(3)
            elif current is not None:
                args[current] += " " + ln.strip()
        args = {k: _clean(v) for k, v in args.items()}
    return _clean(" ".join(para)), args


# ---------------------------------------------------------------------------- the detail

def inferred_from(rule, spatial: int = 0) -> str:
    """Where an inferred argument's value is read: a registry rule in words."""
    if isinstance(rule, tuple):
        i, d = rule
        where = "last dimension" if d == -1 else f"dim {d}"
        return f"the {where} of input {i}"
    if rule == "C":
        dims = ", ".join("DHW"[3 - spatial:]) if spatial <= 3 else "..."
        return (f"the channel dimension (dim {-(spatial + 1)}): C of [N, C, {dims}], or of [C, {dims}] unbatched")
    if rule == -1:
        return "the input's last dimension (dim -1)"
    if rule == 1:
        return "dim 1 of the input (C of [N, C, ...])"
    if rule == -2:
        return "dim -2 of the input (N of [B, N, D])"
    return f"dim {rule} of the input"


def _choices(name: str, p) -> list:
    for (prefix, arg), values in CHOICES.items():
        if p.name == arg and (name == prefix or re.fullmatch(prefix + r"[123]d", name)):
            return list(values)
    return list(p.choices)


def _default(p, choices: list):
    """PyTorch's default as a spec would write it: F.relu -> "relu"; a tuple -> a list."""
    if p.required or p.inferred:
        return None
    d = p.default
    if callable(d):
        n = getattr(d, "__name__", "")
        return n if n in choices else None
    if isinstance(d, tuple):
        return list(d)
    if d is None or isinstance(d, (bool, int, float, str)):
        return d
    return str(d).replace("torch.", "")  # a dtype


def _example(name: str, args: list) -> str:
    """A YAML item for the layer: its required arguments given by name, with plausible values."""
    required = [a for a in args if a.required and not a.inferred]
    if not required:
        return f"- {name}"
    vals = {a.name: EXAMPLE_VALUES.get(a.name, 1) for a in required}

    def y(v) -> str:
        return "[" + ", ".join(map(str, v)) + "]" if isinstance(v, list) else str(v)

    positional = [a for a in args if not a.inferred]
    if len(required) == 1 and positional[0] is required[0]:  # the short form: `- Linear: 64`
        return f"- {name}: {y(vals[required[0].name])}"
    return f"- {name}: {{" + ", ".join(f"{k}: {y(v)}" for k, v in vals.items()) + "}"


def _summary(name: str, c) -> str:
    lt = registry.REGISTRY[name]
    own = c.__dict__.get("__doc__")  # a class's own docstring, not its base's
    text, _ = parse_docstring(own)
    if not text and lt.glue:
        text = GLUE_SUMMARY.get(name, "")
    return text


def _arg_help(name: str, c) -> dict:
    """The docstring's Args: lines; for RNN/LSTM/GRU and glue layers built on torch's, the base's too."""
    out: dict = {}
    for k in reversed(c.__mro__):
        if k.__module__.startswith(("torch.", "shapecli.")) and k.__dict__.get("__doc__"):
            out.update(parse_docstring(k.__dict__["__doc__"])[1])
    return out


_DETAILS: dict = {}


def detail(name: str) -> LayerDetail:
    """Everything `shapecli layers NAME` shows about a registered layer type (a registry name, aliases resolved)."""
    canon = registry.canonical(name)
    if canon is None or canon in registry.CONTAINERS:
        raise KeyError(name)
    if canon in _DETAILS:
        return _DETAILS[canon]
    lt = registry.REGISTRY[canon]
    c = registry.cls(canon)
    helps = _arg_help(canon, c)
    rules = {i.arg: i.dim for i in lt.inferred}
    args = []
    for p in registry.signature(canon).params:
        choices = _choices(canon, p)
        where = inferred_from(rules[p.name], lt.spatial) if p.inferred else ""
        if p.name in lt.loose:
            where += "; may be given larger (the table's size)"
        text = helps.get(p.name) or (f"dtype of the parameters: one of {', '.join(DTYPES)}" if p.name == "dtype" else "")
        args.append(LayerArg(p.name, p.kind, p.required, p.inferred, _default(p, choices), choices, where, text))
    aliases = sorted(a for a, t in registry.ALIASES.items() if t == canon)
    d = LayerDetail(canon, lt.group, lt.glue, _summary(canon, c), args, _example(canon, args), aliases, lt.multi_input,
                    lt.tuple_output)
    _DETAILS[canon] = d
    return d


def details() -> list:
    """Every registered layer type, by group then name (the `shapecli layers` order)."""
    names = sorted(registry.REGISTRY, key=lambda n: (registry.REGISTRY[n].group, n))
    return [detail(n) for n in names]
