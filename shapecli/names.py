"""How a parameter or buffer is named within the layer that owns it (no torch, no imports)."""


def local_name(name: str, layer: str) -> str:
    """A parameter's or buffer's name within its layer: '0.weight' in layer '0' is 'weight'. A tensor
    that a `Parameter:`/`Buffer:` item declares is named by the item's own path: its local name is the
    item's key ('encoder.pos_embedding' in layer 'encoder.pos_embedding' is 'pos_embedding')."""
    if not layer:
        return name
    if name == layer:
        return name.rsplit(".", 1)[-1]
    return name[len(layer) + 1:] if name.startswith(layer + ".") else name
