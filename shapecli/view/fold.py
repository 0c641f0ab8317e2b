"""Folding repeated blocks: consecutive numbered sibling blocks with identical contents show once, `× N`.

A block made by `repeat: N` is N numbered copies of one item; identical consecutive numbered blocks
written out by hand fold the same way. Two copies are identical when everything the table shows of
them is: types, arguments, inferred sizes, shapes, parameter shapes and counts, formulas, and no
flagged statistic (measured values of real tensors differ from copy to copy; the folded row shows
the first copy's, which the table's note says). JSON and baselines always keep every layer.
"""
from __future__ import annotations

from shapecli.names import local_name


def _signature(lay, own_params: list, child_sigs: tuple, seen: dict) -> int:
    ps = tuple([(local_name(p.name, p.layer), tuple(p.shape), p.dtype, p.trainable, p.shared_with is None,
                 bool(p.init and p.init.flagged)) for p in own_params]) if own_params else ()
    return hash((lay.type, repr(lay.args), repr(lay.inferred), _shapes(lay.output_shapes, seen),
                 _shapes(lay.input_shapes, seen),
                 repr(lay.symbolic), lay.kernel_size and tuple(lay.kernel_size), lay.stride and tuple(lay.stride),
                 lay.is_container, lay.params, lay.trainable, lay.flops, ps, child_sigs))


def _shapes(outputs, seen: dict):
    """Shapes and dtypes of (nested lists of) TensorInfo as a hashable key: a dataclass's repr cost more.
    `seen`: id(TensorInfo) -> its key, for the TensorInfos a run shares between layers (run/hooks.py)."""
    if type(outputs) is list:  # a layer's own list (of TensorInfos seen before, mostly): a loop, no comprehension
        keys = []
        for o in outputs:
            key = seen.get(id(o))
            keys.append(key if key is not None else _shapes(o, seen))
        return tuple(keys)
    if outputs is None:
        return None
    key = seen.get(id(outputs))
    if key is None:
        key = seen[id(outputs)] = (tuple(outputs.shape), outputs.dtype)
    return key


def fold_repeats(layers: list, by_layer: dict) -> dict:
    """path -> (copies, last key, [member LayerInfo]) for the first copy of each run; "hidden" for the others."""
    children: dict = {}  # parent path -> [(key, LayerInfo)]
    for lay in layers:
        parent, _, key = lay.path.rpartition(".")
        kids = children.get(parent)
        if kids is None:
            kids = children[parent] = []
        kids.append((key, lay))
    sigs: dict = {}
    seen: dict = {}  # alive as long as the layers (they hold every TensorInfo): ids are not reused meanwhile
    none = ()
    for lay in reversed(layers):  # children before their parents
        kids = children.get(lay.path)
        kids = tuple([(k, sigs[c.path]) for k, c in kids]) if kids else none  # a leaf: no comprehension
        sigs[lay.path] = _signature(lay, by_layer.get(lay.path, none), kids, seen)
    out: dict = {}
    for kids in children.values():
        i = 0
        while i < len(kids):
            j = i + 1
            key, first = kids[i]
            if key.isdigit():
                at, sig = int(key), sigs[first.path]
                while j < len(kids) and sigs[kids[j][1].path] == sig and kids[j][0] == str(at + j - i):
                    j += 1
            if j - i >= 2:
                members = [lay for _, lay in kids[i:j]]
                out[first.path] = (j - i, kids[j - 1][0], members)
                for m in members[1:]:
                    out[m.path] = "hidden"
            i = j
    return out
