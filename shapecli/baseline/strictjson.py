"""Strict JSON's positions: where a baseline breaks the rules that json's hooks enforce without knowing where.

baseline/document.py `loads` refuses NaN and Infinity, numbers out of range and duplicate keys through
json's parse_constant, parse_float and object_pairs_hook, which get no position; on that error path
only, `position` finds the offending token in the text, so the error names line and column as a
syntax error does. No torch.
"""
from __future__ import annotations

import json
import re


class Strict(Exception):  # noqa: N818 - not an error the user sees: loads turns it into a BaselineError
    """Valid JSON that a baseline may not hold: what (`constant`, `float`, `duplicate`) and the token or key."""

    def __init__(self, message: str, kind: str, token: str):
        super().__init__(message)
        self.kind, self.token = kind, token


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]|-?Infinity|NaN|-?[0-9][0-9.eE+-]*|[ \t\r\n]+|.', re.S)


def position(text: str, e: Strict) -> int | None:
    """Where in `text` the strict JSON hook of document.loads failed (only on that error path): the first bare
    NaN/Infinity, the first number that is out of range, or the second occurrence of a duplicate key
    in the first object to close with one (the order in which json calls object_pairs_hook)."""
    stack: list = []  # per open object: [keys seen, first duplicate (key, pos) or None, expecting a key]
    for m in _TOKEN.finditer(text):
        tok, pos = m.group(), m.start()
        c = tok[0]
        if e.kind == "constant" and tok == e.token:
            return pos
        if e.kind == "float" and tok == e.token:
            return pos
        if e.kind != "duplicate" or c in " \t\r\n":
            continue
        if c == "{":
            stack.append([set(), None, True])
        elif c == "[":
            stack.append(None)
        elif c in "}]":
            top = stack.pop() if stack else None
            if top is not None and top[1] is not None:
                return top[1][1]
        elif c == "," and stack and stack[-1] is not None:
            stack[-1][2] = True
        elif c == '"' and stack and stack[-1] is not None and stack[-1][2]:
            top = stack[-1]
            top[2] = False
            try:
                key = json.loads(tok)
            except ValueError:
                return None
            if key in top[0] and top[1] is None:
                top[1] = (key, pos)
            top[0].add(key)
    return None
