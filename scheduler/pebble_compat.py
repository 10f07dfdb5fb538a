"""Kestra writes its templates in Pebble; a few Pebble operators have no Jinja2 spelling. This
module rewrites them into Jinja2 before a template is compiled, so Kestra's flows run unchanged:

- `a ?? b` (null-coalescing): `_coalesce(a, b)`, which gives `b` when `a` is undefined or null;
- `a equals b`: `a == b`;
- `cond ? a : b` (ternary): `(a if cond else b)`.

Only text inside `{{ }}` and `{% %}` is touched, and never inside string literals. Pure text
processing: no I/O.
"""

from __future__ import annotations

import re
from typing import Any

import jinja2

_BLOCK = re.compile(r"(\{\{.*?\}\}|\{%.*?%\})", re.DOTALL)
_EQUALS = re.compile(r"(?<![\w.])equals(?![\w])")


_PAIRS = {"(": ")", "[": "]", "{": "}"}


def _scan(code: str, index: int = 0, closer: str = "") -> tuple[list[str | list[str]], int]:
    """Cut code into top-level pieces: strings and bracket groups stay whole (groups already
    rewritten), runs of plain code are single characters so operators can be found."""
    pieces: list[str | list[str]] = []
    while index < len(code):
        char = code[index]
        if closer and char == closer:
            return pieces, index
        if char in "'\"":
            end = index + 1
            while end < len(code) and code[end] != char:
                end += 2 if code[end] == "\\" else 1
            pieces.append([code[index : end + 1]])
            index = end + 1
        elif char in _PAIRS:
            inner, end = _scan(code, index + 1, _PAIRS[char])
            pieces.append([char + _rewrite_pieces(inner) + _PAIRS[char]])
            index = end + 1
        else:
            pieces.append(char)
            index += 1
    return pieces, index


def _find(pieces: list[str | list[str]], op: str, start: int = 0) -> int:
    """Index of a top-level operator in the pieces (`?` never matches half of `??`)."""
    for index in range(start, len(pieces)):
        window = pieces[index : index + len(op)]
        if all(isinstance(p, str) for p in window) and "".join(map(str, window)) == op:
            if op == "?" and (
                (index + 1 < len(pieces) and pieces[index + 1] == "?")
                or (index > 0 and pieces[index - 1] == "?")
            ):
                continue
            return index
    return -1


def _rewrite_pieces(pieces: list[str | list[str]]) -> str:
    parts: list[list[str | list[str]]] = []
    rest = pieces
    while (at := _find(rest, "??")) >= 0:
        parts.append(rest[:at])
        rest = rest[at + 2 :]
    parts.append(rest)
    texts = [_ternary(part) for part in parts]
    expression = texts[-1].strip()
    for text in reversed(texts[:-1]):
        expression = f"_coalesce({text.strip()}, {expression})"
    return expression if len(texts) > 1 else texts[0]


def _ternary(pieces: list[str | list[str]]) -> str:
    """Pebble's `cond ? a : b` as Jinja's `(a if cond else b)`."""
    mark = _find(pieces, "?")
    colon = _find(pieces, ":", mark + 1) if mark >= 0 else -1
    if mark < 0 or colon < 0:
        return _code(pieces)
    condition = _code(pieces[:mark]).strip()
    then = _code(pieces[mark + 1 : colon]).strip()
    other = _ternary(pieces[colon + 1 :]).strip()
    return f"({then} if {condition} else {other})"


def _code(pieces: list[str | list[str]]) -> str:
    """Join pieces back into code, spelling `equals` as `==` outside strings and groups."""
    text, run = "", ""
    for piece in pieces:
        if isinstance(piece, str):
            run += piece
        else:
            text += _EQUALS.sub("==", run) + piece[0]
            run = ""
    return text + _EQUALS.sub("==", run)


def _rewrite_expression(code: str) -> str:
    pieces, _ = _scan(code)
    rewritten = _rewrite_pieces(pieces)
    return rewritten if rewritten.startswith(" ") else f" {rewritten.strip()} "


def rewrite(source: str) -> str:
    """Pebble-only operators in `source` spelled the Jinja2 way."""
    if "??" not in source and "equals" not in source and "?" not in source:
        return source

    def block(match: re.Match[str]) -> str:
        text = match.group(0)
        opening, closing = text[:2], text[-2:]
        return opening + _rewrite_expression(text[2:-2]) + closing

    return _BLOCK.sub(block, source)


def coalesce(value: Any, fallback: Any) -> Any:
    """Pebble's `??`: the fallback when the value is undefined or null."""
    if isinstance(value, jinja2.Undefined) or value is None:
        return fallback
    return value


class StrictChainableUndefined(jinja2.ChainableUndefined, jinja2.StrictUndefined):
    """Undefined that may be chained (`a.b.c` of a missing `a`, for `??` and `is defined`) but
    fails like StrictUndefined as soon as it is printed, iterated, compared or tested."""

    __slots__ = ()
