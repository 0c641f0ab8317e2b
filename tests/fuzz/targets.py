"""The fuzz targets: one row per reader of untrusted text, and the contract every row is held to.

A target takes the raw bytes of one input and feeds them to one shapecli reader. The contract
(issue 17, point 5): for any input the reader either returns a value of the documented kind or
raises one of shapecli's own error types, and that error is one the CLI can print (at least one
problem, each of which renders as text). Anything else is a crash: an exception of another type
(KeyError, TypeError, UnicodeEncodeError, ...), RecursionError, MemoryError, a Python warning (the
CLI would print it raw on stderr), or an input that takes longer than the per-input time bound (enforced by the driver: libFuzzer's -timeout in
tests/fuzz/run.py, SIGALRM in tests/test_fuzz_corpus.py).

Adding a target is one entry in TARGETS: a name, the reader call, the errors it may raise, and
the modules whose coverage guides the fuzzer. Its seed corpus lives in tests/fuzz/corpus/<name>/.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
FILE = "fuzz.yaml"  # the file name the readers are told; every error must name it


class ContractViolation(AssertionError):
    """A reader broke the contract in a way that is not an exception escaping it (a bad error, a bad value)."""


@dataclass(frozen=True)
class Target:
    name: str
    doc: str
    call: Callable[[bytes], object]  # one input; returns the reader's value or raises
    errors: Callable[[], tuple]  # the exception types the reader may raise (imported lazily)
    instrument: tuple = ("shapecli",)  # packages whose code atheris instruments for coverage
    max_len: int = 4096  # libFuzzer's -max_len for this target
    timeout: int = 10  # seconds: an input that runs longer is a hang
    check: Callable[[object], None] | None = None  # a post-condition on a returned value
    functions: tuple = ()  # "module:qualname" of functions outside `instrument` to instrument too (torch's unpickler)

    def corpus(self) -> Path:
        return CORPUS / self.name

    def run_one(self, data: bytes):
        """Run one input: the reader's value, or the error it raised, when the contract holds; else raise (the
        exception that escaped, or ContractViolation). This is what both the fuzzer and the corpus replay call."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                value = self.call(data)
            except self.errors() as e:
                value = e
        if caught:  # the CLI would print it raw on stderr, outside the one-line-per-problem format
            w = caught[0]
            raise ContractViolation(f"a Python warning: {w.category.__name__}: {w.message}")
        if isinstance(value, self.errors()):
            check_error(value)
            return value
        if self.check is not None:
            self.check(value)
        return value


def text(data: bytes) -> str:
    """Bytes as the text a reader gets: invalid UTF-8 becomes U+FFFD (the strict decoding error itself is
    read_text's, before any reader runs), so every mutation still reaches the reader."""
    return data.decode("utf-8", "replace")


def check_error(e: BaseException) -> None:
    """A ShapeCliError must be printable the way the CLI prints it: one or more problems, each rendering
    as one line (cli/app.py writes `literal(str(problem))` per problem)."""
    from shapecli.errors import ShapeCliError, literal

    if not isinstance(e, ShapeCliError):
        str(e)  # an ExprError: its text is put into a SpecError by the parser
        return
    if not e.problems:
        raise ContractViolation(f"{type(e).__name__} with no problem: the CLI would exit 2 and print nothing")
    for p in e.problems:
        literal(str(p), 400)
        if not str(p.message).strip():
            raise ContractViolation(f"{type(e).__name__} with an empty message")


# ---------------------------------------------------------------------------- the readers

def _yaml(data: bytes):
    from shapecli.spec.yamlload import parse_yaml

    return parse_yaml(text(data), FILE)


def _spec(data: bytes):
    from shapecli import parse_spec

    return parse_spec(text(data), FILE)


def _check_spec(spec) -> None:
    """What the builder does first with a Spec: walk every node and name it."""
    for node in spec.nodes():
        node.label()
    for inp in spec.inputs:
        if not inp.shape or not all(type(n) is int and n >= 0 for n in inp.shape):
            raise ContractViolation(f"a parsed input has a bad shape {inp.shape!r}")


_VARS = {"a": 3, "b": -2, "c": 0, "big": 1 << 40, "f": 1.5, "s": "x", "t": True, "n": None}


def _expr(data: bytes):
    """`${...}` as the parser evaluates it: a `$` text goes through reference() first; the variables are
    a fixed mix of ints, a float, a string, a bool and null; any other name is undefined."""
    from shapecli.spec import expr

    def lookup(name):
        if name not in _VARS:
            raise expr.ExprError(f"undefined variable '{name}'")
        return _VARS[name]

    s = text(data)
    if s.startswith("$"):
        s = expr.reference(s)
    return expr.evaluate(s, lookup)


def _check_expr(v) -> None:
    from shapecli.spec import expr

    if v is None or type(v) in (bool, str) or (type(v) is float and not math.isnan(v)):
        return
    if type(v) is not int:
        raise ContractViolation(f"an expression evaluated to {type(v).__name__} {v!r}")
    if abs(v) > expr.MAX_ABS:
        raise ContractViolation(f"an expression evaluated to {v}, beyond MAX_ABS")


def _input(data: bytes):
    """`--input` text through shapecli.parse_input; when the input has two lines, the first is the spec's
    default input (parsed the same way, ignored when invalid) and the second the --input text."""
    from types import SimpleNamespace

    from shapecli import parse_input
    from shapecli.errors import UsageError

    s = text(data)
    spec = None
    if "\n" in s:
        first, s = s.split("\n", 1)
        try:
            spec = SimpleNamespace(inputs=parse_input(first))
        except UsageError:
            spec = None
    return parse_input(s, spec)


def _check_input(sample) -> None:
    if not sample:
        raise ContractViolation("--input parsed into no tensor")
    for inp in sample:
        if not inp.dims or not all(type(n) is int and n >= 1 for n in inp.shape):
            raise ContractViolation(f"--input parsed into a bad shape {inp.shape!r}")


def _baseline(data: bytes):
    from shapecli.baseline.document import loads

    return loads(data, "fuzz.shapes.json")


def _check_baseline(doc) -> None:
    if not isinstance(doc, dict):
        raise ContractViolation(f"a baseline loaded as {type(doc).__name__}")


_CKPT_DIR: list = []  # one temporary directory per process, made on first use


def _checkpoint(data: bytes):
    """A checkpoint file through read_checkpoint (shapecli/baseline/checkpoint.py): the first byte picks the
    format (even: `.safetensors`, read_safetensors; odd: `.pt`, read_torch), the rest is the file's bytes."""
    import tempfile

    from shapecli.baseline.checkpoint import read_checkpoint

    if not _CKPT_DIR:
        _CKPT_DIR.append(tempfile.mkdtemp(prefix="shapecli-fuzz-ckpt-"))
    suffix = ".safetensors" if not data or data[0] % 2 == 0 else ".pt"
    path = Path(_CKPT_DIR[0]) / f"fuzz{suffix}"
    path.write_bytes(data[1:])
    return read_checkpoint(str(path))


def _check_checkpoint(ckpt) -> None:
    from shapecli.baseline.checkpoint import Checkpoint

    if not isinstance(ckpt, Checkpoint):  # no entries is a value too: a safetensors file of no tensors is valid
        raise ContractViolation(f"a checkpoint read as {type(ckpt).__name__}")
    for e in ckpt.entries:
        if type(e.name) is not str or type(e.dtype) is not str or not all(type(n) is int and n >= 0 for n in e.shape):
            raise ContractViolation(f"a checkpoint entry {e!r}")


def _shapecli_errors():
    from shapecli.errors import ShapeCliError

    return (ShapeCliError,)


def _expr_errors():
    from shapecli.spec.expr import ExprError

    return (ExprError,)


TARGETS: dict[str, Target] = {t.name: t for t in [
    Target("yaml", "the hardened YAML reader (shapecli/spec/yamlload.py parse_yaml)", _yaml, _shapecli_errors,
           max_len=512),
    Target("spec", "the spec parser (shapecli.parse_spec: YAML, structure, vars, blocks, repeat)", _spec,
           _shapecli_errors, max_len=512, check=_check_spec),
    Target("expr", "the `${...}` evaluator (shapecli/spec/expr.py reference + evaluate); raises ExprError, "
           "which the parser turns into a SpecError", _expr, _expr_errors, max_len=256, check=_check_expr),
    Target("input", "--input parsing (shapecli.parse_input / parse_input_text with a spec default)", _input,
           _shapecli_errors, max_len=512, check=_check_input),
    Target("baseline", "the baseline reader (shapecli/baseline/document.py loads: strict JSON + schema)", _baseline,
           _shapecli_errors, max_len=8192, check=_check_baseline),
    Target("checkpoint", "the checkpoint reader (shapecli/baseline/checkpoint.py read_checkpoint: the safetensors "
           "header, torch.load(weights_only=True) of a .pt); the first byte picks the format", _checkpoint,
           _shapecli_errors, max_len=4096, check=_check_checkpoint,
           functions=("torch.serialization:load", "torch.serialization:_load", "torch.serialization:_is_zipfile",
                      "torch._weights_only_unpickler:Unpickler.load",
                      "torch._weights_only_unpickler:Unpickler.persistent_load")),
]}
