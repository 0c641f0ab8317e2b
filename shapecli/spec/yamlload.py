"""A hardened YAML reader: plain data only, every value with its line:column.

Specs arrive in pull requests, so YAML is treated as untrusted: no tags, anchors or aliases
(an alias bomb is refused at its first anchor), no duplicate keys, one document, bounded size
and depth, strict UTF-8. Scalars follow YAML 1.2's core schema, not PyYAML's 1.1 one: `no`
stays a string, `010` is not 8, `1:20` is not 80, `1e3` is a float.
"""
from __future__ import annotations

import re
import sys

import yaml
from yaml.composer import Composer
from yaml.constructor import BaseConstructor
from yaml.events import AliasEvent, MappingStartEvent, ScalarEvent, SequenceStartEvent
from yaml.nodes import MappingNode, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from shapecli.errors import Loc, SpecError, literal
from shapecli.fileio import read_regular

MAX_BYTES = 1 << 20  # 1 MiB: a hand-written spec is a few KiB
MAX_DEPTH = 64
MAX_DIGITS = 30  # an integer literal; MAX_INT (2**40) has 13 digits


class YMap(dict):
    """A mapping that remembers where it, its keys and its values were written."""

    loc: Loc
    key_locs: dict
    value_locs: dict

    def at(self, key) -> Loc:
        return self.value_locs.get(key, self.loc)


class YList(list):
    loc: Loc
    item_locs: list

    def at(self, i: int) -> Loc:
        return self.item_locs[i] if 0 <= i < len(self.item_locs) else self.loc


_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|(?:0|[1-9][0-9]*)(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_SPECIAL = {".inf": float("inf"), "+.inf": float("inf"), "-.inf": float("-inf"), ".nan": float("nan")}


def resolve_plain(text: str):
    """YAML 1.2 core schema for an unquoted scalar."""
    if _NULL.match(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.match(text):
        if len(text) > MAX_DIGITS:  # int() of 4,300+ digits raises; nothing in a spec is near this long
            raise ValueError(f"the integer {literal(text, 24)} has {len(text.lstrip('+-'))} digits; "
                             f"no size is that large (at most {MAX_DIGITS} digits)")
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    if text.lower() in _SPECIAL:
        return _SPECIAL[text.lower()]
    return text


class _Resolver(BaseResolver):
    """No implicit resolvers: every plain scalar is tagged str, and we resolve it ourselves."""


class _Composer(Composer):
    def __init__(self, file: str):
        super().__init__()
        self._file = file
        self._depth = 0

    def _loc(self, mark) -> Loc:
        return Loc(self._file, mark.line + 1, mark.column + 1)

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            raise SpecError("YAML aliases (*name) are not allowed in a spec; write the value out", self._loc(event.start_mark))
        if isinstance(event, (ScalarEvent, SequenceStartEvent, MappingStartEvent)):
            if event.anchor is not None:
                raise SpecError(f"YAML anchors (&{literal(event.anchor, 20)}) are not allowed in a spec; use vars: or blocks: instead", self._loc(event.start_mark))
            if event.tag is not None and event.tag not in ("!", "tag:yaml.org,2002:str", "!!str"):
                raise SpecError(f"YAML tags ({literal(event.tag, 40)}) are not allowed in a spec: it holds plain data only", self._loc(event.start_mark))
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise SpecError(f"the spec is nested more than {MAX_DEPTH} levels deep", self._loc(event.start_mark))
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Loader(Reader, Scanner, Parser, _Composer, BaseConstructor, _Resolver):
    def __init__(self, stream, file: str):
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        _Composer.__init__(self, file)
        BaseConstructor.__init__(self)
        _Resolver.__init__(self)


# What a quoted scalar's escapes ("\e", "\x9b", "\u202e") can produce that a terminal would act on;
# unescaped, the YAML reader refuses these already. Tab and newline stay allowed.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _convert(node, file: str):
    loc = Loc(file, node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, ScalarNode):
        bad = _UNSAFE.search(node.value)  # "\e[31m" in quotes, a bidi override plain or quoted: never let it
        if bad:                           # reach a terminal
            raise SpecError(f"the control character {literal(bad.group())} is not allowed in a spec string "
                            f"('{literal(node.value, 40)}')", loc)
        if node.style is None:  # plain: resolve; quoted or block scalars are strings
            try:
                return resolve_plain(node.value)
            except ValueError as e:
                raise SpecError(str(e), loc) from None
        return node.value
    if isinstance(node, SequenceNode):
        out = YList(_convert(item, file) for item in node.value)
        out.loc = loc
        out.item_locs = [Loc(file, i.start_mark.line + 1, i.start_mark.column + 1) for i in node.value]
        return out
    if isinstance(node, MappingNode):
        out = YMap()
        out.loc, out.key_locs, out.value_locs = loc, {}, {}
        for knode, vnode in node.value:
            kloc = Loc(file, knode.start_mark.line + 1, knode.start_mark.column + 1)
            if knode.tag == "tag:yaml.org,2002:merge" or (isinstance(knode, ScalarNode) and knode.value == "<<" and knode.style is None):
                raise SpecError("YAML merge keys (<<) are not allowed in a spec", kloc)
            if not isinstance(knode, ScalarNode):
                raise SpecError("a mapping key must be a plain name, not a list or mapping", kloc)
            key = _convert(knode, file)
            if not isinstance(key, str):
                key = knode.value  # `1: x` or `true: x`: keys are names; keep the text as written
            if key in out:
                first = out.key_locs[key]
                raise SpecError(f"duplicate key '{literal(key)}' (first defined at line {first.line})", kloc)
            out[key] = _convert(vnode, file)
            out.key_locs[key] = kloc
            out.value_locs[key] = Loc(file, vnode.start_mark.line + 1, vnode.start_mark.column + 1)
        return out
    raise SpecError("unsupported YAML node", loc)  # pragma: no cover


def parse_yaml(text: str, file: str = "<spec>"):
    """Parse one YAML document of plain data into YMap/YList/scalars with positions."""
    if len(text) > MAX_BYTES:
        raise SpecError(f"the spec is larger than {MAX_BYTES // 1024} KiB", Loc(file))
    if text.startswith("\ufeff"):
        text = text[1:]
    loader = None
    try:
        loader = _Loader(text, file)  # a str is checked for unprintable characters here
        node = loader.get_single_node()
    except SpecError:
        raise
    except yaml.reader.ReaderError as e:  # a NUL byte, an escape character, ...: no node, so no mark
        pos = e.position if isinstance(e.position, int) else 0
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        ch = literal(chr(e.character)) if isinstance(e.character, int) else "a character"
        raise SpecError(f"invalid YAML: the character {ch} is not allowed in a spec", Loc(file, line, col)) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = Loc(file, mark.line + 1, mark.column + 1) if mark else Loc(file)
        what = e.problem or e.context or "invalid YAML"
        if "expected a single document" in str(e):
            what = "a spec holds one YAML document; found a second one (---)"
        fix = _fix_hint(text, file, mark, what) if mark else None
        if fix:
            raise SpecError(f"invalid YAML: {fix[0]}", fix[1]) from None
        raise SpecError(f"invalid YAML: {literal(what, 120)}", where) from None
    except yaml.YAMLError as e:  # ReaderError: a control character, an invalid code point
        raise SpecError(f"invalid YAML: {literal(str(e).splitlines()[0] if str(e) else e, 120)}", Loc(file)) from None
    except RecursionError:
        raise SpecError("the spec is nested too deeply", Loc(file)) from None
    finally:
        if loader is not None:
            loader.dispose()
    if node is None:
        raise SpecError("the spec is empty", Loc(file))
    return _convert(node, file)


_ITEM = re.compile(r"^(\s*)-\s+([A-Za-z_][A-Za-z0-9_]*)\s*(?:#.*)?$")
_KEY = re.compile(r"^(\s*)([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(.*?)\s*(?:#.*)?$")
_UNQUOTED_REF = re.compile(r"\$\{[^}\n]*\}|\$[A-Za-z_][A-Za-z0-9_]*")


def _fix_hint(text: str, file: str, mark, problem: str):
    """(what to write instead, where) for the YAML mistakes a spec writer makes most, else None."""
    lines = text.splitlines()
    line = lines[mark.line] if mark.line < len(lines) else ""
    if problem == "mapping values are not allowed here" and 0 < mark.line:
        # `- ReLU` then `name: relu` on the next line: the item needs a colon to take keys
        prev = next((i for i in range(mark.line - 1, -1, -1) if lines[i].strip() and not lines[i].lstrip().startswith("#")), None)
        item, key = (_ITEM.match(lines[prev]) if prev is not None else None), _KEY.match(line)
        if item and key and len(key.group(1)) > len(item.group(1)):
            layer, k, v = item.group(2), key.group(2), literal(key.group(3) or "...", 40)
            col = len(item.group(1)) + lines[prev][len(item.group(1)):].index(layer) + 1
            if k in ("name", "repeat", "freeze", "init", "tie", "if", "in", "out"):  # spec/nodes.RESERVED
                fix = (f"`- {layer}` takes no keys; to give it `{k}:`, write `- {layer}:` with a colon "
                       f"and `{k}: {v}` under it, aligned with `{layer}`")
            else:
                fix = (f"`- {layer}` takes no keys; to give it the argument `{k}:`, write `- {layer}:` with a colon "
                       f"and `{k}: {v}` indented under `{layer}`")
            return fix, Loc(file, prev + 1, col + len(layer))
    if problem.startswith("expected ',' or ") and problem.endswith("but got '{'"):
        # `{out_features: ${d * 4}}`: in a flow mapping or list, `{` starts a mapping, so a ${...} needs quotes
        for m in _UNQUOTED_REF.finditer(line):
            if m.start() <= mark.column <= m.end():
                ref = literal(m.group(), 60)
                return (f"`{ref}` inside {{...}} or [...] must be quoted: write \"{ref}\"",
                        Loc(file, mark.line + 1, m.start() + 1))
    return None


def read_text(path: str, max_bytes: int = MAX_BYTES) -> str:
    """Read a spec file (or '-' for stdin) as strict UTF-8, refusing anything but a regular file."""
    if path == "-":
        if sys.stdin is None:  # started with standard input closed
            raise SpecError("there is no standard input to read the spec from", Loc("<stdin>"))
        data = sys.stdin.buffer.read(max_bytes + 1)
        name = "<stdin>"
    else:
        name = path
        data = read_regular(path, max_bytes, SpecError, "spec", pipe_hint="; use '-' for stdin")
    if len(data) > max_bytes:
        raise SpecError(f"the spec is larger than {max_bytes:,} bytes", Loc(name))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # a UTF-16 (or -32) byte-order mark
            raise SpecError("the file is UTF-16, not UTF-8; save it as UTF-8", Loc(name)) from None
        line = data[: e.start].count(b"\n") + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise SpecError("the file is not valid UTF-8", Loc(name, line, col)) from None
