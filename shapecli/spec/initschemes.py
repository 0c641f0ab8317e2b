"""The init schemes a spec may name, and their parsing. No torch here: this runs while a spec is parsed.

A scheme is written in YAML as a bare name (`kaiming_normal`), as a one-key mapping of a name to
its arguments (`{normal: {std: 0.01}}`), or, for `constant`, as `{constant: 0.5}`. Argument
names are torch.nn.init's. The functions that apply a scheme and predict its statistics are in
analyses/init/ (which needs torch); docs/init.md is the user's guide.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from shapecli.errors import Collector, Loc, SpecError, did_you_mean, literal, what
from shapecli.spec.initgains import (  # noqa: F401  (calculate_gain: imported from here by analyses/init)
    NONLINEARITIES,
    TRUNC_NORMAL_MIN_ACCEPTANCE,
    calculate_gain,
    trunc_normal_acceptance,
)

MODES = ("fan_in", "fan_out")

_REQUIRED = object()  # the default of an argument that must be given


@dataclass(frozen=True)
class Arg:
    kind: str  # "number" | "mode" | "nonlinearity"
    default: Any = _REQUIRED

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


_KAIMING = {
    "a": Arg("number", 0.0),
    "mode": Arg("mode", "fan_in"),
    "nonlinearity": Arg("nonlinearity", "leaky_relu"),
}

# Scheme name -> its arguments, in torch.nn.init's order, with torch's defaults.
SCHEMES: dict[str, dict[str, Arg]] = {
    "default": {},
    "kaiming_uniform": dict(_KAIMING),
    "kaiming_normal": dict(_KAIMING),
    "xavier_uniform": {"gain": Arg("number", 1.0)},
    "xavier_normal": {"gain": Arg("number", 1.0)},
    "normal": {"mean": Arg("number", 0.0), "std": Arg("number", 1.0)},
    "trunc_normal": {
        "mean": Arg("number", 0.0),
        "std": Arg("number", 1.0),
        "a": Arg("number", -2.0),
        "b": Arg("number", 2.0),
    },
    "uniform": {"a": Arg("number", 0.0), "b": Arg("number", 1.0)},
    "orthogonal": {"gain": Arg("number", 1.0)},
    "zeros": {},
    "ones": {},
    "constant": {"val": Arg("number")},
}

# Schemes that need fan_in/fan_out (or rows/columns): tensors of at least 2 dimensions.
NEEDS_2D = frozenset({"kaiming_uniform", "kaiming_normal", "xavier_uniform", "xavier_normal", "orthogonal"})




def _fmt(v: Any) -> str:
    return repr(v) if isinstance(v, float) else str(v)


@dataclass(frozen=True)
class InitScheme:
    """A validated scheme: its name and the arguments given that differ from the defaults."""

    name: str
    kwargs: tuple = ()  # sorted (key, value) pairs, hashable

    @property
    def args(self) -> dict:
        """Every argument of the scheme, defaults filled in (what torch.nn.init is called with)."""
        full = {k: a.default for k, a in SCHEMES[self.name].items() if not a.required}
        full.update(dict(self.kwargs))
        return full

    def describe(self) -> str:
        """'kaiming_normal(mode=fan_out, nonlinearity=relu)', 'normal(std=0.02)', 'default'."""
        if not self.kwargs:
            return self.name
        order = list(SCHEMES[self.name])
        items = sorted(self.kwargs, key=lambda kv: order.index(kv[0]))
        return f"{self.name}(" + ", ".join(f"{k}={_fmt(v)}" for k, v in items) + ")"

    def __str__(self) -> str:
        return self.describe()

    @property
    def needs_2d(self) -> bool:
        return self.name in NEEDS_2D

    @classmethod
    def of(cls, name: str, **kwargs: Any) -> "InitScheme":
        """Build (and validate) a scheme in Python: InitScheme.of("normal", std=0.02)."""
        return parse_scheme({name: kwargs} if kwargs else name)


DEFAULT = InitScheme("default")


def _key_loc(mapping: Any, key: Any, default: Optional[Loc]) -> Optional[Loc]:
    """Where a key was written, when the loader recorded it (yamlload.YMap), else `default`."""
    return getattr(mapping, "key_locs", {}).get(key) or default


def _value_loc(mapping: Any, key: Any, default: Optional[Loc]) -> Optional[Loc]:
    """Where a key's value was written, when the loader recorded it (yamlload.YMap), else `default`."""
    return getattr(mapping, "value_locs", {}).get(key) or default


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _what(v: Any) -> str:
    """How a wrong value is named in a message."""
    return what(v)


def _scheme_names_hint() -> str:
    return ", ".join(SCHEMES)


def parse_scheme(value: Any, loc: Optional[Loc] = None, *, what: str = "init") -> InitScheme:
    """One scheme as parsed from YAML -> InitScheme; every problem of the value in one SpecError.

    `what` names the value in messages ("init.weight").
    """
    c = Collector()

    def bad(msg: str, where: Optional[Loc] = None) -> None:
        c.add(f"{what}: {msg}", where or loc)

    args_loc = loc  # where the arguments were written
    if isinstance(value, str):
        name, raw = value, None
    elif isinstance(value, Mapping):
        if len(value) != 1:
            keys = ", ".join(literal(str(k), 30) for k in value) or "none"
            bad(
                "a scheme with arguments is a mapping with exactly one key, the scheme's name "
                f"(e.g. {{normal: {{std: 0.01}}}}); got keys: {keys}"
            )
            c.raise_if_any()
        ((name, raw),) = value.items()
        if not isinstance(name, str):
            bad(f"a scheme name must be a string, got {_what(name)}", _key_loc(value, name, loc))
            c.raise_if_any()
        args_loc = _value_loc(value, name, loc)
    else:
        hint = ""
        if _is_number(value):
            hint = f" (for a constant, write {{constant: {_fmt(value)}}})"
        bad(
            "expected an init scheme: a name such as kaiming_normal, or {name: {arguments}}; "
            f"got {_what(value)}{hint}"
        )
        c.raise_if_any()

    if name not in SCHEMES:
        where = _key_loc(value, name, loc) if isinstance(value, Mapping) else loc
        bad(f"unknown init scheme {literal(repr(name))}{did_you_mean(name, SCHEMES)}; known: {_scheme_names_hint()}", where)
        c.raise_if_any()
    spec = SCHEMES[name]

    # The arguments: a mapping, nothing (null: all defaults), or a scalar for a one-required-arg scheme.
    required = [k for k, a in spec.items() if a.required]
    arg_locs: dict = {}
    if raw is None:
        given: dict = {}
    elif isinstance(raw, Mapping):
        given = dict(raw)
        arg_locs = {k: (_key_loc(raw, k, args_loc), _value_loc(raw, k, args_loc)) for k in raw}
    elif len(required) == 1 and not isinstance(raw, (list, tuple)):
        given = {required[0]: raw}
    else:
        if not spec:
            bad(f"{name} takes no arguments; write it as a bare name: {name}", args_loc)
        else:
            example = "std" if "std" in spec else next(iter(spec))
            bad(f"the arguments of {name} are a mapping, e.g. {{{name}: {{{example}: ...}}}}; got {_what(raw)}", args_loc)
        c.raise_if_any()

    values: dict[str, Any] = {}
    for key, v in given.items():
        kloc, vloc = arg_locs.get(key, (args_loc, args_loc))
        if not isinstance(key, str) or key not in spec:
            k = str(key)
            if not spec:
                bad(f"{name} takes no arguments, got {literal(repr(k))}", kloc)
            else:
                bad(
                    f"{name} has no argument {literal(repr(k))}{did_you_mean(k, spec)}; "
                    f"its arguments: {', '.join(spec)}",
                    kloc,
                )
            continue
        kind = spec[key].kind
        if kind == "number":
            if not _is_number(v):
                bad(f"{name}: {key} must be a number, got {_what(v)}", vloc)
                continue
            if not math.isfinite(v):
                bad(f"{name}: {key} must be a finite number, got {_fmt(float(v))}", vloc)
                continue
            values[key] = float(v)
        elif kind == "mode":
            if not isinstance(v, str) or v not in MODES:
                dym = did_you_mean(v, MODES) if isinstance(v, str) else ""
                bad(f"{name}: mode must be fan_in or fan_out, got {_what(v)}{dym}", vloc)
                continue
            values[key] = v
        elif kind == "nonlinearity":
            if not isinstance(v, str) or v not in NONLINEARITIES:
                dym = did_you_mean(v, NONLINEARITIES) if isinstance(v, str) else ""
                bad(
                    f"{name}: nonlinearity must be one torch.nn.init.calculate_gain knows, got {_what(v)}{dym}; "
                    f"known: {', '.join(NONLINEARITIES)}",
                    vloc,
                )
                continue
            values[key] = v
    for key in required:
        if key not in given:
            bad(f"{name} needs {key}, e.g. {{{name}: {{{key}: 0.5}}}}")

    # Cross-argument checks, only on values that passed their own.
    full = {k: a.default for k, a in spec.items() if not a.required}
    full.update(values)
    if "std" in values and values["std"] <= 0:
        bad(f"{name}: std must be > 0, got {_fmt(values['std'])}")
    if "gain" in values and values["gain"] <= 0:
        bad(f"{name}: gain must be > 0, got {_fmt(values['gain'])}")
    if name in ("uniform", "trunc_normal") and ("a" in values or "b" in values):
        if not full["a"] < full["b"]:
            bad(f"{name}: a must be less than b, got a={_fmt(full['a'])}, b={_fmt(full['b'])}")
    if name == "trunc_normal" and full["std"] > 0 and full["a"] < full["b"]:
        if full["mean"] < full["a"] - 2 * full["std"] or full["mean"] > full["b"] + 2 * full["std"]:
            # torch warns here; its rejection sampler then takes hundreds of passes.
            bad(
                f"{name}: mean is more than 2 std outside [a, b] (mean={_fmt(full['mean'])}, "
                f"std={_fmt(full['std'])}, a={_fmt(full['a'])}, b={_fmt(full['b'])}): almost every draw "
                "would be rejected; move mean into [a, b] or widen std"
            )
        else:
            acc = trunc_normal_acceptance(full["mean"], full["std"], full["a"], full["b"])
            if acc < TRUNC_NORMAL_MIN_ACCEPTANCE:
                bad(
                    f"{name}: [a, b] = [{_fmt(full['a'])}, {_fmt(full['b'])}] is wide around a narrow, cut-off peak: "
                    f"torch.nn.init.trunc_normal_ would accept only {acc:.1%} of its uniform draws and need "
                    "hundreds of passes over the tensor; narrow [a, b] or move mean into it"
                )
    if name.startswith("kaiming") and "a" in values and full["nonlinearity"] != "leaky_relu":
        bad(
            f"{name}: a (the negative slope) is used only with nonlinearity: leaky_relu, "
            f"not {full['nonlinearity']}"
        )
    c.raise_if_any()

    # Keep only the arguments that differ from their defaults: equal schemes compare equal.
    kept = tuple(
        sorted((k, v) for k, v in values.items() if spec[k].required or v != spec[k].default)
    )
    return InitScheme(name, kept)


def _valid_param_key(key: str) -> bool:
    return bool(key) and all(part.isidentifier() or part.isdigit() for part in key.split("."))


GENERIC_KEYS = ("weight", "bias")


def parse_init_map(value: Any, loc: Optional[Loc] = None, *, what: str = "init") -> dict[str, InitScheme]:
    """The `init:` mapping of a spec or item -> {parameter key: InitScheme}; all problems at once.

    Keys are `weight`, `bias`, or a parameter's local name (`token`, `in_proj_weight`,
    `out_proj.weight`). Whether a key names a parameter of the layer is the builder's check
    (see scheme_for / unmatched_keys).
    """
    c = Collector()
    if not isinstance(value, Mapping):
        c.add(
            f"{what} must be a mapping of parameters to schemes, e.g. {{weight: kaiming_normal, bias: zeros}}; "
            f"got {_what(value)}",
            loc,
        )
        c.raise_if_any()
    if not value:
        c.add(f"{what} is empty: name at least one parameter, e.g. {{weight: kaiming_normal}}", loc)
    out: dict[str, InitScheme] = {}
    for key, v in value.items():
        if not isinstance(key, str) or not _valid_param_key(key):
            c.add(
                f"{what}: a key must be weight, bias or a parameter name such as in_proj_weight; "
                f"got {_what(key) if not isinstance(key, str) else literal(repr(key))}",
                _key_loc(value, key, loc),
            )
            continue
        vloc = _value_loc(value, key, loc)
        try:
            scheme = parse_scheme(v, vloc, what=f"{what}.{key}")
        except SpecError as e:
            c.problems.extend(e.problems)
            continue
        if key == "bias" and scheme.needs_2d:
            c.add(
                f"{what}.bias: {scheme.name} needs a tensor with at least 2 dimensions (it uses fan_in/fan_out) "
                "and biases are 1-D; use zeros, constant, normal, uniform or trunc_normal",
                vloc,
            )
            continue
        out[key] = scheme
    c.raise_if_any()
    return out


def _generic_key(local_name: str) -> Optional[str]:
    """'weight' or 'bias' when the parameter's own name starts or ends with it, else None."""
    leaf = local_name.rsplit(".", 1)[-1]
    for key in GENERIC_KEYS:
        if leaf.startswith(key) or leaf.endswith(key):
            return key
    return None


def scheme_for(
    local_name: str,
    init_map: Mapping[str, InitScheme],
    *,
    ndim: Optional[int] = None,
    own: bool = True,
) -> Optional[InitScheme]:
    """The scheme `init_map` gives the parameter `local_name` (relative to the item), or None.

    An exact key (`in_proj_weight`, `out_proj.weight`, `token`) wins. Otherwise `weight`
    applies to every parameter whose own name starts or ends with "weight" (weight,
    weight_ih_l0, in_proj_weight, out_proj.weight) and `bias` likewise.

    `own=False` is for an `init` inherited from the spec's top level or from an enclosing
    container or block: there `weight` leaves 1-D weights (norm scales, PReLU slopes; pass
    `ndim`) at PyTorch's default, so `init: {weight: kaiming_normal}` does not hit LayerNorm.
    An item's own `init` (own=True) applies `weight` to its 1-D weights too.
    """
    if not init_map:
        return None
    generic = _generic_key(local_name)
    skip_1d_weight = not own and ndim is not None and ndim < 2
    if local_name in init_map:
        if not (local_name == "weight" and skip_1d_weight):
            return init_map[local_name]
        return None
    if generic is None or generic not in init_map:
        return None
    if generic == "weight" and skip_1d_weight:
        return None
    return init_map[generic]


def unmatched_keys(init_map: Mapping[str, InitScheme], local_names) -> list[str]:
    """The keys of an item's own `init` that name no parameter among `local_names` (for an error)."""
    names = list(local_names)
    out = []
    for key in init_map:
        if key in names:
            continue
        if key in GENERIC_KEYS and any(_generic_key(n) == key for n in names):
            continue
        out.append(key)
    return out
