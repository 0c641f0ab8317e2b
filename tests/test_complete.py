"""Shell completion (cli/complete.py): the scripts typer prints and installs, and the candidates `shapecli`
gives back when a shell calls it as they do. bash is run for real (the script sourced, its function called
with COMP_WORDS, COMPREPLY read); zsh and fish are not installed here, so their side of the protocol is
played as their scripts play it (the same environment variables), and the answer parsed as they would."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

NO_DETECT = {"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}  # typer: --show-completion SHELL


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("_SHAPECLI", "_TYPER", "COMP_"))}
    return dict(env, PYTHONPATH=str(ROOT), NO_COLOR="1", **extra)


def shapecli(*args, cwd=ROOT, **env):
    return subprocess.run([sys.executable, "-m", "shapecli", *args], capture_output=True, text=True, cwd=cwd,
                          env=_env(**env), timeout=60)


def bash_words(words: str, cwd=ROOT) -> list[str]:
    p = shapecli(cwd=cwd, _SHAPECLI_COMPLETE="complete_bash", COMP_WORDS=words,
                 COMP_CWORD=str(len(words.split(" ")) - 1))
    assert p.returncode == 0 and p.stderr == "", p.stderr
    return [w for w in p.stdout.split("\n") if w]


def zsh_words(line: str, cwd=ROOT) -> list[str]:
    p = shapecli(cwd=cwd, _SHAPECLI_COMPLETE="complete_zsh", _TYPER_COMPLETE_ARGS=line)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    if p.stdout.strip() == "_files":  # no candidates: zsh lists files
        return []
    assert p.stdout.startswith("_arguments '*: :((") and p.stdout.rstrip().endswith("))'"), p.stdout
    body = p.stdout.rstrip()[len("_arguments '*: :(("):-len("))'")]
    return [item.split('":"')[0].strip('"') for item in body.split("\n")]


def fish_words(line: str, cwd=ROOT) -> list[str]:
    p = shapecli(cwd=cwd, _SHAPECLI_COMPLETE="complete_fish", _TYPER_COMPLETE_FISH_ACTION="get-args",
                 _TYPER_COMPLETE_ARGS=line)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    return [w.split("\t")[0] for w in p.stdout.split("\n") if w]


@pytest.fixture(scope="module")
def on_path(shapecli_bin):
    """conftest's `shapecli` program (the scripts call `shapecli` by name)."""
    return shapecli_bin


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_bash_runs_the_script_it_is_shown(on_path):
    script = shapecli("--show-completion", "bash", **NO_DETECT)
    assert script.returncode == 0 and "complete -o default -F _shapecli_completion shapecli" in script.stdout

    def tab(*words):  # what bash does on Tab: COMP_WORDS, COMP_CWORD, the function, COMPREPLY
        cmd = (f"{script.stdout}\nCOMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}; "
               "_shapecli_completion shapecli; printf '%s\\n' \"${COMPREPLY[@]}\"")
        p = subprocess.run(["bash", "--norc", "--noprofile", "-c", cmd], capture_output=True, text=True, cwd=ROOT,
                           env=_env(PATH=f"{on_path}{os.pathsep}{os.environ['PATH']}"), timeout=60)
        assert p.returncode == 0 and p.stderr == "", p.stderr
        return [w for w in p.stdout.split("\n") if w]

    assert tab("shapecli", "") == ["inspect", "layers", "schema", "snapshot", "check", "export"]
    assert tab("shapecli", "layers", "Conv2") == ["Conv2d"]
    assert tab("shapecli", "inspect", "configs/ml") == ["configs/mlp.yaml"]
    assert tab("shapecli", "check", "--format", "") == ["table", "json", "markdown", "github"]


def test_commands_and_options():
    assert bash_words("shapecli ") == ["inspect", "layers", "schema", "snapshot", "check", "export"]
    assert bash_words("shapecli sn") == ["snapshot"]
    top = bash_words("shapecli --")
    assert {"--version", "--debug", "--install-completion", "--show-completion", "--help"} <= set(top)
    opts = bash_words("shapecli inspect configs/mlp.yaml --d")
    assert {"--device", "--depth", "--dtype", "--debug"} & set(opts) == {"--device", "--depth", "--dtype"}
    assert bash_words("shapecli check --skip") == ["--skip-missing"]


def test_layer_names_from_the_catalog():
    from shapecli import layers

    assert bash_words("shapecli layers Conv2") == ["Conv2d"]
    assert bash_words("shapecli layers LSTM") == ["LSTM", "LSTMCell"]
    assert bash_words("shapecli layers Nothing") == []
    every = bash_words("shapecli layers ")
    assert set(layers.known_names()) <= set(every) and "LazyLinear" in every
    assert zsh_words("shapecli layers Transformer") == ["Transformer", "TransformerDecoderLayer", "TransformerEncoderLayer"]
    assert fish_words("shapecli layers MultiheadA") == ["MultiheadAttention"]


def test_spec_files_yaml_and_folders_only(tmp_path):
    (tmp_path / "nets").mkdir()
    for name in ("a.yaml", "b.yml", "a.shapes.json", "notes.txt"):
        (tmp_path / "nets" / name).write_text("")
    (tmp_path / "nets" / "deeper").mkdir()
    (tmp_path / "top.yaml").write_text("")
    (tmp_path / ".hidden").mkdir()
    assert bash_words("shapecli inspect ", cwd=tmp_path) == ["nets/", "top.yaml"]
    # a lone folder is opened: the shell inserts "nets/" and offers what is inside, no space after it
    assert bash_words("shapecli check ne", cwd=tmp_path) == ["nets/a.yaml", "nets/b.yml", "nets/deeper/"]
    assert bash_words("shapecli snapshot nets/a", cwd=tmp_path) == ["nets/a.yaml"]
    assert zsh_words("shapecli export nets/b", cwd=tmp_path) == ["nets/b.yml"]
    assert fish_words("shapecli inspect t", cwd=tmp_path) == ["top.yaml"]
    assert bash_words("shapecli inspect nothing", cwd=tmp_path) == []  # -o default: bash lists files itself
    assert zsh_words("shapecli inspect nothing", cwd=tmp_path) == []


def test_option_values():
    from shapecli.render import FORMATS

    assert bash_words("shapecli inspect x --format ") == list(FORMATS)
    assert zsh_words("shapecli check --format g") == ["github"]
    assert fish_words("shapecli snapshot --device ") == ["auto", "cpu", "meta"]
    assert bash_words("shapecli inspect x --dtype float32,bf") == ["float32,bfloat16", "float32,bf16"]


def test_fish_is_args_says_whether_there_are_candidates():
    base = dict(_SHAPECLI_COMPLETE="complete_fish", _TYPER_COMPLETE_FISH_ACTION="is-args")
    assert shapecli(_TYPER_COMPLETE_ARGS="shapecli layers Conv", **base).returncode == 0
    assert shapecli(_TYPER_COMPLETE_ARGS="shapecli inspect x --html ", **base).returncode == 1  # fish lists files


def test_completion_imports_neither_torch_nor_rich_tables():
    code = ("import os, sys, io; os.environ.update(_SHAPECLI_COMPLETE='complete_bash', COMP_WORDS='shapecli layers L', "
            "COMP_CWORD='2'); from shapecli.cli.app import main; out = io.StringIO(); sys.stdout = out; rc = main([]); "
            "sys.stdout = sys.__stdout__; assert rc == 0 and 'Linear' in out.getvalue().split(), out.getvalue(); "
            "bad = [m for m in ('torch', 'rich.table') if m in sys.modules]; assert not bad, bad")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=_env(), timeout=60)
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize("shell, files", [
    ("bash", [".bash_completions/shapecli.sh", ".bashrc"]),
    ("zsh", [".zfunc/_shapecli", ".zshrc"]),
    ("fish", [".config/fish/completions/shapecli.fish"]),
])
def test_show_and_install_completion(tmp_path, shell, files):
    shown = shapecli("--show-completion", shell, **NO_DETECT)
    assert shown.returncode == 0 and "_SHAPECLI_COMPLETE=complete_" + shell in shown.stdout
    p = shapecli("--install-completion", shell, HOME=str(tmp_path), **NO_DETECT)
    assert p.returncode == 0 and f"{shell} completion installed in" in p.stdout, p.stdout + p.stderr
    written = sorted(str(f.relative_to(tmp_path)) for f in tmp_path.rglob("*") if f.is_file())
    assert written == sorted(files)
    script = (tmp_path / files[0]).read_text()
    assert script.strip() == shown.stdout.strip()
