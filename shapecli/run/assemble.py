"""The Report, built once from the passes' parts: gather's, the symbolic pass's, the estimates'.

No pass writes into a Report: each returns its part and `assemble` constructs the Report from
them, in one place. No torch here.
"""
from __future__ import annotations

from dataclasses import replace

from shapecli.errors import literal
from shapecli.report import Diagnostic, Report


def assemble(gathered, symbolic=None, estimates=None) -> Report:
    """The Report of one inspection.

    gathered: run.collect.Gathered. symbolic: an analyses.symbolic SymbolicResult, when the input
    named dimensions. estimates: an analyses.estimate.Estimates, when estimates were asked for.
    """
    formulas = {}
    diagnostics = list(gathered.diagnostics) + list(gathered.warnings)
    block = None
    if symbolic is not None:
        from shapecli.analyses.symbolic.result import layer_outputs

        formulas = layer_outputs(symbolic, gathered.layers)
        block = symbolic.to_dict()
        if not symbolic.batch_ok and symbolic.batch_issue:  # constraints stay in the block: facts, not faults
            diagnostics.append(Diagnostic("warning", "batch-folded", literal(symbolic.batch_issue, 300)))
    flops = estimates.layer_flops if estimates is not None and estimates.layer_flops is not None else None
    layers = gathered.layers
    if formulas or flops is not None:
        layers = [_layer(lay, formulas, flops) for lay in layers]
    return Report(name=gathered.name, spec_file=gathered.spec_file, seed=gathered.seed,
                  torch_version=gathered.torch_version, device=gathered.device, runs=gathered.runs, layers=layers,
                  params=gathered.params, buffers=gathered.buffers, totals=gathered.totals, diagnostics=diagnostics,
                  init_trace=gathered.init_trace, estimates=estimates.summary if estimates is not None else None,
                  symbolic=block, source=gathered.source)


def _layer(lay, formulas: dict, flops: dict | None):
    changes = {}
    if lay.path in formulas:
        changes["symbolic"] = formulas[lay.path]
    if flops is not None:
        changes["flops"] = flops.get(lay.path, 0)
    return replace(lay, **changes) if changes else lay
