"""The repository's own shape-regression check: every spec in configs/ matches its committed baseline.

After an intended change to a config: `shapecli check configs/ --update` and commit the baseline.
"""
from conftest import CONFIGS


def test_zoo_matches_committed_baselines(cli):
    code, out, err = cli("check", str(CONFIGS), "--format", "markdown")
    assert code == 0, out + err
    specs = sorted(CONFIGS.glob("*.yaml"))
    assert all(s.with_suffix(".shapes.json").exists() for s in specs)
