"""Run: push sample inputs through a fresh lazy model and gather what it holds.

engine (materialize: the passes, then the Report built once by assemble), inputs, hooks, measure,
guard, collect (gather). No re-exports here: a facade importing engine would put every module that
imports a sibling of engine (analyses/estimate.py: run.inputs) in an import cycle with it.
"""
