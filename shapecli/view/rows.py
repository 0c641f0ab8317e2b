"""The main table's rows: layers as a tree (depth folding, repeated blocks folded), parameters below them."""
from __future__ import annotations

from shapecli.errors import literal
from shapecli.names import local_name
from shapecli.view.units import fmt_float, shape_str, sparkline
from shapecli.view import COLUMNS, Column, Row, Table
from shapecli.view.fold import fold_repeats

# key -> (title, align, priority, breaks). Priority 0 is never dropped; the highest numbers go first.
SPEC = {
    "layer": ("Layer (type)", "left", 0, True),
    "input": ("Input", "left", 4, True),
    "output": ("Output", "left", 0, True),
    "formula": ("Formula", "left", 5, True),
    "kernel": ("Kernel", "left", 4, False),
    "stride": ("Stride", "left", 4, False),
    "params": ("Params", "right", 0, False),
    "share": ("%", "right", 3, False),
    "trainable": ("Trainable", "left", 2, False),
    "mult_adds": ("Mult-adds", "right", 2, False),
    "inferred": ("Inferred", "left", 3, True),
    "mean": ("mean", "right", 6, False),
    "std": ("std", "right", 6, False),
    "min": ("min", "right", 7, False),
    "max": ("max", "right", 7, False),
    "hist": ("hist", "left", 8, False),
    "init": ("init: expected", "left", 9, True),
}
STATS = ("mean", "std", "min", "max")
# Columns that leave the main block together ("stats"), and move below in whole sub-groups.
GROUPS = {"mean": "stats.moments", "std": "stats.moments", "min": "stats.range", "max": "stats.range",
          "hist": "stats.hist", "init": "stats.init"}


def heading(report) -> list:
    runs = report.runs
    where = report.spec_file or getattr(report, "source", None)  # escaped: a file name may hold control characters
    first = [("bold", literal(report.name, 200))] + ([("dim", f"  ({literal(where, 400)})")] if where else [])
    ins = ", ".join(f"{shape_str(t)} {t.dtype}" for t in report.inputs)
    second = [("", f"input {ins} → output {shape_str(runs[0].output) if runs else '—'}"),
              ("dim", f"   seed {report.seed} · {report.device} · torch {report.torch_version}")]
    return [first, second]


def _dims(v) -> str:
    if not v:
        return ""
    return str(v[0]) if len(set(v)) == 1 and len(v) <= 1 else "×".join(map(str, v))


def shape_pieces(out) -> list:
    """Where an output may wrap: between the top-level members of a tuple, never inside a tensor's shape."""
    if isinstance(out, list) and len(out) > 1:
        parts = [shape_str(o) for o in out]
        return ["(" + parts[0] + ","] + [" " + p + "," for p in parts[1:-1]] + [" " + parts[-1] + ")"]
    return [shape_str(out)]


def _inputs_text(ins) -> tuple[str, list]:
    if not ins:
        return "", [""]
    parts = [shape_str(x) for x in ins]
    return ", ".join(parts), [parts[0]] + [", " + p for p in parts[1:]]


def _pct(n: int, total: int) -> str:
    if not n or not total:
        return ""
    s = 100 * n / total
    return "<0.1%" if s < 0.05 else f"{s:.1f}%"


def _trainable(params: int, trainable: int) -> str:
    if not params:
        return ""
    return "yes" if trainable == params else ("no" if trainable == 0 else "partly")


def expected_text(init) -> str:
    """'kaiming_normal: std 0.0625, fan 512→256': the scheme and what its formula predicts."""
    if init is None:
        return ""
    text = init.scheme.split(" (")[0]
    e = init.expected
    if e is not None and e.std is not None:
        text += f": std {fmt_float(e.std)}"
        if e.min is not None and e.max is not None and e.min == -e.max and e.max:
            text += f", ±{fmt_float(e.max)}"
        elif e.min is not None and e.min == e.max:
            text += f" (= {fmt_float(e.min)})"
        elif e.mean:
            text += f", mean {fmt_float(e.mean)}"
    if init.fan_in is not None:
        text += f", fan {init.fan_in}→{init.fan_out}" if init.fan_out is not None else f", fan_in {init.fan_in}"
    return text


def _split(text: str, sep: str = ", ") -> list:
    parts = text.split(sep)
    return [parts[0]] + [sep + p for p in parts[1:]]


def choose_columns(report, params: bool, columns: list | None) -> list:
    ok_runs = [i for i, r in enumerate(report.runs) if r.error is None]
    extra = [f"output#{i + 1}" for i in ok_runs if i > 0]
    show_params = params and bool(report.params)
    if columns is not None:
        keys = ["layer"]
        for k in COLUMNS:
            if k in columns and k != "layer":
                keys += extra if k == "outputs" else [k]
        return keys
    lays = report.layers
    keys = ["layer", "output", *extra]
    if any(lay.symbolic for lay in lays):
        keys.append("formula")
    if any(lay.kernel_size for lay in lays):
        keys += ["kernel", "stride"]
    keys.append("params")
    if report.totals.params:
        keys.append("share")
    if any(not p.trainable for p in report.params):
        keys.append("trainable")
    if any(lay.flops is not None for lay in lays):
        keys.append("mult_adds")
    if any(lay.inferred for lay in lays):
        keys.append("inferred")
    if show_params and any(p.stats for p in report.params):
        keys += list(STATS)
        if any(p.histogram for p in report.params):
            keys.append("hist")
        keys.append("init")
    return keys


def _column(key: str) -> Column:
    if key.startswith("output#"):
        return Column(key, "Output #" + key[7:], "left", 1, True)
    title, align, prio, breaks = SPEC[key]
    return Column(key, title, align, prio, breaks, GROUPS.get(key, ""))


def main_table(report, depth: int | None = None, params: bool = True, expand: bool = False,
               columns: list | None = None) -> tuple[Table, list]:
    """The layer table and the folds made ([(first path, last key, copies)])."""
    keys = choose_columns(report, params, columns)
    cols = [_column(k) for k in keys]
    want = set(keys)
    total = report.totals.params
    ok_runs = [i for i, r in enumerate(report.runs) if r.error is None]
    by_layer: dict = {}
    if params:
        for p in report.params:
            by_layer.setdefault(p.layer, []).append(p)
    layers = [lay for lay in report.layers if depth is None or lay.depth < depth]
    folds = {} if expand else fold_repeats(layers, by_layer)
    rows, made = [], []
    hide_below = None  # depth of a hidden copy being skipped
    for lay in layers:
        if hide_below is not None:
            if lay.depth > hide_below:
                continue
            hide_below = None
        fold = folds.get(lay.path)
        if fold == "hidden":
            hide_below = lay.depth
            continue
        rows.append(_layer_row(lay, fold, want, ok_runs, total))
        if fold:
            made.append((lay.path, fold))
        if lay.is_container:
            continue
        indent = "  " * (lay.depth + 1)
        for p in by_layer.get(lay.path, ()):
            rows.append(_param_row(p, lay, indent, want))
    return Table(cols, rows), made


def _layer_row(lay, fold, want: set, ok_runs: list, total: int) -> Row:
    key = lay.path.rsplit(".", 1)[-1] if lay.depth else lay.path
    n, params, flops = 1, lay.params, lay.flops
    if fold:
        n, last, members = fold
        key = f"{key}-{last}"
        params = sum(m.params for m in members)
        flops = sum(m.flops or 0 for m in members) if lay.flops is not None else None
    indent = "  " * lay.depth
    name = f"{indent}{key} ({lay.type})" + (f" × {n}" if fold else "")
    pieces = [indent + key, f" ({lay.type})"] + ([f" × {n}"] if fold else [])
    cells = {"layer": name}
    piece = {"layer": (pieces, indent + "  ")}
    styles = {"layer": "bold" if lay.is_container else ""}
    if "output" in want:
        out = lay.output_shapes[0] if lay.output_shapes else None
        cells["output"] = shape_str(out)
        piece["output"] = (shape_pieces(out), " ")
    for i in ok_runs[1:]:
        k = f"output#{i + 1}"
        if k in want:
            out = lay.output_shapes[i] if i < len(lay.output_shapes) else None
            cells[k] = shape_str(out)
            piece[k] = (shape_pieces(out), " ")
    if "input" in want:
        text, pcs = _inputs_text(lay.input_shapes[0] if lay.input_shapes else None)
        cells["input"], piece["input"] = text, (pcs, " ")
    if "formula" in want and lay.symbolic:
        cells["formula"] = shape_str(lay.symbolic)
        piece["formula"] = (shape_pieces(lay.symbolic), " ")
        styles["formula"] = "magenta"
    if "kernel" in want:
        cells["kernel"] = _dims(lay.kernel_size)
    if "stride" in want:
        cells["stride"] = _dims(lay.stride) if lay.kernel_size else ""
    if "params" in want:
        cells["params"] = f"{params:,}" if params else ("" if lay.is_container else "0")
    if "share" in want:
        cells["share"] = _pct(params, total)
    if "trainable" in want:
        cells["trainable"] = _trainable(lay.params, lay.trainable)
    if "mult_adds" in want:
        cells["mult_adds"] = f"{flops // 2:,}" if flops is not None else ""
    if "inferred" in want and lay.inferred:
        text = ", ".join(f"{k}={v}" for k, v in lay.inferred.items())
        cells["inferred"], piece["inferred"] = text, (_split(text), "  ")
        styles["inferred"] = "dim"
    full = lay.path if not fold else f"{lay.path}-{fold[1]}"
    return Row("container" if lay.is_container else "layer", cells, lay.depth, full, piece, styles)


def _param_row(p, lay, indent: str, want: set) -> Row:
    local = local_name(p.name, p.layer)
    cells = {"layer": indent + local}
    styles = {"layer": "green" if p.trainable else "dim"}
    piece = {}
    if "output" in want:
        cells["output"] = shape_str({"shape": p.shape})
    if "params" in want:
        cells["params"] = f"= {p.shared_with}" if p.shared_with else f"{p.numel:,}"
    if "trainable" in want:
        cells["trainable"] = "yes" if p.trainable else "no"
    s = p.stats
    style = "italic" if s and s.source != "measured" else ""
    for k in STATS:
        if k in want:
            cells[k] = fmt_float(getattr(s, k)) if s else "—"
            styles[k] = style
    if "hist" in want and p.histogram:
        cells["hist"] = sparkline(p.histogram)
    if "init" in want and p.init:
        flag = " ⚠ " + "; ".join(p.init.flagged) if p.init.flagged else ""
        text = expected_text(p.init) + flag
        cells["init"], piece["init"] = text, (_split(text), "  ")
        styles["init"] = "yellow" if flag else "dim"
    return Row("param", cells, lay.depth + 1, p.name, piece, styles)
