"""Kestra's `pluginDefaults` (and the deprecated `taskDefaults`): default property values by type.

An entry `{type, values, forced}` applies to every task whose written type or canonical kind
starts with `type`. Its `values` deep-merge into the task: the task's own value wins, unless the
entry is `forced`. When several entries match, the one written first wins. Only keys the task's
kind accepts are applied to it; a key that no matched kind accepts is reported at the entry (a
typo must not pass silently), and so is an entry whose `type` matches no known type at all.

Pure: no I/O here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scheduler.field_checks import Issues, check_keys, check_kind, describe, did_you_mean
from scheduler.flow_model import Pos
from scheduler.task_types import KindInfo
from scheduler.yaml_positions import PMap, PSeq

__all__ = ["DefaultEntry", "apply_defaults", "parse_plugin_defaults", "report_defaults"]


@dataclass
class DefaultEntry:
    """One parsed pluginDefaults entry, plus what it matched while tasks were loaded."""

    type: str
    values: PMap
    forced: bool
    where: str
    type_pos: Pos
    matched: list[KindInfo] = field(default_factory=list)


def parse_plugin_defaults(value: Any, key: str, issues: Issues) -> list[DefaultEntry]:
    """The entries of a `pluginDefaults` (or `taskDefaults`) list."""
    if not isinstance(value, PSeq):
        return []
    entries: list[DefaultEntry] = []
    for index, raw in enumerate(value):
        where = f"{key}[{index}]"
        if not isinstance(raw, PMap):
            issues.add(
                value.ipos(index),
                f"{where}: must be a mapping with 'type' and 'values'; got {describe(raw)}",
            )
            continue
        check_keys(raw, ("type", "values", "forced"), where, issues)
        type_name = check_kind(raw, "type", str, where, issues)
        if "type" not in raw:
            issues.add(raw.pos, f"{where}: missing 'type'; name the task type (or a prefix of it)")
        values = check_kind(raw, "values", dict, where, issues)
        forced = check_kind(raw, "forced", bool, where, issues)
        if type_name is None:
            continue
        entries.append(
            DefaultEntry(
                type_name,
                values if isinstance(values, PMap) else PMap(raw.pos),
                bool(forced),
                where,
                raw.vpos("type"),
            )
        )
    return entries


def _merge(low: Any, high: Any) -> Any:
    """`high` over `low`, recursing into mappings present in both; positions follow values."""
    if not (isinstance(low, PMap) and isinstance(high, PMap)):
        return high
    merged = PMap(high.pos)
    for key, value in low.items():
        merged.put(key, value, low.kpos(key), low.vpos(key))
    for key, value in high.items():
        merged.put(key, _merge(low.get(key), value), high.kpos(key), high.vpos(key))
    return merged


def apply_defaults(
    entries: list[DefaultEntry], task: PMap, written_type: str, info: KindInfo
) -> PMap:
    """`task` with the values of every matching entry merged in (only keys `info` accepts)."""
    result = task
    for entry in entries:
        if not (written_type.startswith(entry.type) or info.kind.startswith(entry.type)):
            continue
        if info not in entry.matched:
            entry.matched.append(info)
        values = PMap(entry.values.pos)
        for key, value in entry.values.items():
            if key in info.accepted and key not in ("id", "type"):
                values.put(key, value, entry.values.kpos(key), entry.values.vpos(key))
        result = _merge(result, values) if entry.forced else _merge(values, result)
    return result


def report_defaults(
    entries: list[DefaultEntry],
    known_names: list[str],
    lookup: Callable[[str], KindInfo | None],
    trigger_types: list[str],
    issues: Issues,
) -> None:
    """Issues for entries matching no known type, and for keys no matched kind accepts.

    An entry that matched no task of the flow is checked against the known types its `type`
    prefixes; one that only matches triggers of the flow is left alone.
    """
    for entry in entries:
        kinds = list(entry.matched)
        if not kinds:
            for name in known_names:
                if name.startswith(entry.type):
                    info = lookup(name)
                    if info is not None and info not in kinds:
                        kinds.append(info)
        if not kinds:
            if any(trigger.startswith(entry.type) for trigger in trigger_types):
                continue
            guess = did_you_mean(entry.type, known_names)
            hint = f"did you mean '{guess}'?" if guess else "check the type name"
            issues.add(
                entry.type_pos,
                f"{entry.where}: type '{entry.type}' matches no known task type; {hint}",
            )
            continue
        accepted = set().union(*(info.accepted for info in kinds)) - {"id", "type"}
        for key in entry.values:
            if key in accepted:
                continue
            guess = did_you_mean(key, accepted)
            hint = f"did you mean '{guess}'?" if guess else "remove it"
            issues.add(
                entry.values.kpos(key),
                f"{entry.where}: '{key}' is not a property of any task type matching "
                f"'{entry.type}'; {hint}",
            )
