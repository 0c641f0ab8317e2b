"""Measured statistics on a second thread while the forward pass runs."""
from __future__ import annotations

import queue
import threading

from shapecli._torch import nn, torch
from shapecli.run.threads import one_thread

STATS_MAX_NUMEL = 50_000_000  # measured statistics up to this many elements per model, then analytic
LINT_MAX_NUMEL = 10_000_000  # lint_tensor's value checks on parameters up to this size
HELP_MIN_NUMEL = 1 << 16  # _Measurer.results: the caller's thread helps with tensors this big


# ---------------------------------------------------------------------------- gathering

class _Measurer:
    """Looks at each parameter's values (init.look: statistics, histogram, lints) as soon as its
    layer is built and initialized, on a second thread.

    torch's kernels release the GIL, so where a second core is free the statistics of the layers
    built so far are computed while the forward pass goes on, instead of after it (ResNet-50:
    about 0.2 s of statistics over 25.6M values off the critical path). Parameters under
    HELP_MIN_NUMEL values are Python-bound, so they wait for results() on the caller's thread: on
    the second thread they only took turns at the GIL with the forward pass, and each torch op of
    the pass waited for the GIL to come back (10,000 tiny Linear layers, profiled: ~0.2 ms per op instead of
    ~0.015 ms). Parameters are taken in
    the order they are built, up to STATS_MAX_NUMEL values per model; the rest get analytic
    statistics. Statistics run on one intra-op thread (run/threads.py: set for this thread only),
    on the measuring thread and on the caller's alike, so they do not depend on the thread count.
    """

    def __init__(self, histograms: bool):
        self.histograms = histograms
        self.left = STATS_MAX_NUMEL
        self.seen: set = set()
        self.looks: dict = {}  # id(parameter) -> (parameter, init.Look)
        self.error: BaseException | None = None
        self.stopped = False
        self.todo: queue.SimpleQueue = queue.SimpleQueue()
        self.small: list = []  # parameters under HELP_MIN_NUMEL: measured by results(), on the caller's thread
        self.thread = threading.Thread(target=self._work, name="shapecli-measure", daemon=True)
        self.thread.start()

    def __call__(self, path: str, layer: nn.Module) -> None:  # BuildContext.on_built
        own = getattr(layer, "_parameters", None)  # a layer without children: its own dict, not a walk
        named = own.items() if own is not None and not layer._modules else layer.named_parameters()
        for local, prm in named:
            if prm is not None:
                self.take(prm, f"{path}.{local}", path)

    def take(self, prm, name: str, layer: str) -> None:
        """Queue one parameter (`name` as the report names it, owned by `layer`)."""
        key, n = id(prm), prm.numel()
        if key in self.seen or n > self.left:  # tied: measured where it was built
            return
        self.seen.add(key)
        self.left -= n
        if n < HELP_MIN_NUMEL:  # Python-bound: on the second thread it would only fight the forward
            self.small.append((prm, name, layer))  # pass for the GIL (10,000 Linear layers: ~0.2 ms per op)
        else:
            self.todo.put((prm, name, layer))

    def _work(self) -> None:
        with one_thread():
            while (item := self.todo.get()) is not None:
                self._look(item)

    def _look(self, item) -> None:
        from shapecli.analyses import init as initmod

        if self.stopped or self.error is not None:
            return
        prm, name, layer = item
        try:
            with torch.no_grad():
                look = initmod.look(name, layer, prm, histograms=self.histograms, lint=prm.numel() <= LINT_MAX_NUMEL)
        except BaseException as e:  # noqa: BLE001 - raised again in the caller's thread
            self.error = e
            return
        self.looks[id(prm)] = (prm, look)

    def _look_small(self, items: list) -> None:
        """_look of each small parameter, those of one shape and dtype measured together (init.look_many)."""
        from shapecli.analyses.init.stats import look_many

        if self.stopped or self.error is not None or not items:
            return
        try:
            with torch.no_grad():
                looks = look_many([(name, layer, prm) for prm, name, layer in items], histograms=self.histograms,
                                  lint=True)  # every small parameter is under LINT_MAX_NUMEL
        except BaseException as e:  # noqa: BLE001 - raised again by results(), as _look's
            self.error = e
            return
        for (prm, _, _), look in zip(items, looks):
            self.looks[id(prm)] = (prm, look)

    def results(self) -> dict:
        """Every parameter handed over so far, looked at: {id(parameter): (parameter, Look)}.
        The caller's thread, done with the forward pass, takes a share of the big tensors left
        (small ones are Python-bound: two threads would only take turns at the GIL)."""
        with one_thread():
            for _ in range(self.todo.qsize()):  # one pass over what is queued now
                try:
                    item = self.todo.get_nowait()
                except queue.Empty:
                    break
                if item is not None and item[0].numel() >= HELP_MIN_NUMEL:
                    self._look(item)
                else:
                    self.todo.put(item)  # back to the measuring thread (the order does not matter)
            small, self.small = self.small, []
            self._look_small(small)  # while the measuring thread finishes the big ones
        self.todo.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.looks

    def stop(self) -> None:
        """Drop whatever is still queued (a failed run) and end the thread."""
        self.stopped = True
        self.small.clear()
        if self.thread.is_alive():
            self.todo.put(None)
            self.thread.join()

