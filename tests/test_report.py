"""shapecli/report.py: the Report as plain data and its JSON document."""
import json

import shapecli

from conftest import CONFIGS


def test_json_report_is_strict_and_has_documented_fields():
    r = shapecli.inspect(CONFIGS / "mlp.yaml")
    from shapecli.render import to_json

    d = json.loads(to_json(r))
    for key in ("schema_version", "inputs", "outputs", "layers", "params", "buffers", "totals", "seed", "torch_version"):
        assert key in d
    assert d["inputs"] == [{"shape": [2, 20], "dtype": "float32"}]
    assert d["outputs"] == {"shape": [2, 10], "dtype": "float32"}
    assert d["params"][0]["name"] == "0.weight" and set(d["params"][0]["stats"]) >= {"mean", "std", "min", "max"}
    assert d["totals"]["params"] == 7946 and d["totals"]["bytes"] == {"float32": 31784}
