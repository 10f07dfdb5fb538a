"""Small checks the loader applies to YAML values: keys, kinds, literals, template syntax.

Every check appends `FlowIssue`s to an `Issues` list instead of raising, so a file reports all
of its problems at once. Messages read `<subject>: what is wrong; how to fix it`.

Pure: no I/O here, and nothing about flows or tasks in particular (the loader knows those).
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
from collections.abc import Callable, Iterable
from typing import Any

import jinja2
from pydantic import TypeAdapter, ValidationError

from scheduler.errors import FlowIssue
from scheduler.flow_model import Pos
from scheduler.yaml_positions import PMap, PSeq, pos_at

__all__ = [
    "Issues",
    "check_keys",
    "check_kind",
    "check_literal",
    "check_templates",
    "contains_template",
    "describe",
    "did_you_mean",
    "is_templated",
    "kind_name",
    "template_syntax_error",
]


class Issues:
    """The issues found so far in one file."""

    def __init__(self) -> None:
        self.items: list[FlowIssue] = []

    def add(self, pos: Pos, message: str) -> None:
        self.items.append(FlowIssue(pos, message))

    def extend(self, issues: Iterable[FlowIssue]) -> None:
        self.items.extend(issues)

    def sorted(self) -> list[FlowIssue]:
        """Issues ordered by position (then message), without repeats."""
        unique = dict.fromkeys(self.items)
        return sorted(unique, key=lambda issue: (issue.pos.line, issue.pos.col, issue.message))


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to `word`, if one is close enough to be a likely typo."""
    pool = sorted(set(candidates))
    matches = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    if matches:
        return matches[0]
    lowered = {candidate.lower(): candidate for candidate in pool}
    matches = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[matches[0]] if matches else None


def check_keys(
    mapping: PMap,
    allowed: Iterable[str],
    subject: str,
    issues: Issues,
    noun: str = "property",
    *,
    ignore: Iterable[str] = (),
) -> None:
    """An issue at each key of `mapping` not in `allowed` (nor `ignore`), with a did-you-mean."""
    allowed_set = set(allowed)
    skipped = set(ignore)
    for key in mapping:
        if key in allowed_set or key in skipped:
            continue
        guess = did_you_mean(key, allowed_set)
        hint = (
            f"did you mean '{guess}'?"
            if guess
            else "remove it or use one of: " + ", ".join(sorted(allowed_set))
        )
        issues.add(mapping.kpos(key), f"{subject}: unknown {noun} '{key}'; {hint}")


_WORDING: dict[type, str] = {
    str: "a text",
    bool: "true or false",
    int: "an integer",
    float: "a number",
    dict: "a mapping",
    list: "a list",
}


def check_kind(mapping: PMap, key: str, expected: type, subject: str, issues: Issues) -> Any | None:
    """`mapping[key]` when it is of the `expected` YAML kind, else None after an issue.

    `float` accepts integers too; `int` and `float` refuse booleans. A missing key is None.
    """
    if key not in mapping or mapping[key] is None:
        return None
    value = mapping[key]
    ok = isinstance(value, expected)
    if expected in (int, float) and isinstance(value, bool):
        ok = False
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if ok:
        return value
    issues.add(
        mapping.vpos(key),
        f"{subject}: '{key}' must be {_WORDING.get(expected, expected.__name__)};"
        f" got {describe(value)}",
    )
    return None


def kind_name(value: Any) -> str:
    """A user-facing name for the YAML kind of `value`."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def describe(value: Any) -> str:
    """A short user-facing rendering of `value`: scalars as written, containers by kind."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return repr(value)
    return kind_name(value)


def is_templated(value: Any) -> bool:
    """Whether `value` is a string holding a template (`{{ ... }}` or `{% ... %}`)."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def contains_template(value: Any) -> bool:
    """Whether `value` or anything inside it is a templated string."""
    if isinstance(value, dict):
        return any(contains_template(item) for item in value.values())
    if isinstance(value, list):
        return any(contains_template(item) for item in value)
    return is_templated(value)


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def check_literal(
    value: Any, annotation: Any, pos: Pos, prefix: str, path: str, *, issues: Issues
) -> Any | None:
    """Validate a literal `value` against `annotation` (lax, like rendered values are).

    Returns the validated value, or None after adding one issue per pydantic error, each at the
    position of the offending element inside `value`, reading `<prefix>'<path>': <error>`.
    Values holding templates pass unchecked.
    """
    if contains_template(value):
        return value
    try:
        adapter = _ADAPTERS[annotation]
    except (KeyError, TypeError):
        adapter = TypeAdapter(annotation)
        with contextlib.suppress(TypeError):  # an unhashable annotation is not cached
            _ADAPTERS[annotation] = adapter
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        grouped: dict[tuple[int | str, ...], list[str]] = {}
        for error in exc.errors(include_url=False):
            loc = _value_loc(value, error["loc"])
            grouped.setdefault(loc, [])
            if error["msg"] not in grouped[loc]:
                grouped[loc].append(error["msg"])
        for loc, messages in grouped.items():
            where = pos_at(value, loc, pos)
            inner = "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in loc)
            text = messages[0] + "".join(
                ", or " + message.removeprefix("Input should be ") for message in messages[1:]
            )
            got = describe(_follow(value, loc))
            issues.add(where, f"{prefix}'{path}{inner}': {text}; got {got}")
        return None


def _value_loc(value: Any, loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """The steps of a pydantic error `loc` that lead into `value` (union tags dropped)."""
    kept: list[int | str] = []
    current = value
    for step in loc:
        into_map = isinstance(current, dict) and step in current
        into_list = isinstance(current, list) and isinstance(step, int) and 0 <= step < len(current)
        if into_map or into_list:
            current = current[step]
            kept.append(step)
    return tuple(kept)


def _follow(value: Any, loc: tuple[int | str, ...]) -> Any:
    for step in loc:
        value = value[step]
    return value


def _jinja_syntax_error(text: str) -> str | None:
    """Fallback syntax check with a plain Jinja2 parser (used until scheduler.templating exists)."""
    try:
        jinja2.Environment().parse(text)
    except jinja2.TemplateSyntaxError as exc:
        return exc.message or str(exc)
    return None


def _syntax_checker() -> Callable[[str], str | None]:
    try:
        module = importlib.import_module("scheduler.templating")
    except ImportError:
        return _jinja_syntax_error
    checker = getattr(module, "syntax_error", None)
    return checker if callable(checker) else _jinja_syntax_error


def template_syntax_error(text: str) -> str | None:
    """The syntax error in the template `text`, or None when it parses."""
    return _syntax_checker()(text)


def check_templates(value: Any, pos: Pos, prefix: str, path: str, issues: Issues) -> None:
    """An issue at each templated string inside `value` that does not parse.

    Messages read `<prefix>'<path>': template error: <error>; check the {{ }} syntax`.
    """
    if isinstance(value, PMap):
        for key, item in value.items():
            check_templates(item, value.vpos(key), prefix, f"{path}.{key}", issues)
    elif isinstance(value, PSeq):
        for index, item in enumerate(value):
            check_templates(item, value.ipos(index), prefix, f"{path}[{index}]", issues)
    elif is_templated(value):
        error = template_syntax_error(value)
        if error is not None:
            error = error.rstrip(".")
            issues.add(
                pos, f"{prefix}'{path}': template error: {error}; check the {{{{ }}}} syntax"
            )
