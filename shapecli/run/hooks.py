"""Forward hooks on every reported layer (run/outline.py): output shapes, the layer being run, refit checks,
errors located.

The hooks live as long as the run: `_attach` returns their handles and `detach` removes them (and
any other handles the run made), so the model handed back carries none."""
from __future__ import annotations

from dataclasses import dataclass, field

from shapecli._torch import nn, torch
from shapecli.errors import Problem, ShapeCliError, ShapeError, literal
from shapecli.model.lazy import BuildContext, OverBudget, check_refit, shape_of
from shapecli.run.inputs import describe
from shapecli.spec.nodes import TENSORS

# ---------------------------------------------------------------------------- hooks

@dataclass
class _Recorder:
    """Forward hooks on every reported layer: output shapes, the layer being run, refit checks."""

    nodes: dict  # path -> run.outline.LayerDesc
    ctx: BuildContext
    act_budget: int
    device: str
    activations: bool = False
    stack: list = field(default_factory=list)
    outputs: dict = field(default_factory=dict)  # path -> Output, for the current run
    inputs: dict = field(default_factory=dict)  # path -> [Output] it was given, for the current run
    acts: dict = field(default_factory=dict)
    in_shapes: dict = field(default_factory=dict)  # path -> the shapes it was last given (for error messages)
    run: int = 0
    progress: object = None
    where: object = None  # the Loc of an error outside every reported layer (a Python model's own forward)
    _sizes: dict = field(default_factory=dict)

    def pre(self, path):
        node = self.nodes[path]

        def hook(module, inputs):
            self.stack.append(path)
            self.in_shapes[path] = [list(x.shape) if isinstance(x, torch.Tensor) else x for x in inputs]
            self.inputs[path] = [describe(x) for x in inputs]
            if self.run > 0 and node.node is not None and not node.is_container and path in self.sizes:
                check_refit(node.node, self.sizes[path], inputs)
        return hook

    def post(self, path):
        def hook(module, inputs, output):
            self.stack.pop()
            self.outputs[path] = describe(output)
            if self.progress is not None and self.run == 0:
                self.progress(len(self.outputs), len(self.nodes))
            if isinstance(output, torch.Tensor):
                if self.device != "meta" and output.numel() * output.element_size() > self.act_budget:
                    raise OverBudget(path)
                if self.activations and self.device != "meta" and output.is_floating_point() and output.numel():
                    o = output.detach().double()
                    self.acts[path] = {"mean": o.mean().item(), "std": o.std(correction=0).item()}
        return hook

    @property
    def sizes(self) -> dict:
        if len(self._sizes) != len(self.ctx.trace):  # rebuilt only when layers were added
            self._sizes = {t["layer"]: t["sizes"] for t in self.ctx.trace}
        return self._sizes


def _attach(model: nn.Module, rec: _Recorder) -> list:
    """The recorder's hooks on every spec item; their handles."""
    handles = []
    modules = dict(model.named_modules())  # once: get_submodule walked each path from the root
    for path, desc in rec.nodes.items():
        if desc.kind in TENSORS:  # a Parameter/Buffer item is a tensor, not a module: nothing runs
            continue
        m = modules.get(path)
        if m is None:  # a module reached by a second path (named_modules lists it once)
            m = model.get_submodule(path)
        handles.append(m.register_forward_pre_hook(rec.pre(path)))
        handles.append(m.register_forward_hook(rec.post(path)))
    return handles


_HOOK_DICTS = ("_forward_hooks", "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
               "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs")


def detach(model: nn.Module, handles: list) -> None:
    """Remove the run's hooks. A hook registered on a placeholder moved to its real layer when the
    layer was swapped in (model/lazy.py finalize), where its handle no longer reaches: hook ids
    are unique, so each module's hook dicts lose those ids."""
    ids = set()
    for h in handles:
        ids.add(h.id)
        h.remove()
    handles.clear()
    if not ids:
        return
    for m in model.modules():
        for attr in _HOOK_DICTS:
            d = getattr(m, attr, None)
            if d:
                for k in [k for k in d if k in ids]:
                    del d[k]


def _run(model, xs, rec: _Recorder):
    """One forward pass; any failure becomes a ShapeError naming the innermost layer."""
    rec.stack.clear()
    rec.outputs = {}
    rec.inputs = {}
    try:
        with torch.no_grad():
            return model(*xs)
    except OverBudget:
        raise
    except ShapeCliError as e:
        first = e.problems[0]
        if not rec.stack and first.loc is not None:  # located where it was raised (an item's `out:`)
            raise
        if first.layer is not None and first.loc is not None:  # located where it was raised (model/owned.py)
            raise ShapeError(first) from e
        raise _locate(first.message, rec, xs) from e
    except (RuntimeError, ValueError, TypeError, IndexError, AssertionError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "can't allocate memory" in msg or "DefaultCPUAllocator" in msg:
            raise OverBudget("allocation") from e
        raise _locate(literal(msg, 200), rec, xs, with_input=True) from e


def _locate(message: str, rec: _Recorder, xs, with_input: bool = False) -> ShapeError:
    """The error at the innermost layer still running; torch's own messages get that layer's input shape."""
    path = rec.stack[-1] if rec.stack else None
    if path is None:
        return ShapeError(Problem(f"{message} (input {shape_of(xs)})", rec.where))
    node = rec.nodes[path]
    if with_input and path in rec.in_shapes:
        message = f"input {', '.join(map(str, rec.in_shapes[path]))}: {message}"
    return ShapeError(Problem(message, node.loc, node.label()))
