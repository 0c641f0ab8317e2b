"""The wheel and the sdist work (issue 18): `python -m build` makes both (the wheel from the sdist, so the
sdist is complete enough to build from); the wheel, installed in a venv that holds only torch and shapecli's
own dependencies (no pytest, no jsonschema, not this checkout), runs every command; the sdist holds every
file the tests need and a subset of its tests passes from the unpacked sdist.

Marked `packaging`: `python -m pytest -m packaging` runs these alone, `-m "not packaging"` leaves them out.
The venv is made once, in .ci/.pkgvenv (gitignored): its first run installs torch (the CPU wheel pip finds,
as .ci/bootstrap does), about a minute; later runs reinstall only the freshly built wheel.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

from conftest import CONFIGS, ROOT

pytestmark = pytest.mark.packaging

VENV = ROOT / ".ci" / ".pkgvenv"
TORCH = re.search(r"torch==([0-9.]+)", (ROOT / ".ci" / "bootstrap").read_text()).group(1)
# Run from the unpacked sdist: the files its tests read (conftest, twins, the corpus, configs, docs) and a
# test of each kind. The whole suite runs from a checkout; these show the sdist carries what it needs.
SDIST_TESTS = ["tests/test_docs.py", "tests/test_spec.py", "tests/test_corpus.py::test_every_problem_line_points_into_the_file",
               "tests/test_model.py::test_zoo_is_complete", "tests/test_model.py::test_parameters_match_twin[mlp]",
               "tests/test_model.py::test_parameters_match_twin[lenet5]", "tests/test_schema.py::test_write_schema_replaces_only_its_own_file"]


def _run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 600)
    return subprocess.run(cmd, **kw)


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """(sdist, wheel): built by `python -m build` from this checkout, the wheel from the sdist."""
    pytest.importorskip("build")
    out = tmp_path_factory.mktemp("dist")
    p = _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)], cwd=out)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "is deprecated" not in p.stderr and "SetuptoolsDeprecationWarning" not in p.stderr + p.stdout
    (sdist,) = out.glob("shapecli-*.tar.gz")
    (wheel,) = out.glob("shapecli-*.whl")
    return sdist, wheel


@pytest.fixture(scope="module")
def venv(dist):
    """A venv with only torch (made once, kept in .ci/.pkgvenv) and the wheel just built (reinstalled)."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".torch-stamp"
    want = f"torch=={TORCH} python {sys.version_info[:2]}"
    if not (python.exists() and stamp.exists() and stamp.read_text() == want):
        shutil.rmtree(VENV, ignore_errors=True)
        base = getattr(sys, "_base_executable", sys.executable)
        assert _run([base, "-m", "venv", str(VENV)]).returncode == 0
        p = _run([str(python), "-m", "pip", "install", "-q", f"torch=={TORCH}"])
        assert p.returncode == 0, p.stderr[-3000:]
        stamp.write_text(want)
    pip = [str(python), "-m", "pip", "--disable-pip-version-check"]
    _run([*pip, "uninstall", "-y", "-q", "shapecli"])
    p = _run([*pip, "install", "-q", str(dist[1])])
    assert p.returncode == 0, p.stderr[-3000:]
    p = _run([*pip, "list", "--format=json"])
    installed = {d["name"].lower() for d in json.loads(p.stdout)}
    assert {"torch", "shapecli", "typer", "rich", "pyyaml"} <= installed
    assert not installed & {"pytest", "jsonschema", "hypothesis", "safetensors"}  # no test extras
    return VENV


def test_the_wheel_holds_the_package_and_its_data(dist):
    names = zipfile.ZipFile(dist[1]).namelist()
    assert "shapecli/report.schema.json" in names and "shapecli/cli/complete.py" in names
    assert not [n for n in names if n.startswith(("tests/", "configs/", "docs/"))]
    meta = next(zipfile.ZipFile(dist[1]).read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    assert "License-Expression: MIT" in meta and "Requires-Dist: torch<2.15,>=2.13" in meta
    assert "Project-URL" not in meta  # none until there is an address to give
    assert [n for n in names if n.endswith("licenses/LICENSE")]


def test_the_sdist_holds_every_file_the_tests_need(dist):
    with tarfile.open(dist[0]) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    for needed in ("LICENSE", "README.md", "pyproject.toml", ".pre-commit-hooks.yaml", "tests/conftest.py",
                   "tests/twins.py", "shapecli/report.schema.json"):
        assert needed in names, needed
    if (ROOT / ".git").exists():  # every tracked file under tests/, configs/, docs/ and shapecli/
        p = _run(["git", "ls-files", "tests", "configs", "docs", "shapecli"], cwd=ROOT)
        tracked = {f for f in p.stdout.split("\n") if f and (ROOT / f).is_file()}
        assert tracked - names == set()
    assert not [n for n in names if "__pycache__" in n or n.startswith((".venv", ".ci/", "bench/results"))]


def test_the_installed_wheel_runs_every_command(venv, tmp_path):
    exe = str(venv / "bin" / "shapecli")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["NO_COLOR"] = "1"
    shutil.copy(CONFIGS / "mlp.yaml", tmp_path / "mlp.yaml")

    def ok(*args, code=0, err="", **extra):  # stderr exactly `err`: no NumPy warning, no traceback
        p = _run([exe, *args], cwd=tmp_path, env=dict(env, **extra), timeout=300)
        assert (p.returncode, p.stderr) == (code, err), (args, p.returncode, p.stderr)
        return p.stdout

    where = _run([str(venv / "bin" / "python"), "-c", "import shapecli; print(shapecli.__file__)"], cwd=tmp_path,
                 env=env).stdout.strip()
    assert where.startswith(str(venv)) and "site-packages" in where  # the wheel, not this checkout
    assert ok("--version") == "shapecli 0.1.0\n"
    assert "Params: 7,946 (7.95K)" in ok("inspect", "mlp.yaml")
    report = json.loads(ok("inspect", "mlp.yaml", "--json"))
    assert report["totals"]["params"] == 7946
    shipped = ok("schema", "--report")
    assert shipped == (ROOT / "shapecli" / "report.schema.json").read_text()
    try:
        import jsonschema
    except ImportError:
        pass
    else:
        jsonschema.validate(report, json.loads(shipped))
    assert json.loads(ok("schema"))["title"] == "shapecli spec"
    ok("schema", "-o", ".shapecli/spec.schema.json")
    assert json.loads((tmp_path / ".shapecli" / "spec.schema.json").read_text())["title"] == "shapecli spec"
    assert "Conv2d" in ok("layers") and "kernel_size" in ok("layers", "Conv2d")
    ok("snapshot", "mlp.yaml", err="mlp.shapes.json: written (3 layers, 7,946 params)\n")
    assert (tmp_path / "mlp.shapes.json").exists()
    assert ok("check", "mlp.yaml").startswith("✓ mlp.yaml (mlp): matches its baseline")
    (tmp_path / "mlp.yaml").write_text((tmp_path / "mlp.yaml").read_text().replace("Linear: 256", "Linear: 128"))
    assert "::error file=mlp.yaml,line=6" in ok("check", "mlp.yaml", "-f", "github", code=1)
    ok("export", "mlp.yaml", "-o", "mlp_export.py", err="mlp_export.py: written (18 lines)\n")
    p = _run([str(venv / "bin" / "python"), "mlp_export.py"], cwd=tmp_path, env=env)
    assert p.returncode == 0, p.stderr
    assert ok(_SHAPECLI_COMPLETE="complete_bash", COMP_WORDS="shapecli layers Conv2", COMP_CWORD="2") == "Conv2d\n"
    assert "_SHAPECLI_COMPLETE=complete_bash" in ok("--show-completion", "bash",
                                                   _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")


def test_the_sdist_tests_pass_unpacked(dist, tmp_path):
    with tarfile.open(dist[0]) as t:
        t.extractall(tmp_path, filter="data")
    (top,) = tmp_path.iterdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    p = _run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-x", *SDIST_TESTS], cwd=top, env=env)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    assert re.search(r"\b\d+ passed\b", p.stdout) and " failed" not in p.stdout
    # the tests ran the unpacked copy, not this checkout
    p = _run([sys.executable, "-c", "import sys; sys.path.insert(0, 'tests'); import conftest, shapecli; "
              "print(shapecli.__file__)"], cwd=top, env=env)
    assert p.stdout.strip() == str(top / "shapecli" / "__init__.py")
