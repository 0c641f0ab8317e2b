"""docs/ci.md as far as it can be tested here: its GitHub Actions workflow parses and its shapecli steps do
what it says on a copy of two specs, and the pre-commit hook (.pre-commit-hooks.yaml) runs in a throwaway Git
repository: with pre-commit when it is importable, otherwise by running the hook's entry and args on the staged
files its `files` pattern selects, as pre-commit does (that fallback is said in the test's name)."""
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import CONFIGS, ROOT

DOC = (ROOT / "docs" / "ci.md").read_text()
HOOKS = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())


def _block(first_line: str) -> str:
    (text,) = [b for b in re.findall(r"```(?:yaml|bash)\n(.*?)```", DOC, re.DOTALL) if b.startswith(first_line)]
    return text


@pytest.fixture(scope="module")
def on_path(shapecli_bin):
    """The environment with conftest's `shapecli` program first on PATH."""
    bin_dir = shapecli_bin
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    return dict(env, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", NO_COLOR="1")


def _two_specs(where):
    """configs/mlp.yaml and configs/lenet5.yaml with their baselines, as a repository's configs/ would hold."""
    (where / "configs").mkdir(parents=True)
    for name in ("mlp.yaml", "lenet5.yaml"):
        shutil.copy(CONFIGS / name, where / "configs" / name)


def _widen(spec):
    spec.write_text(spec.read_text().replace("  - Linear: 256", "  - Linear: 512"))


def test_the_documented_workflow(tmp_path, on_path):
    wf = yaml.safe_load(_block("# .github/workflows/shapes.yml"))
    assert wf["name"] == "shapes" and wf[True] == ["pull_request"]  # YAML 1.1 reads the key `on` as True
    (job,) = wf["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    uses = [s["uses"] for s in job["steps"] if "uses" in s]
    assert uses == ["actions/checkout@v4", "actions/setup-python@v5"]
    runs = [s for s in job["steps"] if "run" in s]
    install, check, summary = runs
    # the install step: the CPU torch that .ci/bootstrap pins, then the repository's own package
    pins = re.findall(r"torch==([0-9.]+)", (ROOT / ".ci" / "bootstrap").read_text())
    assert install["run"].splitlines() == [
        f"pip install torch=={pins[0]} --index-url https://download.pytorch.org/whl/cpu", "pip install ."]
    assert 'name = "shapecli"' in (ROOT / "pyproject.toml").read_text()  # what `pip install .` installs
    assert summary["if"] == "failure()"
    # the shapecli steps, as written, on a copy: both specs recorded, then one widened
    _two_specs(tmp_path)
    assert subprocess.run(["shapecli", "snapshot", "configs/"], cwd=tmp_path, env=on_path).returncode == 0
    step = os.path.join(tmp_path, "summary.md")
    env = dict(on_path, GITHUB_STEP_SUMMARY=step)

    def run(command):
        return subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)

    p = run(check["run"])
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    _widen(tmp_path / "configs" / "mlp.yaml")
    p = run(check["run"])
    assert p.returncode == 1  # the step fails, so the summary step runs
    assert p.stdout.splitlines()[0] == ("::error file=configs/mlp.yaml,line=6,title=shape regression::layer 0 "
                                        "(Linear): output [2, 256] -> [2, 512]; weight [256, 20] -> [512, 20]; "
                                        "bias [256] -> [512]")
    assert "configs/lenet5.yaml" not in p.stdout
    p = run(summary["run"])
    assert p.returncode == 0 and p.stdout == ""
    text = open(step).read()
    assert text.startswith("### shapecli check: 2 specs checked: 1 ok, 1 changed")
    assert "| 6 | `0` | Linear | changed | output | `[2, 256]` | `[2, 512]` |" in text


def test_the_install_commands_name_the_cpu_torch():
    commands = _block("pip install torch==").splitlines()
    assert commands[0] == "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
    assert commands[1].startswith("pip install /path/to/shapecli")
    assert "pip install shapecli" not in DOC and "rev: v" not in DOC  # not published: no release to name


def _git(repo, *args, env):
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True)


def _precommit_available() -> bool:
    try:
        import pre_commit  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("via", ["pre-commit" if _precommit_available() else "entry-as-pre-commit-runs-it"])
def test_the_hook_in_a_throwaway_repository(tmp_path, on_path, via):
    (default,) = [h for h in HOOKS if h["id"] == "shapecli-check"]
    assert default["language"] == "system" and default["pass_filenames"] and default["require_serial"]
    (isolated,) = [h for h in HOOKS if h["id"] == "shapecli-check-isolated"]
    assert {k: v for k, v in isolated.items() if k not in ("id", "name", "description", "language")} == \
        {k: v for k, v in default.items() if k not in ("id", "name", "description", "language")}
    assert isolated["language"] == "python"
    # the local hook docs/ci.md shows is the same hook
    (local,) = yaml.safe_load(_block("# .pre-commit-config.yaml"))["repos"]
    (hook,) = local["hooks"]
    assert local["repo"] == "local" and hook["id"] == default["id"] and hook["language"] == "system"
    assert shlex.split(hook["entry"]) == shlex.split(default["entry"]) + default["args"]
    assert hook["files"] == default["files"] and hook["require_serial"]

    repo = tmp_path / "repo"
    _two_specs(repo)
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "shapes.yml").write_text(_block("# .github/workflows/shapes.yml"))
    (repo / "notes.yaml").write_text("just: a config\n")  # a YAML file that is no spec and has no baseline
    env = dict(on_path, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t", HOME=str(tmp_path), PRE_COMMIT_HOME=str(tmp_path / "cache"))
    _git(repo, "init", "-q", env=env)
    assert subprocess.run(["shapecli", "snapshot", "configs/"], cwd=repo, env=env).returncode == 0
    (repo / ".pre-commit-config.yaml").write_text(_block("# .pre-commit-config.yaml"))
    _git(repo, "add", "-A", env=env)

    def hook_run():
        if via == "pre-commit":
            return subprocess.run([sys.executable, "-m", "pre_commit", "run"], cwd=repo, env=env, capture_output=True,
                                  text=True, timeout=300)
        staged = subprocess.run(["git", "diff", "--cached", "--name-only"], cwd=repo, env=env, capture_output=True,
                                text=True, check=True).stdout.split()
        files = [f for f in staged if re.search(hook["files"], f)]
        if not files:  # pre-commit skips a hook that no staged file matches
            return subprocess.CompletedProcess([], 0, "", "")
        return subprocess.run([*shlex.split(hook["entry"]), *files], cwd=repo, env=env, capture_output=True,
                              text=True, timeout=300)

    p = hook_run()
    assert p.returncode == 0, p.stdout + p.stderr
    if via != "pre-commit":  # every staged YAML file went to one shapecli; those without a baseline are skipped
        for other in ("notes.yaml", ".github/workflows/shapes.yml", ".pre-commit-config.yaml"):
            assert f"{other}: skipped: no baseline" in p.stderr
    _git(repo, "commit", "-qm", "specs and baselines", "--no-verify", env=env)
    _widen(repo / "configs" / "mlp.yaml")
    _git(repo, "add", "configs/mlp.yaml", env=env)
    p = hook_run()
    assert p.returncode == 1, p.stdout + p.stderr
    assert "configs/mlp.yaml (mlp): 3 changes" in p.stdout and "lenet5" not in p.stdout
    if via == "pre-commit" and (ROOT / ".git").exists():  # the hook as a remote `repo:` gives it (not in an sdist)
        p = subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "shapecli-check"], cwd=repo,
                           env=env, capture_output=True, text=True, timeout=300)
        assert p.returncode == 1 and "configs/mlp.yaml (mlp): 3 changes" in p.stdout, p.stdout + p.stderr
    # the change is intended: check --update rewrites the baseline, and the spec commits with it
    assert subprocess.run(["shapecli", "check", "--update", "configs/"], cwd=repo, env=env,
                          capture_output=True).returncode == 0
    _git(repo, "add", "-A", env=env)
    assert hook_run().returncode == 0
