"""model/skipinit.py: value-initializing ops are skipped on meta, shape-changing ones are not."""
from __future__ import annotations

import torch

from shapecli.model.skipinit import INIT_FUNCTIONS, VALUE_METHODS, skip_init


def test_shape_changing_in_place_methods_still_act_on_meta():
    with skip_init(), torch.device("meta"):
        a = torch.empty(3, 4)
        a.unsqueeze_(0)
        b = torch.empty(3, 4)
        b.t_()
        c = torch.empty(3, 4)
        c.resize_(2, 5, 7)
        d = torch.empty(1, 3)
        d.squeeze_(0)
        e = torch.empty(2, 3)
        e.requires_grad_(True)
    assert list(a.shape) == [1, 3, 4] and list(b.shape) == [4, 3] and list(c.shape) == [2, 5, 7]
    assert list(d.shape) == [3] and e.requires_grad


def test_value_initializers_are_skipped_on_meta_and_run_on_cpu():
    seen = []

    class Spy(torch.overrides.TorchFunctionMode):  # below skip_init: sees what it lets through
        def __torch_function__(self, func, types, args=(), kwargs=None):
            seen.append(getattr(func, "__name__", ""))
            return func(*args, **(kwargs or {}))

    with Spy(), skip_init():
        with torch.device("meta"):
            torch.nn.Linear(50, 60)  # kaiming_uniform_, uniform_
            torch.nn.Embedding(100, 8)  # normal_
            t = torch.empty(4, 4)
            torch.nn.init.orthogonal_(t)
            torch.nn.init.trunc_normal_(t)
            t.fill_(3.0).zero_()
        real = torch.zeros(3).normal_()
    skipped = {"kaiming_uniform_", "uniform_", "normal_", "orthogonal_", "trunc_normal_", "fill_", "zero_"}
    assert [n for n in seen if n in skipped] == ["normal_"]  # only the CPU tensor's
    assert real.abs().sum() > 0


def test_the_lists_name_real_torch_functions_none_of_them_shape_changing():
    for n in INIT_FUNCTIONS:
        assert callable(getattr(torch.nn.init, n)), n
    for n in VALUE_METHODS:
        assert callable(getattr(torch.Tensor, n)), n
    assert not {"unsqueeze_", "squeeze_", "t_", "transpose_", "resize_", "resize_as_", "as_strided_", "set_",
                "requires_grad_", "swapdims_"} & set(VALUE_METHODS)
