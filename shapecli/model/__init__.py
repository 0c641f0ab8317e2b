"""Build: a Spec becomes a lazy nn.Module (lazy), its arguments bound to constructors (args), with
shapecli's own glue layers (glue). No re-exports here: the layer registry imports model.glue, and a
facade importing lazy (which imports the registry) would make that an import cycle.
"""
