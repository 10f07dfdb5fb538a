"""Values for a flow's inputs: parsed from the command line or given from Python, then checked.

`resolve_inputs` turns what a run was given into one value per declared input, following
Kestra's rules: a missing input takes its `defaults`, a missing required input without defaults
is an error, and so is an input the flow does not declare. Values from the command line are
texts and are parsed per type; values from Python may already be typed.

What each type yields:
    STRING, SECRET, EMAIL, URI, FILE, SELECT, ENUM -> str
    INT -> int;  FLOAT -> float;  BOOLEAN (BOOL) -> bool
    MULTISELECT -> list[str] (a JSON array or a comma list);  ARRAY -> list of `itemType`
    JSON, YAML -> the parsed value
    DATETIME, DATE, TIME -> the ISO-8601 text, normalised (UTC as `Z`)
    DURATION -> the ISO-8601 text as given (`PT5M`)
and the rules applied: `validator` (a full-match regex, STRING/SECRET), `min`/`max`
(INT/FLOAT/DURATION; Kestra has none for strings), `after`/`before` (DATE/DATETIME/TIME),
`values` (SELECT/ENUM/MULTISELECT, unless `allowCustomValue`).

Pure: no I/O here (FILE inputs stay paths or URIs; the executor uploads them).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from scheduler.durations import parse_duration
from scheduler.errors import DurationError, FlowIssue, InputError
from scheduler.flow_model import Flow, InputDef, Pos

__all__ = ["BadInput", "coerce_input", "parse_cli_inputs", "resolve_declared", "resolve_inputs"]

_CLI = "<command line>"
#: Kestra's EmailInput pattern (its character class includes U+2019, kept as written).
_EMAIL = re.compile(r"^$|^[a-zA-Z0-9_!#$%&\u2019*+/=?`{|}~^.-]+@[a-zA-Z0-9.-]+$")
_INT = re.compile(r"[+-]?\d+")


class BadInput(ValueError):  # noqa: N818 - a value problem, reported as an InputError issue
    """A value does not fit its input; the message says why, without the input's name."""


def parse_cli_inputs(pairs: Sequence[str]) -> dict[str, str]:
    """`["k=v", ...]` to `{"k": "v"}`, splitting each pair at its first '='.

    Raises `InputError` for a pair without '=' or with an empty name, or a name given twice.
    """
    found: dict[str, str] = {}
    issues: list[FlowIssue] = []
    for index, pair in enumerate(pairs):
        pos = Pos(_CLI, 1, index + 1)
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep:
            issues.append(FlowIssue(pos, f"input {pair!r}: expected name=value; write {pair}=..."))
        elif not name:
            issues.append(FlowIssue(pos, f"input {pair!r}: the name is empty; write name=value"))
        elif name in found:
            issues.append(FlowIssue(pos, f"input '{name}': given twice; give it once"))
        else:
            found[name] = value
    if issues:
        raise InputError(issues)
    return found


def resolve_inputs(flow: Flow, given: Mapping[str, Any]) -> dict[str, Any]:
    """One value per declared input of `flow` (None for an optional input left out).

    Raises `InputError` with every problem: unknown inputs, missing required ones, and values
    that do not fit; each issue is placed at the input's declaration.
    """
    return resolve_declared(
        flow.inputs, given, flow.pos, f"not declared by flow '{flow.namespace}.{flow.id}'"
    )


def resolve_declared(
    decls: Sequence[InputDef], given: Mapping[str, Any], pos: Pos, undeclared: str
) -> dict[str, Any]:
    """`resolve_inputs` for any list of declarations (a flow's, a Pause's `onResume`); an
    undeclared name is reported at `pos` as `input 'x': <undeclared>; declared inputs: ...`."""
    issues: list[FlowIssue] = []
    declared = {decl.id: decl for decl in decls}
    for name in given:
        if name not in declared:
            known = ", ".join(declared) if declared else "none"
            issues.append(FlowIssue(pos, f"input '{name}': {undeclared}; declared inputs: {known}"))
    values: dict[str, Any] = {}
    for decl in decls:
        value = given.get(decl.id)
        if value is None:
            value = decl.defaults
        if value is None:
            if decl.required:
                issues.append(
                    FlowIssue(
                        decl.pos,
                        f"input '{decl.id}': required but not given; pass a value "
                        "or declare defaults",
                    )
                )
            values[decl.id] = None
            continue
        try:
            values[decl.id] = coerce_input(decl, value)
        except BadInput as exc:
            issues.append(FlowIssue(decl.pos, f"input '{decl.id}': {exc}"))
    if issues:
        raise InputError(issues)
    return values


def coerce_input(decl: InputDef, value: Any) -> Any:
    """`value` parsed for `decl`'s type and checked against its rules; raises `BadInput`."""
    kind = decl.type
    if kind == "MULTISELECT":
        items = [_text(item) for item in _as_list(value, "a list of choices")]
        for item in items:
            _check_choice(decl, item)
        return items
    if kind == "ARRAY":
        item_decl = decl.model_copy(update={"type": decl.itemType or "STRING", "itemType": None})
        return [coerce_input(item_decl, item) for item in _as_list(value, "a list")]
    result = _parse(kind, value)
    _check_rules(decl, result)
    return result


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise BadInput(f"{_show(value)} is not a text")


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return repr(value)


def _as_list(value: Any, what: str) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    if not isinstance(value, str):
        raise BadInput(f"{_show(value)} is not {what}")
    text = value.strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{value!r} is not a valid JSON array: {exc.msg}") from exc
        if not isinstance(parsed, list):
            raise BadInput(f"{value!r} is not {what}")
        return parsed
    return [item.strip() for item in text.split(",") if item.strip()] if text else []


def _parse(kind: str, value: Any) -> Any:
    if kind in ("INT", "FLOAT"):
        return _number(kind, value)
    if kind == "BOOLEAN":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise BadInput(f"{_show(value)} is not a boolean; use true or false")
    if kind in ("JSON", "YAML"):
        return _structured(kind, value)
    if kind in ("DATETIME", "DATE", "TIME"):
        return _temporal(kind, value)
    if kind == "DURATION":
        try:
            parse_duration(value)
        except (DurationError, TypeError, AttributeError) as exc:
            raise BadInput(
                f"{_show(value)} is not an ISO-8601 duration; write it like PT5M or P1D"
            ) from exc
        return value.strip() if isinstance(value, str) else f"PT{value}S"
    text = _text(value)
    if kind == "EMAIL" and not _EMAIL.match(text):
        raise BadInput(f"{text!r} is not an email address")
    if kind == "URI" and not urlparse(text).scheme:
        raise BadInput(f"{text!r} is not a URI; write it with a scheme, e.g. https://host/path")
    return text


def _number(kind: str, value: Any) -> int | float:
    if isinstance(value, bool):
        raise BadInput(f"{_show(value)} is not {'an integer' if kind == 'INT' else 'a number'}")
    if kind == "INT":
        if isinstance(value, int):
            return value
        if isinstance(value, str) and _INT.fullmatch(value.strip()):
            return int(value.strip())
        raise BadInput(f"{_show(value)} is not an integer")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError as exc:
            raise BadInput(f"{value!r} is not a number") from exc
    raise BadInput(f"{_show(value)} is not a number")


def _structured(kind: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if kind == "JSON":
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{value!r} is not valid JSON: {exc.msg}") from exc
    try:
        return YAML(typ="safe", pure=True).load(value)
    except YAMLError as exc:
        raise BadInput(f"{value!r} is not valid YAML: {exc}") from exc


_EXAMPLES = {"DATETIME": "2024-01-31T12:00:00Z", "DATE": "2024-01-31", "TIME": "12:00:00"}
_NAMES = {"DATETIME": "date-time", "DATE": "date", "TIME": "time"}


def _temporal(kind: str, value: Any) -> str:
    """The ISO text of a DATETIME/DATE/TIME value, normalised."""
    parsed: dt.datetime | dt.date | dt.time
    if isinstance(value, dt.datetime | dt.date | dt.time):
        parsed = value
    elif isinstance(value, str):
        try:
            if kind == "DATETIME":
                parsed = dt.datetime.fromisoformat(value.strip())
            elif kind == "DATE":
                parsed = dt.date.fromisoformat(value.strip())
            else:
                parsed = dt.time.fromisoformat(value.strip())
        except ValueError as exc:
            raise BadInput(
                f"{value!r} is not an ISO-8601 {_NAMES[kind]}; write it like {_EXAMPLES[kind]}"
            ) from exc
    else:
        raise BadInput(f"{_show(value)} is not an ISO-8601 {_NAMES[kind]}")
    if kind == "DATETIME":
        if not isinstance(parsed, dt.datetime):
            raise BadInput(f"{_show(value)} is not an ISO-8601 date-time")
        if parsed.tzinfo is None:
            raise BadInput(f"{_show(value)} has no time zone; add one, e.g. Z or +02:00")
        if parsed.utcoffset() == dt.timedelta(0):
            return parsed.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
        return parsed.isoformat()
    if kind == "DATE" and isinstance(parsed, dt.datetime):
        raise BadInput(f"{_show(value)} is not an ISO-8601 date; write it like 2024-01-31")
    return parsed.isoformat()


def _sort_key(kind: str, value: Any) -> Any:
    if kind == "DURATION":
        return parse_duration(value)
    if kind == "DATETIME":
        return dt.datetime.fromisoformat(value)
    if kind == "DATE":
        return dt.date.fromisoformat(value)
    if kind == "TIME":
        return dt.time.fromisoformat(value)
    return value


def _check_rules(decl: InputDef, value: Any) -> None:
    kind = decl.type
    if (
        decl.validator is not None
        and isinstance(value, str)
        and not re.fullmatch(decl.validator, value)
    ):
        raise BadInput(f"{value!r} does not match the pattern '{decl.validator}'")
    if kind in ("SELECT", "ENUM"):
        _check_choice(decl, value)
    if kind in ("INT", "FLOAT", "DURATION"):
        key = _sort_key(kind, value)
        if decl.min is not None and key < _sort_key(kind, decl.min):
            raise BadInput(f"{_shown(value)} is less than the minimum {_shown(decl.min)}")
        if decl.max is not None and key > _sort_key(kind, decl.max):
            raise BadInput(f"{_shown(value)} is more than the maximum {_shown(decl.max)}")
    if kind in ("DATETIME", "DATE", "TIME"):
        key = _sort_key(kind, value)
        if decl.after is not None and key < _sort_key(kind, _temporal(kind, decl.after)):
            raise BadInput(f"{value!r} is before the earliest allowed {decl.after!r}")
        if decl.before is not None and key > _sort_key(kind, _temporal(kind, decl.before)):
            raise BadInput(f"{value!r} is after the latest allowed {decl.before!r}")


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _check_choice(decl: InputDef, value: str) -> None:
    if decl.allowCustomValue or decl.values is None:
        return
    if value not in decl.values:
        raise BadInput(f"{value!r} is not one of {list(decl.values)}")
