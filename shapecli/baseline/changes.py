"""Comparing two baseline documents: the changes, aligned layer by layer, in spec terms."""
from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field

from shapecli.baseline.document import DEFAULT_TOLERANCE, STAT_KEYS
from shapecli.names import local_name
from shapecli.fileio import read_regular, write_atomic  # noqa: F401  (write_atomic: used by cli/check.py)
from shapecli.shapes import dims_text, shape_text

# ---------------------------------------------------------------------------- comparing

@dataclass
class Detail:
    """One difference: `what` ("weight", "output", "weight dtype"), its old and new value as text.

    old None: it was added; new None: it was removed.
    """

    what: str
    old: str | None
    new: str | None

    def text(self, arrow: str = "->") -> str:
        if self.old is None:
            return f"{self.what} {self.new} added"
        if self.new is None:
            return f"{self.what} {self.old} removed"
        return f"{self.what} {self.old} {arrow} {self.new}"


@dataclass
class Change:
    """A changed, added, removed or moved layer (or the inputs, or drifted init statistics)."""

    kind: str  # "changed" | "added" | "removed" | "moved" | "input" | "totals" | "stats"
    path: str  # the layer's path (the new one; the old one if removed)
    type: str
    line: int | None  # where to point in the current spec
    details: list = field(default_factory=list)  # [Detail]
    old_path: str | None = None  # for "moved"
    nested: int = 0  # added/removed: how many nested items went with it

    @property
    def label(self) -> str:
        return f"layer {self.path} ({self.type})" if self.type else ""

    def summary(self, arrow: str = "->") -> str:
        """What changed, without the layer: 'weight [10, 256] -> [10, 512]; bias [10] -> [20]'."""
        head = []
        if self.kind in ("added", "removed"):
            head.append(self.kind + (f" with {self.nested} nested item{'s' if self.nested != 1 else ''}"
                                     if self.nested else ""))
        elif self.kind == "moved":
            head.append(f"moved from {self.old_path}")
        elif self.kind == "stats":
            head.append("init statistics:")
        body = "; ".join(d.text(arrow) for d in self.details)
        if self.kind in ("added", "removed") and self.details:
            body = ", ".join(f"{d.what} {d.new if d.new is not None else d.old}" for d in self.details)
            return f"{head[0]}: {body}"
        if self.kind == "stats":
            return f"{head[0]} {body}"
        return "; ".join(head + ([body] if body else []))

    def message(self, arrow: str = "->") -> str:
        """'layer 3 (Linear): weight [10, 256] -> [10, 512]'"""
        return f"{self.label}: {self.summary(arrow)}" if self.label else self.summary(arrow)


def _pair_text(a, b) -> tuple:
    ta, tb = shape_text(a), shape_text(b)
    if ta == tb:
        ta, tb = shape_text(a, dtype=True), shape_text(b, dtype=True)
    return ta, tb


def _by_layer(entries: list) -> dict:
    out: dict = {}
    for e in entries:
        out.setdefault(e["layer"], []).append(e)
    return out


def _local(name: str, layer: str) -> str:
    return local_name(name, layer)


def _sig(lay: dict, params: dict, buffers: dict) -> str:
    """Alignment token: layers with equal tokens are the same layer, possibly moved."""
    ps = [(_local(p["name"], lay["path"]), p["shape"], p["dtype"], p["trainable"]) for p in params.get(lay["path"], [])]
    bs = [(_local(b["name"], lay["path"]), b["shape"], b["dtype"]) for b in buffers.get(lay["path"], [])]
    return json.dumps([lay["path"].count("."), lay["type"], ps, bs])


def _kind_token(lay: dict) -> str:
    return f"{lay['path'].count('.')}:{lay['type']}"


def _align(old: list, new: list, oparams, nparams, obuf, nbuf) -> list:
    """[(old layer or None, new layer or None)] in order.

    Identical layers (same depth, type, parameters) are matched first, as a diff matches lines; in
    what is left, layers of the same depth and type are paired to keep the most in common (output
    shapes, parameter shapes, path), so an inserted layer reads as "added", not as every later
    layer "changed".
    """
    a = [_sig(x, oparams, obuf) for x in old]
    b = [_sig(x, nparams, nbuf) for x in new]
    pairs = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            pairs += list(zip(old[i1:i2], new[j1:j2]))
        else:
            pairs += _pair_block(old[i1:i2], new[j1:j2], oparams, nparams)
    return pairs


def _similarity(a: dict, b: dict, oparams: dict, nparams: dict) -> float:
    s = 1.0 + (0.5 if a["path"] == b["path"] else 0.0) + (1.0 if a["output_shapes"] == b["output_shapes"] else 0.0)
    pa = {_local(p["name"], a["path"]): p["shape"] for p in oparams.get(a["path"], [])}
    for p in nparams.get(b["path"], []):
        if pa.get(_local(p["name"], b["path"])) == p["shape"]:
            s += 1.0
    return s


_DP_LIMIT = 250_000


def _pair_block(olds: list, news: list, oparams: dict, nparams: dict) -> list:
    """Best pairing of two runs of differing layers (same depth and type only), in order."""
    n, m = len(olds), len(news)
    if n * m > _DP_LIMIT:  # a very long run: pair by path
        same = {x["path"] for x in news}
        keep = {x["path"]: x for x in olds if x["path"] in same and
                any(y["path"] == x["path"] and _kind_token(y) == _kind_token(x) for y in news)}
        return [(x, None) for x in olds if x["path"] not in keep] + [(keep.get(y["path"]), y) for y in news]
    ka, kb = [_kind_token(x) for x in olds], [_kind_token(x) for x in news]
    dp = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        row, prev = dp[i], dp[i - 1]
        for j in range(1, m + 1):
            best = max(prev[j], row[j - 1])
            if ka[i - 1] == kb[j - 1]:
                best = max(best, prev[j - 1] + _similarity(olds[i - 1], news[j - 1], oparams, nparams))
            row[j] = best
    out = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and ka[i - 1] == kb[j - 1] and \
                dp[i][j] == dp[i - 1][j - 1] + _similarity(olds[i - 1], news[j - 1], oparams, nparams):
            out.append((olds[i - 1], news[j - 1]))
            i, j = i - 1, j - 1
        elif j > 0 and (i == 0 or dp[i][j] == dp[i][j - 1]):
            out.append((None, news[j - 1]))
            j -= 1
        else:
            out.append((olds[i - 1], None))
            i -= 1
    out.reverse()
    return out


def _entries_diff(old: list, new: list, layer_old: str, layer_new: str, trainable: bool) -> list:
    """Details for a layer's own parameters (or buffers), matched by their name within the layer."""
    o = {_local(e["name"], layer_old): e for e in old}
    n = {_local(e["name"], layer_new): e for e in new}
    out = []
    for k in list(n) + [k for k in o if k not in n]:
        a, b = o.get(k), n.get(k)
        if a is None:
            out.append(Detail(k, None, dims_text(b["shape"])))
            continue
        if b is None:
            out.append(Detail(k, dims_text(a["shape"]), None))
            continue
        if a["shape"] != b["shape"]:
            out.append(Detail(k, dims_text(a["shape"]), dims_text(b["shape"])))
        if a["dtype"] != b["dtype"]:
            out.append(Detail(f"{k} dtype", a["dtype"], b["dtype"]))
        if a.get("persistent", True) != b.get("persistent", True):  # buffers: in state_dict() or not
            out.append(Detail(k, _kept(a), _kept(b)))
        if trainable and a["trainable"] != b["trainable"]:
            out.append(Detail(k, "trainable" if a["trainable"] else "frozen", "trainable" if b["trainable"] else "frozen"))
        sa, sb = a.get("shared_with"), b.get("shared_with")
        if (sa is None) != (sb is None) or (sa != sb and layer_old == layer_new):
            out.append(Detail(f"{k} tied to", sa or "—", sb or "—"))
    return out


def _kept(buffer: dict) -> str:
    return "persistent" if buffer.get("persistent", True) else "not persistent"


def _outputs_diff(a: list, b: list) -> list:
    out = []
    n = max(len(a), len(b))
    for i in range(n):
        x = a[i] if i < len(a) else None
        y = b[i] if i < len(b) else None
        if x != y:
            ta, tb = _pair_text(x, y)
            out.append(Detail("output" if n == 1 else f"output #{i + 1}", ta, tb))
    return out


def _inputs_text(sample: list) -> str:
    return "; ".join(dims_text(t["shape"]) + ("" if t["dtype"] == "float32" else f" {t['dtype']}") for t in sample)


def compare(old: dict, new: dict, *, stats: bool = False, tolerance: float = DEFAULT_TOLERANCE) -> list:
    """The architecture changes from baseline `old` to the rebuilt `new` (both baseline documents).

    Spec line numbers, the name and the spec path are not compared: moving a layer down by adding a
    comment is not a change. With `stats`, init statistics in both are compared within `tolerance`.
    """
    changes = []
    if old["inputs"] != new["inputs"]:
        n = max(len(old["inputs"]), len(new["inputs"]))
        for i in range(n):
            a = old["inputs"][i] if i < len(old["inputs"]) else None
            b = new["inputs"][i] if i < len(new["inputs"]) else None
            if a != b:
                what = "input" if n == 1 else f"input #{i + 1}"
                changes.append(Change("input", "", "", None, [Detail(what, _inputs_text(a) if a else None,
                                                                     _inputs_text(b) if b else None)]))
    op, np_ = _by_layer(old["params"]), _by_layer(new["params"])
    ob, nb = _by_layer(old["buffers"]), _by_layer(new["buffers"])
    pairs = _align(old["layers"], new["layers"], op, np_, ob, nb)
    last_line = None
    layer_changes = []
    for a, b in pairs:
        if b is not None and b.get("line"):
            last_line = b["line"]
        if a is None:
            det = [Detail(_local(p["name"], b["path"]), None, dims_text(p["shape"])) for p in np_.get(b["path"], [])]
            if not det and b["params"]:  # a container: what came with it
                det = [Detail("params", None, f"{b['params']:,}")]
            layer_changes.append(Change("added", b["path"], b["type"], b.get("line"), det))
        elif b is None:
            det = [Detail(_local(p["name"], a["path"]), dims_text(p["shape"]), None) for p in op.get(a["path"], [])]
            if not det and a["params"]:
                det = [Detail("params", f"{a['params']:,}", None)]
            layer_changes.append(Change("removed", a["path"], a["type"], last_line, det))
        else:
            det = []
            if a["type"] != b["type"]:
                det.append(Detail("type", a["type"], b["type"]))
            det += _outputs_diff(a["output_shapes"], b["output_shapes"])
            if a.get("symbolic") != b.get("symbolic") and "symbolic" in a:
                det.append(Detail("formula", _formula(a.get("symbolic")), _formula(b.get("symbolic"))))
            det += _entries_diff(op.get(a["path"], []), np_.get(b["path"], []), a["path"], b["path"], True)
            det += _entries_diff(ob.get(a["path"], []), nb.get(b["path"], []), a["path"], b["path"], False)
            moved = a["path"] != b["path"]
            if det or moved:
                layer_changes.append(Change("moved" if moved else "changed", b["path"], b["type"], b.get("line"),
                                            det, old_path=a["path"] if moved else None))
    changes += _fold(layer_changes)
    # Root-level entries (a parameter owned by no spec item) and anything the layers missed.
    root = _entries_diff(op.get("", []), np_.get("", []), "", "", True) + _entries_diff(ob.get("", []), nb.get("", []), "", "", False)
    if root:
        changes.append(Change("changed", "", "", None, root))
    ot, nt = old["totals"], new["totals"]
    if not changes and any(ot[k] != nt[k] for k in ("params", "trainable", "buffers", "param_bytes", "buffer_bytes")):
        changes.append(Change("totals", "", "", None, [Detail(k, f"{ot[k]:,}", f"{nt[k]:,}") for k in
                                                       ("params", "trainable", "buffers") if ot[k] != nt[k]]))
    if not changes and old["outputs"] != new["outputs"]:
        changes.append(Change("changed", "", "", None, _outputs_diff(old["outputs"], new["outputs"])))
    oc, nc = (old.get("symbolic") or {}).get("constraints"), (new.get("symbolic") or {}).get("constraints")
    if oc is not None and oc != nc:
        det = [Detail("constraint", c, None) for c in oc if c not in (nc or [])]
        det += [Detail("constraint", None, c) for c in (nc or []) if c not in oc]
        changes.append(Change("changed", "", "", None, det))
    if stats and "stats" in old and "stats" in new:
        changes += _stats_diff(old, new, tolerance)
    return changes


def _formula(o) -> str | None:
    return None if o is None else shape_text(o)


def _fold(changes: list) -> list:
    """Nested items added or removed with their container are counted under it, not listed; so are
    items that only moved along with a moved container. (Changes come in pre-order.)"""
    out = []
    for c in changes:
        anc = next((p for p in reversed(out) if p.kind == c.kind and p.path and c.path.startswith(p.path + ".")), None)
        if anc is not None and c.kind in ("added", "removed"):
            anc.nested += 1
            continue
        if anc is not None and c.kind == "moved" and not c.details and c.old_path.startswith(anc.old_path + "."):
            continue
        out.append(c)
    return out


def _stats_diff(old: dict, new: dict, tol: float) -> list:
    layer_of = {p["name"]: p["layer"] for p in new["params"]}
    types = {lay["path"]: lay["type"] for lay in new["layers"]}
    lines = {lay["path"]: lay.get("line") for lay in new["layers"]}
    by_layer: dict = {}
    for name, s_new in new["stats"]["params"].items():
        s_old = old["stats"]["params"].get(name)
        if s_old is None:
            continue
        scale = abs(s_old.get("std") or 0.0)
        det = []
        for k in STAT_KEYS:
            a, b = s_old.get(k), s_new.get(k)
            if a is None or b is None:
                if (a is None) != (b is None):
                    det.append((k, a, b))
                continue
            if abs(a - b) > tol * max(abs(a), abs(b), scale):
                det.append((k, a, b))
        if det:
            layer = layer_of.get(name, "")
            loc = _local(name, layer)
            by_layer.setdefault(layer, []).extend(Detail(f"{loc} {k}", _num(a), _num(b)) for k, a, b in det)
    return [Change("stats", layer, types.get(layer, ""), lines.get(layer), det) for layer, det in by_layer.items()]


def _num(v) -> str:
    if v is None:
        return "—"
    if v == 0:
        return "0"
    return f"{v:.4g}"
