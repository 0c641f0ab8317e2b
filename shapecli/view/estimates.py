"""The estimates section (report.estimates, from analyses/estimate.py): memory per dtype, FLOPs. No torch here."""
from __future__ import annotations

from shapecli.view.units import human_bytes, human_count
from shapecli.view import Column, Row, Section, Table

TOP_LAYERS = 5  # layers listed by FLOPs share


def human_flops(n) -> str:
    if n is None:
        return "—"
    for unit, div in (("PFLOPs", 1e15), ("TFLOPs", 1e12), ("GFLOPs", 1e9), ("MFLOPs", 1e6), ("KFLOPs", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f} {unit}"
    return f"{n} FLOPs"


def _b(n) -> str:
    return "—" if n is None else human_bytes(n)


def _memory_rows(est) -> tuple[list, list]:
    head = ["dtype", "weights", "buffers", "inference", "gradients", "Adam m+v", "fp32 master", "activations",
            "training"]
    rows = []
    for m in est.get("memory") or []:
        t = m.get("training")
        rows.append([m["dtype"], _b(m["weights"]), _b(m["buffers"]), _b(m["inference"]),
                     _b(t["gradients"]) if t else "—", _b(t["adam_m"] + t["adam_v"]) if t else "—",
                     (_b(t["master_weights_fp32"]) if t["master_weights_fp32"] else "0") if t else "—",
                     _b(m.get("activations")), _b(t["total"]) if t else "—"])
    return head, rows


def _top_layers(report, n: int = TOP_LAYERS) -> list:
    leaves = [lay for lay in report.layers if not lay.is_container and lay.flops]
    return sorted(leaves, key=lambda lay: -lay.flops)[:n]


def _not_counted(f) -> str:
    parts = [f"{u['op'].replace('aten.', '')} ×{u['calls']} ({human_count(u['elements'])} elements)"
             for u in f.get("not_counted") or []]
    return ", ".join(parts) if parts else "none"


def _lines(report) -> list[tuple[str, str]]:
    """(style, text) lines below the memory table."""
    est = report.estimates
    out = []
    c = est.get("counts") or {}
    if c:
        tied = f", {c['tied']} tied counted once" if c.get("tied") else ""
        out.append(("", f"Parameters {c['params']:,} (trainable {c['trainable']:,}{tied}); buffers {c['buffers']:,}"))
    notes = est.get("notes") or {}
    if any(m.get("training") for m in est.get("memory") or []):
        out.append(("dim", f"training = {notes.get('training', '')}"))
        out.append(("dim", f"activations ≈ {notes.get('activations', '')}"))
    f = est.get("flops")
    if f:
        total = f["forward"]
        out.append(("bold", f"Forward: {human_flops(total)} ({total:,} FLOPs; one multiply-add = 2 FLOPs; "
                            f"counted on {f.get('counted_on', '?')})"))
        if f.get("backward") is not None:
            out.append(("", f"Backward ≈ 2× forward: {human_flops(f['backward'])}   "
                            f"training step ≈ {human_flops(f['train_step'])}"))
        types: dict = {}
        for lay in report.layers:
            if not lay.is_container and lay.flops:
                types[lay.type] = types.get(lay.type, 0) + lay.flops
        if types and total:
            out.append(("", "By layer type: " + ", ".join(
                f"{k} {100 * v / total:.1f}%" for k, v in sorted(types.items(), key=lambda kv: -kv[1]))))
        tops = _top_layers(report)
        if tops and total:
            out.append(("", "Top layers: " + ", ".join(
                f"{lay.path} {lay.type} {100 * lay.flops / total:.1f}%" for lay in tops)))
        if f.get("by_op"):
            out.append(("dim", "Counted: " + ", ".join(f"{k.replace('aten.', '')} {human_flops(v)}"
                                                      for k, v in f["by_op"].items())))
        out.append(("yellow" if f.get("not_counted") else "dim", "Not counted (no formula): " + _not_counted(f)))
        if f.get("zero_cost"):
            out.append(("dim", "Zero by convention (data movement): " + ", ".join(
                k.replace("aten.", "") for k in f["zero_cost"])))
    return out


def estimates_section(report) -> Section:
    """report.estimates: the memory table per dtype, then FLOPs lines."""
    head, rows = _memory_rows(report.estimates)
    table = None
    if rows:
        keys = ["dtype", "weights", "buffers", "inference", "gradients", "adam", "master", "activations", "training"]
        prio = {"dtype": 0, "weights": 0, "inference": 0, "training": 0, "activations": 1, "gradients": 2,
                "adam": 2, "buffers": 3, "master": 3}
        cols = [Column(k, h, "left" if k == "dtype" else "right", prio[k]) for k, h in zip(keys, head)]
        table = Table(cols, [Row("plain", dict(zip(keys, r))) for r in rows], key_title="dtype")
    return Section("estimates", lines=[("", "")], table=table, after=_lines(report), title="Estimates")
