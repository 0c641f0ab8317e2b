"""shapecli/shapes.py: how a shape is written, the same in every output."""
import torch

from shapecli.report import TensorInfo
from shapecli.shapes import dims_text, shape_text


def test_dims_and_outputs():
    assert dims_text([2, 10]) == "[2, 10]" and dims_text([]) == "[]" and dims_text(["B", "H/4"]) == "[B, H/4]"
    assert shape_text(None) == "—" and shape_text(None, absent="?") == "?"
    assert shape_text({"shape": [2, 3], "dtype": "int64"}) == "[2, 3]"
    assert shape_text({"shape": [2, 3], "dtype": "int64"}, dtype=True) == "[2, 3] int64"
    assert shape_text([{"shape": [2, 3], "dtype": "float32"}, [{"shape": [1], "dtype": "float32"}, None]]) == "([2, 3], ([1], —))"
    assert shape_text((4, 5)) == "[4, 5]"  # a bare shape (the symbolic pass's)
    assert shape_text([(4, 5), None], absent="?") == "([4, 5], ?)"


def test_tensors_and_report_tensors_read_alike():
    t = torch.empty(2, 3, 4, device="meta")
    info = TensorInfo([2, 3, 4], "float32")
    assert shape_text(t) == shape_text(info) == shape_text(t.shape) == dims_text(t.shape) == str(list(t.shape))
