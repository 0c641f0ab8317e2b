"""Variables: `$name` and `${expr}` with safe integer arithmetic, never eval.

An expression is parsed with `ast` and walked over a whitelist (numbers, names, + - * // / % **,
unary minus, parentheses, min, max; for loops and choices: list literals, `xs[i]`, len, comparisons,
and/or/not, `a if cond else b`); anything else is an error. Results stay within bounds so a
`${10 ** 10 ** 10}` cannot hang the process.
"""
from __future__ import annotations

import ast
import operator
import re
import tokenize

MAX_LEN = 200
MAX_ABS = 1 << 62

_REF = re.compile(r"^\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{(.*)\})$", re.S)
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RUN = re.compile(r"(?:[\w.]|(?<=[eE])[-+])+")  # a number or name as the tokenizer reads it
_NUMBER = re.compile(tokenize.Number)


class ExprError(ValueError):
    pass


def reference(value) -> str | None:
    """The expression text if `value` is a `$name`/`${...}` reference, else None."""
    if isinstance(value, str) and value.startswith("$"):
        m = _REF.match(value)
        if not m:
            raise ExprError(f"'{value[:40]}' is not a variable reference; write $name or ${{expression}}")
        return m.group(1) or m.group(2).strip()
    return None


def _parse(text: str) -> ast.AST:
    if len(text) > MAX_LEN:
        raise ExprError(f"expression longer than {MAX_LEN} characters")
    if not text:
        raise ExprError("empty expression")
    # ast.parse prints a SyntaxWarning (raw, on stderr) for a number run into a word (`3if`) or a string
    # escape ('\\d'), then parses on; no valid expression holds either, so refuse them first.
    numbers = (r for r in _RUN.findall(text) if r[0].isdigit() or (r[0] == "." and r[1:2].isdigit()))
    if "\\" in text or any(not _NUMBER.fullmatch(r) for r in numbers):
        raise ExprError(f"'{text[:40]}' is not a valid expression")
    try:
        return ast.parse(text, mode="eval").body
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        raise ExprError(f"'{text[:40]}' is not a valid expression") from None


def _div(a, b):
    if b == 0:
        raise ExprError("division by zero")
    if a % b:
        raise ExprError(f"{a} / {b} is not a whole number; use // to round down")
    return a // b


def _floordiv(a, b):
    if b == 0:
        raise ExprError("division by zero")
    return a // b


def _mod(a, b):
    if b == 0:
        raise ExprError("modulo by zero")
    return a % b


def _pow(a, b):
    if b < 0:
        raise ExprError("negative exponent")
    if b > 64 and abs(a) > 1:
        raise ExprError("exponent too large")
    return a**b


_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: _div,
           ast.FloorDiv: _floordiv, ast.Mod: _mod, ast.Pow: _pow}
_FUNCS = {"min": min, "max": max}
_COMPARE = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
            ast.Eq: operator.eq, ast.NotEq: operator.ne}
_ALLOWED = "integers, lists, + - * / // % **, comparisons, and/or/not, x if c else y, xs[i], min, max, len"


def evaluate(text: str, lookup) -> int | float | bool | str:
    """Evaluate `text`; `lookup(name)` gives a variable's value. A lone name may be any value."""
    tree = _parse(text)
    if isinstance(tree, ast.Name):
        return lookup(tree.id)
    return _eval(tree, lookup)


def _eval(node, lookup):
    """An integer, unless the expression is a list, an item of one, a comparison or a choice."""
    if isinstance(node, ast.Name):
        return _num(node, lookup)
    return _value(node, lookup)


def _num(node, lookup) -> int:
    v = _value(node, lookup)
    if type(v) is not int:
        if isinstance(node, ast.Name):
            raise ExprError(f"variable '{node.id}' is {type(v).__name__} {v!r}; arithmetic takes integers")
        raise ExprError(f"'{ast.unparse(node)[:40]}' is {type(v).__name__} {v!r}; arithmetic takes integers")
    return v


def _bool(node, lookup) -> bool:
    v = _value(node, lookup)
    if type(v) is not bool:
        raise ExprError(f"'{ast.unparse(node)[:40]}' is {type(v).__name__} {v!r}, not a condition (true or false)")
    return v


def _value(node, lookup):
    if isinstance(node, ast.Constant) and type(node.value) in (int, bool):
        return _check(node.value) if type(node.value) is int else node.value
    if isinstance(node, ast.Name):
        return lookup(node.id)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return _check(_BINOPS[type(node.op)](_num(node.left, lookup), _num(node.right, lookup)))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _num(node.operand, lookup)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _bool(node.operand, lookup)
    if isinstance(node, ast.BoolOp):  # and/or on conditions, short-circuit
        want = isinstance(node.op, ast.Or)
        return next((want for v in node.values if _bool(v, lookup) is want), not want)
    if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
        left = _value(node.left, lookup)
        for op, right_node in zip(node.ops, node.comparators):
            right = _value(right_node, lookup)
            if type(op) not in (ast.Eq, ast.NotEq) and not (type(left) is int and type(right) is int):
                raise ExprError(f"'{ast.unparse(node)[:40]}' compares {type(left).__name__} with {type(right).__name__}; "
                                "< <= > >= take integers")
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.IfExp):
        return _value(node.body if _bool(node.test, lookup) else node.orelse, lookup)
    if isinstance(node, ast.List):
        return [_value(e, lookup) for e in node.elts]
    if isinstance(node, ast.Subscript) and not isinstance(node.slice, ast.Slice):
        xs = _value(node.value, lookup)
        if not isinstance(xs, list):
            raise ExprError(f"'{ast.unparse(node.value)[:40]}' is {type(xs).__name__} {xs!r}, not a list; "
                            "only a list takes [i]")
        i = _num(node.slice, lookup)
        if not -len(xs) <= i < len(xs):
            raise ExprError(f"index {i} is out of range for '{ast.unparse(node.value)[:40]}' ({len(xs)} items)")
        return xs[i]
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len"
            and len(node.args) == 1 and not node.keywords):
        xs = _value(node.args[0], lookup)
        if not isinstance(xs, list):
            raise ExprError(f"len takes a list, got {type(xs).__name__} {xs!r}")
        return len(xs)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS
            and node.args and not node.keywords):
        return _FUNCS[node.func.id](_num(a, lookup) for a in node.args)
    what = type(node).__name__
    if isinstance(node, ast.Constant):
        what = f"the constant {node.value!r}"
    elif isinstance(node, ast.Call):
        what = "a call (only min, max and len are allowed)"
    elif isinstance(node, ast.Subscript):
        what = "a slice"
    raise ExprError(f"{what} is not allowed in an expression ({_ALLOWED})")


def _check(v: int) -> int:
    if abs(v) > MAX_ABS:
        raise ExprError("the result is too large")
    return v
