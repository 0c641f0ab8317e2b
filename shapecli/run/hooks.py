"""Forward hooks on every reported layer (run/outline.py): output shapes, the layer being run, refit checks,
errors located.

The hooks live as long as the run: `_attach` returns their handles and `detach` removes them (and
any other handles the run made), so the model handed back carries none."""
from __future__ import annotations

from dataclasses import dataclass, field

from shapecli._torch import nn, torch
from shapecli.errors import Problem, ShapeCliError, ShapeError, literal
from shapecli.model.calls import HOOK_DICTS
from shapecli.model.lazy import BuildContext, Deferred, OverBudget
from shapecli.model.reading import check_refit, shape_of
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
    stack_inputs: list = field(default_factory=list)  # the inputs of each layer on the stack (for error messages)
    run: int = 0
    progress: object = None
    where: object = None  # the Loc of an error outside every reported layer (a Python model's own forward)
    _sizes: dict = field(default_factory=dict)
    handles: list = field(default_factory=list)  # the hooks' handles (detach removes them)
    direct: list = field(default_factory=list)  # the placeholders that tell the recorder themselves
    _infos: dict = field(default_factory=dict)  # (shape, dtype) -> TensorInfo (describe)
    on_placeholders: bool = False  # a hook went onto a placeholder (detach must look for it on the real layer)
    derived: list = field(default_factory=list)  # (path, first child, last child): plain Sequentials, children first

    def derive(self) -> None:
        """A plain nn.Sequential's input is its first child's, its output its last child's (its forward is
        that chain, and it has no hook of its own): told from them after a pass, without hooks of its own
        (10,000 Sequential items: 20,000 hook calls and registrations fewer)."""
        for path, first, last in self.derived:
            if first in self.inputs:
                self.inputs[path] = self.inputs[first]
            if last in self.outputs:
                self.outputs[path] = self.outputs[last]
            if last in self.acts:
                self.acts[path] = self.acts[last]

    def describe(self, x):
        """run.inputs.describe(x), one TensorInfo per shape and dtype of the run (never changed once made):
        10,000 layers of one width give 40,000 inputs and outputs alike."""
        if isinstance(x, torch.Tensor):
            key = (x.shape, x.dtype)
            info = self._infos.get(key)
            if info is None:
                info = self._infos[key] = describe(x)
            return info
        if isinstance(x, (tuple, list)):
            return [self.describe(y) for y in x]
        return None

    def enter(self, path: str, inputs) -> None:
        """A reported layer starts (its pre-hook, or a placeholder that tells the recorder itself)."""
        self.stack.append(path)
        self.stack_inputs.append(inputs)
        self.inputs[path] = list(map(self.describe, inputs))
        if self.run > 0:
            node = self.nodes[path]
            if node.node is not None and not node.is_container and path in self.sizes:
                check_refit(node.node, self.sizes[path], inputs)

    def leave(self, path: str, output) -> None:
        """A reported layer returned `output` (its forward hook, or the placeholder itself)."""
        self.stack.pop()
        self.stack_inputs.pop()
        self.outputs[path] = self.describe(output)
        if self.progress is not None and self.run == 0:
            self.progress(len(self.outputs), len(self.nodes) - len(self.derived))
        if isinstance(output, torch.Tensor):
            if self.device != "meta" and output.numel() * output.element_size() > self.act_budget:
                raise OverBudget(path)
            if self.activations and self.device != "meta" and output.is_floating_point() and output.numel():
                o = output.detach().double()
                self.acts[path] = {"mean": o.mean().item(), "std": o.std(correction=0).item()}

    def pre(self, path):
        return lambda module, inputs: self.enter(path, inputs)

    def post(self, path):
        return lambda module, inputs, output: self.leave(path, output)

    @property
    def sizes(self) -> dict:
        if len(self._sizes) != len(self.ctx.trace):  # rebuilt only when layers were added
            self._sizes = {t["layer"]: t["sizes"] for t in self.ctx.trace}
        return self._sizes


def _attach(model: nn.Module, rec: _Recorder) -> list:
    """The recorder's hooks on every spec item; their handles."""
    handles = rec.handles
    modules = module_paths(model)  # once: get_submodule walked each path from the root
    rec.derived = []
    for path, desc in rec.nodes.items():
        if desc.kind in TENSORS:  # a Parameter/Buffer item is a tensor, not a module: nothing runs
            continue
        m = modules.get(path)
        if m is None:  # a module reached by a second path (named_modules lists it once)
            m = model.get_submodule(path)
        ends = _chain_ends(m, path, rec.nodes) if desc.is_container else None
        if ends is not None:
            rec.derived.append((path, *ends))
            continue
        if isinstance(m, Deferred) and m.ctx is rec.ctx and m.node.path == path:
            m.__dict__["rec"] = rec  # a placeholder of this run tells the recorder itself (model/lazy.py)
            rec.direct.append(m)
            continue
        if isinstance(m, Deferred):
            rec.on_placeholders = True  # moves to its real layer when swapped in: detach looks for it
        handles.append(m.register_forward_pre_hook(rec.pre(path)))
        handles.append(m.register_forward_hook(rec.post(path)))
    rec.derived.reverse()  # children before the Sequential that holds them
    return handles


def module_paths(model: nn.Module) -> dict:
    """{path: module} for every path a module is reached by, as named_modules(remove_duplicate=False) walks
    them, without its tower of generators (30,001 modules three deep: each was handed up through every level)."""
    out, stack = {}, [("", model)]
    while stack:
        path, m = stack.pop()
        out.setdefault(path, m)
        if m._modules:
            pre = f"{path}." if path else ""
            stack.extend((pre + k, c) for k, c in reversed(m._modules.items()) if c is not None)
    return out


def attach_swapped(model: nn.Module, rec: _Recorder) -> None:
    """Before a later pass: hooks on the real layers swapped in for the placeholders that told the
    recorder and the output guard themselves in the first one (a placeholder still waiting for data goes
    on telling them; a real layer it still wraps is then guarded twice, to the same effect)."""
    ctx = rec.ctx
    if ctx is not None and ctx.guarded:
        for real in ctx.guarded:
            ctx.handles.append(real.register_forward_pre_hook(ctx.guard))
        ctx.guarded.clear()
    if not any(m.real is not None for m in rec.direct):
        return
    modules = module_paths(model)
    swapped = [m for m in rec.direct if m.real is not None]
    rec.direct = [m for m in rec.direct if m.real is None]
    for m in swapped:
        path = m.node.path
        m.__dict__["rec"] = None
        real = modules.get(path)
        if real is None or isinstance(real, Deferred):
            continue
        rec.handles.append(real.register_forward_pre_hook(rec.pre(path)))
        rec.handles.append(real.register_forward_hook(rec.post(path)))


def release(rec: _Recorder) -> None:
    """The placeholders that told the recorder forget it: the model handed back holds nothing of the run's
    (those swapped out are no longer in it: only the ones still waiting for data, if any, are told)."""
    if rec.ctx is not None and rec.ctx.pending:
        for m in rec.direct:
            m.__dict__["rec"] = None
    rec.direct.clear()


def _chain_ends(m: nn.Module, path: str, nodes: dict):
    """(first child's path, last child's path) of a plain nn.Sequential whose children are all reported
    layers and which has no hook (a hook may change what it returns); None for any other module."""
    if type(m) is not nn.Sequential or not m._modules or any(map(m.__dict__.get, HOOK_DICTS)):
        return None
    kids = [f"{path}.{k}" for k in m._modules]
    for k in kids:
        desc = nodes.get(k)
        if desc is None or desc.kind in TENSORS:
            return None
    return kids[0], kids[-1]


def detach(model: nn.Module, handles: list, moved: bool = True) -> None:
    """Remove the run's hooks. A hook registered on a placeholder moved to its real layer when the
    layer was swapped in (model/lazy.py finalize), where its handle no longer reaches: hook ids
    are unique, so each module's hook dicts lose those ids. `moved`: False where no hook was registered on
    a placeholder (the recorder's own placeholders tell it directly): the handles then reach every hook."""
    ids = set()
    for h in handles:
        ids.add(h.id)
        h.remove()
    handles.clear()
    if not ids or not moved:
        return
    for m in model.modules():
        for attr in HOOK_DICTS:
            d = getattr(m, attr, None)
            if d:
                for k in [k for k in d if k in ids]:
                    del d[k]


def _run(model, xs, rec: _Recorder):
    """One forward pass; any failure becomes a ShapeError naming the innermost layer."""
    rec.stack.clear()
    rec.stack_inputs.clear()
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
    finally:
        rec.derive()  # also after a failed pass: its containers that ran are reported as before


def _locate(message: str, rec: _Recorder, xs, with_input: bool = False) -> ShapeError:
    """The error at the innermost layer still running; torch's own messages get that layer's input shape."""
    path = rec.stack[-1] if rec.stack else None
    if path is None:
        return ShapeError(Problem(f"{message} (input {shape_of(xs)})", rec.where))
    node = rec.nodes[path]
    if with_input:  # the inputs of the innermost layer running (stack_inputs pairs with stack)
        shapes = [list(x.shape) if isinstance(x, torch.Tensor) else x for x in rec.stack_inputs[-1]]
        message = f"input {', '.join(map(str, shapes))}: {message}"
    return ShapeError(Problem(message, node.loc, node.label()))
