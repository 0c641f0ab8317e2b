"""Every command the README and docs/ show is run, and the output they show is what it prints.

A command is a `$ ...` line in any fenced block (the lines after it, up to the next `$` line, are
its output as shown), or a line starting with `shapecli` in a bash/console/sh block (no output
shown). A block right after `<!-- output: COMMAND -->` is an excerpt of that command's output.
Shown output is compared line by line (trailing blanks ignored); a `...` line elides any number of
lines. `shapecli` commands run in-process (the `cli` fixture) in a scratch directory that holds copies of
the specs (and baselines) the command names, or only `configs/mlp.yaml` for a command on the whole
`configs/` directory (the example the docs' diffs show), and the stand-in files below for the
placeholders the docs use (`spec.yaml`, `models/net.py`, `pkg.models:Net`, ...). Other commands (set-up, the test suite itself) are listed
in NOT_RUN with the reason; a command that is neither run nor listed fails the test.
"""
from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest

from conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Commands shown but not run here, by their first word(s), and why.
NOT_RUN = {
    ".ci/bootstrap": "the set-up itself (CI runs it before this suite)",
    ".ci/compat": "the whole suite on a second torch (docs/ci.md; run by hand)",
    ".venv/bin/python -m pytest": "the test suite itself",
    ".venv-compat/bin/python -m pytest": "the test suite on the compat venv",
    ".venv/bin/python tests/fuzz/run.py": "the fuzzing campaign (tests/test_fuzz_corpus.py replays its corpus)",
    "python tests/fuzz/run.py": "the fuzzing campaign (tests/test_fuzz_corpus.py replays its corpus)",
    "pip install": "installs packages",
    "python -m pip install": "installs packages",
    "PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu pre-commit": "installs the hook's environment (network)",
    "pre-commit": "needs pre-commit and a git repository (tests/test_ci.py runs the hook)",
    "git": "a git command in a walk-through",
    "shapecli --install-completion": "writes to the user's shell start-up files",
}

# Placeholder targets the docs use, made real in the scratch directory.
NET_PY = '''
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, width: int = 16):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, 10)

    def forward(self, x):
        return self.fc(self.pool(self.conv(x).relu()).flatten(1))


def make(width: int = 16, act: str = "relu"):
    return Net(width)
'''
# The targets the docs call with a 2-D input (`-i 2,20`): an MLP.
MLP_PY = '''
import torch.nn as nn


class Net(nn.Sequential):
    def __init__(self, width: int = 64):
        super().__init__(nn.Linear(20, width), nn.ReLU(), nn.Linear(width, 10))


def make(width: int = 64):
    return Net(width)
'''
SPEC_YAML = """name: spec
input: [2, 20]
vars: {hidden: 256}
layers:
  - Linear: $hidden
  - ReLU
  - Linear: 10
"""
# Where the docs tell a story (the shown output needs an edit first): (doc, command) -> what to do before it.
def _widen_mlp(where: Path):
    p = where / "configs" / "mlp.yaml"
    p.write_text(p.read_text().replace("Linear: 256", "Linear: 512"))


BEFORE = {
    ("ci.md", "shapecli check configs/"): _widen_mlp,
    ("ci.md", "shapecli check --update configs/"): _widen_mlp,
}

# Commands the docs show failing on purpose: a substring of the command -> the exit code they say.
EXIT = {
    "--input 2,20 --input 5,20 --input 2,30": 2,  # README: "(Exit code 2: an input did not fit.)"
}


def _blocks(text: str):
    """(info string, body, the `<!-- output: CMD -->` command before it or None) of each fenced block."""
    for m in re.finditer(r"(?:<!-- output: (.+?) -->\n)?```(\w*)\n(.*?)```", text, re.S):
        yield m.group(2), m.group(3), m.group(1)


def _commands(doc: Path):
    """[(command, shown output lines or None)] in the order the doc shows them."""
    out = []
    for info, body, of in _blocks(doc.read_text()):
        if info in ("yaml", "python", "json", "toml"):
            continue
        if of:
            out.append((of, body.rstrip("\n").splitlines()))
            continue
        lines = body.rstrip("\n").splitlines()
        if any(line.startswith("$ ") for line in lines):
            for line in lines:
                if line.startswith("$ "):
                    out.append((line[2:], []))
                elif out:
                    out[-1][1].append(line)
        elif info in ("bash", "console", "sh", "shell"):
            for line in lines:
                s = line.strip()
                if s and not s.startswith("#"):
                    out.append((s, None))
    return out


CASES = [pytest.param(doc.name, cmd, shown, id=f"{doc.name}:{cmd[:60]}")
         for doc in DOCS for cmd, shown in _commands(doc)]


def _words(cmd: str):
    """(argv, stdin file or None, piped-to command or None) of a shown command line."""
    stdin = None
    m = re.match(r"cat (\S+) \| (.*)", cmd)
    if m:
        stdin, cmd = m.group(1), m.group(2)
    pipe = None
    if " | " in cmd:
        cmd, pipe = cmd.split(" | ", 1)
    return shlex.split(cmd, comments=True), stdin, pipe


def _torch_free(line: str) -> str:
    """The torch version a heading names, written as `torch X` (the docs show 2.13.0; the suite runs on 2.14.1 too)."""
    return re.sub(r"torch \d+\.\d+\.\d+\S*", "torch X", line.rstrip())


def _compare(shown: list, actual: str):
    """Each stretch of shown lines between `...` lines appears in the output, in order."""
    have = [_torch_free(line) for line in actual.splitlines()]
    chunks, cur = [], []
    for line in shown:
        if line.strip() == "...":
            chunks.append(cur)
            cur = []
        else:
            cur.append(_torch_free(line))
    chunks.append(cur)
    at = 0
    for chunk in chunks:
        if not chunk:
            continue
        for i in range(at, len(have) - len(chunk) + 1):
            if have[i:i + len(chunk)] == chunk:
                at = i + len(chunk)
                break
        else:
            return chunk
    return None


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    (tmp_path / "configs").mkdir()
    (tmp_path / "spec.yaml").write_text(SPEC_YAML)
    for where in ("models", "pkg", "."):
        (tmp_path / where).mkdir(parents=True, exist_ok=True)
        (tmp_path / where / "net.py").write_text(NET_PY)
    (tmp_path / "path" / "to").mkdir(parents=True)
    (tmp_path / "path" / "to" / "net.py").write_text(MLP_PY)
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "models.py").write_text(NET_PY)
    (tmp_path / "pkg" / "mod.py").write_text(MLP_PY)
    (tmp_path / "baselines").mkdir()
    # docs/checkpoints.md's files: torchvision's ResNet-18 key list as a header-only safetensors file, and a
    # small .pt state dict whose fc layer has another width (a check that finds a change)
    import torch
    from checkpoint_files import fixture_checkpoint

    fixture_checkpoint("resnet18", tmp_path)  # tmp_path / "resnet18.safetensors"
    torch.save({"fc.weight": torch.zeros(10, 512), "fc.bias": torch.zeros(10)}, tmp_path / "checkpoint.pt")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _copy_specs(argv: list, where: Path):
    """The specs the command names (or mlp.yaml for `configs/`), with their baselines."""
    names = {Path(a).name for a in argv if a.startswith("configs/") and a.endswith((".yaml", ".yml"))}
    if "configs/" in argv or "configs" in argv:
        names.add("mlp.yaml")
    for name in names:
        for src in (ROOT / "configs" / name, ROOT / "configs" / name.replace(".yaml", ".shapes.json")):
            if src.exists():
                shutil.copy(src, where / "configs" / src.name)


def test_every_doc_shows_commands():
    assert len(CASES) > 30


@pytest.mark.parametrize("doc, cmd, shown", CASES)
def test_doc_command(doc, cmd, shown, scratch, cli):
    argv, stdin, pipe = _words(cmd)
    assert argv, cmd
    line = " ".join(argv)
    if argv[0] != "shapecli" or line.startswith("shapecli --install-completion"):
        reason = next((why for head, why in NOT_RUN.items() if line.startswith(head)), None)
        assert reason, f"{doc}: `{cmd}` is neither run by this test nor listed in NOT_RUN"
        pytest.skip(reason)
    if "torchvision" in line:
        pytest.importorskip("torchvision")
    if ".safetensors" in line:
        pytest.importorskip("safetensors")  # the optional extra (docs/checkpoints.md)
    _copy_specs(argv, scratch)
    if argv[1] == "check" and not any(a.startswith("configs") for a in argv):
        # a Python target's check needs its snapshot first, as the docs' order has it
        target = argv[2].split("(")[0]
        cli("snapshot", target, "-i", "2,20" if target in ("path/to/net.py:make", "pkg.mod:Net") else "2,3,64,64")
    for (d, c), do in BEFORE.items():
        if d == doc and line == " ".join(shlex.split(c, comments=True)):
            do(scratch)
    text = (scratch / stdin).read_text() if stdin else None
    code, out, err = cli(*argv[1:], stdin=text)
    want = next((c for part, c in EXIT.items() if part in line), None)
    if want is not None:
        assert code == want, f"{doc}: `{cmd}` exited {code}, the doc says {want}: {err.strip()[-500:]}"
    else:
        assert code in (0, 1), f"{doc}: `{cmd}` exited {code}: {err.strip()[-500:]}"
        assert code == 0 or argv[1] == "check", f"{doc}: `{cmd}` exited {code}: {err.strip()[-500:]}"
    if pipe and pipe.startswith("jq"):
        key = re.search(r"'\.(\w+)'", pipe).group(1)
        assert key in json.loads(out), f"{doc}: `{cmd}`: no {key!r} in the JSON"
    if shown:
        missing = _compare(shown, out + err)
        assert missing is None, (f"{doc}: `{cmd}` does not print what the doc shows; first missing stretch:\n"
                                 + "\n".join(missing) + "\n--- it printed:\n" + out + err)
