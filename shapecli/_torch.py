"""The one place shapecli imports torch, so every entry point gets the same quiet import.

torch 2.x without numpy warns "Failed to initialize NumPy" on stderr at import; shapecli
needs no numpy, and a stray warning would break the one-line error contract.
"""
import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*Failed to initialize NumPy.*")
    import torch
    from torch import nn

__all__ = ["torch", "nn"]
