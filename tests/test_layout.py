"""The pipeline's layering: torch lives where models are built and run, and nowhere else."""
import subprocess
import sys

import pytest

from conftest import ROOT

TORCH_FREE = ["shapecli", "shapecli.cli", "shapecli.cli.app", "shapecli.cli.check", "shapecli.cli.inspect",
              "shapecli.cli.info", "shapecli.cli.options", "shapecli.cli.progress", "shapecli.errors",
              "shapecli.spec", "shapecli.spec.yamlload", "shapecli.spec.expr", "shapecli.spec.dims",
              "shapecli.spec.initschemes", "shapecli.spec.parser", "shapecli.spec.nodes", "shapecli.spec.inputs",
              "shapecli.spec.variables", "shapecli.spec.items", "shapecli.spec.initgains", "shapecli.analyses.symbolic",
              "shapecli.layers", "shapecli.report", "shapecli.baseline", "shapecli.fileio", "shapecli.dtypes",
              "shapecli.shapes", "shapecli.render", "shapecli.render.markdown", "shapecli.render.diff", "shapecli.api",
              "shapecli.load", "shapecli.baseline.workflow", "shapecli.run", "shapecli.run.assemble", "shapecli.run.outline", "shapecli.model", "shapecli.python",
              "shapecli.python.target", "shapecli.export.plan", "shapecli.export.gluecode",
              "shapecli.render.text", "shapecli.render.html", "shapecli.view", "shapecli.view.rows",
              "shapecli.view.sections"]


@pytest.mark.parametrize("module", TORCH_FREE)
def test_module_does_not_import_torch(module):
    code = f"import sys, {module}; assert 'torch' not in sys.modules, 'torch imported by {module}'"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr


def test_parsing_a_spec_needs_no_torch():
    code = ("import sys, shapecli; s = shapecli.load_spec('configs/resnet50.yaml'); "
            "assert len(list(s.nodes())) > 100; assert 'torch' not in sys.modules")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr


def test_no_module_is_over_400_lines():
    """One module, one job: a module past 400 lines holds more than one and is split."""
    long = {}
    for path in sorted((ROOT / "shapecli").rglob("*.py")):
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > 400:
            long[str(path.relative_to(ROOT))] = n
    assert not long, f"modules over 400 lines: {long}"
