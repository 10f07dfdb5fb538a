"""A flow's `inputs:` declarations (Kestra's `Input` classes) to `InputDef`s.

Every Kestra input type is accepted with the properties its class has (STRING's `validator`,
INT's `min`/`max`, DATE's `after`/`before`, SELECT's `values`, ARRAY's `itemType`, FILE's
`extension`, ...); a property of another type is reported as not applying. `BOOL` is taken as
`BOOLEAN`, MULTISELECT's deprecated `options` as `values`, the deprecated `name` as `id`.
Declared `defaults` are checked with the same rules a given value is.

Pure: no I/O here.
"""

from __future__ import annotations

import re
from typing import Any

from scheduler.field_checks import Issues, check_keys, check_kind, describe, did_you_mean
from scheduler.flow_model import InputDef, Pos
from scheduler.inputs import BadInput, coerce_input
from scheduler.yaml_positions import PMap, PSeq, plain

__all__ = ["INPUT_ID_PATTERN", "INPUT_TYPES", "parse_input_decls"]

#: Kestra's input id rule.
INPUT_ID_PATTERN = re.compile(r"^[a-zA-Z0-9][.a-zA-Z0-9_-]*$")
_COMMON = ("id", "name", "type", "description", "dependsOn", "required", "defaults", "displayName")
_CHOICES = ("values", "expression", "allowCustomValue")
#: Input type -> the properties it takes beyond the common ones.
INPUT_TYPES: dict[str, tuple[str, ...]] = {
    "STRING": ("validator",),
    "SECRET": ("validator",),
    "INT": ("min", "max"),
    "FLOAT": ("min", "max"),
    "BOOLEAN": (),
    "SELECT": (*_CHOICES, "isRadio"),
    "ENUM": ("values",),
    "MULTISELECT": (*_CHOICES, "options", "itemType"),
    "JSON": (),
    "YAML": (),
    "ARRAY": ("itemType",),
    "DATETIME": ("after", "before"),
    "DATE": ("after", "before"),
    "TIME": ("after", "before"),
    "DURATION": ("min", "max"),
    "URI": (),
    "EMAIL": (),
    "FILE": ("extension",),
}
_ALIASES = {"BOOL": "BOOLEAN"}
_ALL_EXTRAS = {key for keys in INPUT_TYPES.values() for key in keys}
_DISPLAY_NAME_MAX = 64


def parse_input_decls(value: Any, issues: Issues) -> tuple[InputDef, ...]:
    """The declarations of the `inputs:` list `value`; issues for every problem."""
    if not isinstance(value, PSeq):
        return ()
    decls: list[InputDef] = []
    seen: dict[str, Pos] = {}
    for index, raw in enumerate(value):
        if not isinstance(raw, PMap):
            issues.add(
                value.ipos(index),
                f"inputs[{index}]: must be a mapping with 'id' and 'type'; got {describe(raw)}",
            )
            continue
        decl = _parse_decl(raw, index, seen, issues)
        if decl is not None:
            decls.append(decl)
    return tuple(decls)


def _parse_decl(raw: PMap, index: int, seen: dict[str, Pos], issues: Issues) -> InputDef | None:
    before = len(issues.items)
    id_key = "id" if "id" in raw else "name"
    input_id = raw.get(id_key)
    if not isinstance(input_id, str):
        issues.add(raw.pos, f"inputs[{index}]: missing 'id'; name the input with `id: <name>`")
        return None
    subject = f"input '{input_id}'"
    if not INPUT_ID_PATTERN.match(input_id):
        issues.add(
            raw.vpos(id_key),
            f"{subject}: invalid id; use letters, digits, '.', '_' and '-', starting with a "
            "letter or digit",
        )
    if input_id in seen:
        issues.add(
            raw.vpos(id_key),
            f"{subject}: already declared at {seen[input_id]}; input ids must be unique",
        )
    seen.setdefault(input_id, raw.vpos(id_key))
    kind = _input_type(raw, subject, issues)
    if kind is None:
        return None
    _check_extras(raw, kind, subject, issues)
    fields = _fields(raw, kind, subject, issues)
    if len(issues.items) > before:
        return None
    decl = InputDef(id=input_id, type=kind, pos=raw.pos, **fields)
    defaults = raw.get("defaults")
    if defaults is not None and not (isinstance(defaults, str) and "{{" in defaults):
        try:
            coerce_input(decl, plain(defaults))
        except BadInput as exc:
            issues.add(raw.vpos("defaults"), f"{subject}: bad defaults: {exc}")
            return None
    return decl


def _input_type(raw: PMap, subject: str, issues: Issues) -> str | None:
    written = raw.get("type")
    if written is None:
        issues.add(raw.pos, f"{subject}: missing 'type'; use one of " + ", ".join(INPUT_TYPES))
        return None
    kind = _ALIASES.get(str(written), str(written))
    if kind not in INPUT_TYPES:
        guess = did_you_mean(str(written), INPUT_TYPES)
        hint = f"did you mean '{guess}'?" if guess else "use one of " + ", ".join(INPUT_TYPES)
        issues.add(raw.vpos("type"), f"{subject}: unknown type {describe(written)}; {hint}")
        return None
    return kind


def _check_extras(raw: PMap, kind: str, subject: str, issues: Issues) -> None:
    allowed = (*_COMMON, *INPUT_TYPES[kind])
    unknown = PMap(raw.pos)
    for key in raw:
        if key in allowed:
            continue
        if key in _ALL_EXTRAS:
            issues.add(
                raw.kpos(key), f"{subject}: '{key}' does not apply to {kind} inputs; remove it"
            )
        else:
            unknown.put(key, raw[key], raw.kpos(key), raw.vpos(key))
    check_keys(unknown, allowed, subject, issues)


def _fields(raw: PMap, kind: str, subject: str, issues: Issues) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key in ("description", "displayName", "validator", "expression", "extension"):
        fields[key] = check_kind(raw, key, str, subject, issues)
    for key in ("required", "allowCustomValue", "isRadio"):
        fields[key] = check_kind(raw, key, bool, subject, issues)
    fields["dependsOn"] = plain(check_kind(raw, "dependsOn", dict, subject, issues))
    fields["defaults"] = plain(raw.get("defaults"))
    name = fields["displayName"]
    if isinstance(name, str) and len(name) > _DISPLAY_NAME_MAX:
        issues.add(
            raw.vpos("displayName"),
            f"{subject}: 'displayName' is {len(name)} characters; shorten it to at most "
            f"{_DISPLAY_NAME_MAX}",
        )
    pattern = fields["validator"]
    if isinstance(pattern, str):
        try:
            re.compile(pattern)
        except re.error as exc:
            issues.add(
                raw.vpos("validator"),
                f"{subject}: 'validator' is not a valid regular expression ({exc}); fix it",
            )
    _choices(raw, kind, subject, fields, issues)
    _bounds(raw, kind, subject, fields, issues)
    if "itemType" in raw:
        item = _ALIASES.get(str(raw["itemType"]), str(raw["itemType"]))
        if item not in INPUT_TYPES or item in ("ARRAY", "MULTISELECT", "FILE"):
            issues.add(
                raw.vpos("itemType"),
                f"{subject}: 'itemType' {describe(raw['itemType'])} is not an item type; use "
                "STRING, INT, FLOAT, BOOLEAN, DATETIME, DATE, TIME, DURATION, JSON, ...",
            )
        fields["itemType"] = item
    elif kind == "ARRAY":
        issues.add(
            raw.pos, f"{subject}: an ARRAY input needs 'itemType'; add e.g. `itemType: STRING`"
        )
    return {key: value for key, value in fields.items() if value is not None}


def _choices(raw: PMap, kind: str, subject: str, fields: dict[str, Any], issues: Issues) -> None:
    if kind not in ("SELECT", "ENUM", "MULTISELECT"):
        return
    key = "options" if "options" in raw and "values" not in raw else "values"
    if "options" in raw and "values" in raw:
        issues.add(raw.kpos("options"), f"{subject}: give 'values' or 'options', not both")
    values = check_kind(raw, key, list, subject, issues)
    if isinstance(values, PSeq):
        if not values:
            issues.add(raw.vpos(key), f"{subject}: '{key}' is empty; list the choices")
        for index, item in enumerate(values):
            if isinstance(item, dict | list) or item is None:
                issues.add(values.ipos(index), f"{subject}: choice {describe(item)} must be a text")
        fields["values"] = tuple(
            describe(item) if isinstance(item, bool) else str(item) for item in values
        )
    elif key not in raw and "expression" not in raw:
        issues.add(raw.pos, f"{subject}: a {kind} input needs 'values'; list the choices")


def _bounds(raw: PMap, kind: str, subject: str, fields: dict[str, Any], issues: Issues) -> None:
    probe = InputDef(id="bound", type=kind, pos=raw.pos)
    for key in ("min", "max", "after", "before"):
        if key not in raw:
            continue
        value = plain(raw[key])
        try:
            coerce_input(probe, value)
        except BadInput as exc:
            issues.add(raw.vpos(key), f"{subject}: bad '{key}': {exc}")
            continue
        fields[key] = value if kind != "DURATION" else str(value)
    low, high = fields.get("min"), fields.get("max")
    if kind in ("INT", "FLOAT") and low is not None and high is not None and low > high:
        issues.add(raw.vpos("min"), f"{subject}: 'min' {low} is more than 'max' {high}; swap them")
