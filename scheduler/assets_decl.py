"""A task's `assets:` block: the assets it reads (`inputs`) and writes (`outputs`).

Checks Kestra's shape (`inputs: [{id, namespace, type}]`, `outputs: [{id, namespace, type,
displayName, description, metadata}]`, `enableAuto`) and the asset id rule
(`^[a-zA-Z0-9][a-zA-Z0-9._:-]*$`, at most 150 characters) for ids that are not templates.
Templated values are kept raw (rendered per task run) and only their syntax is checked.

Pure: no I/O here.
"""

from __future__ import annotations

import re
from typing import Any

from scheduler.field_checks import (
    Issues,
    check_keys,
    check_kind,
    check_templates,
    describe,
    is_templated,
)
from scheduler.flow_model import AssetsDecl
from scheduler.yaml_positions import PMap, PSeq, plain

__all__ = ["ASSET_ID_MAX", "ASSET_ID_PATTERN", "parse_assets"]

ASSET_ID_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._:-]*$")
ASSET_ID_MAX = 150

_INPUT_KEYS = ("id", "namespace", "type")
_OUTPUT_KEYS = ("id", "namespace", "type", "displayName", "description", "metadata")


def parse_assets(value: Any, subject: str, issues: Issues) -> AssetsDecl | None:
    """The declaration in `value` (a mapping), or None after adding issues."""
    if not isinstance(value, PMap):
        return None
    before = len(issues.items)
    check_keys(value, ("inputs", "outputs", "enableAuto"), f"{subject}: assets", issues)
    enable_auto = check_kind(value, "enableAuto", bool, f"{subject}: assets", issues)
    inputs = _entries(value, "inputs", _INPUT_KEYS, subject, issues)
    outputs = _entries(value, "outputs", _OUTPUT_KEYS, subject, issues)
    if len(issues.items) > before:
        return None
    return AssetsDecl(inputs=tuple(inputs), outputs=tuple(outputs), enableAuto=enable_auto)


def _entries(
    block: PMap, key: str, allowed: tuple[str, ...], subject: str, issues: Issues
) -> list[dict[str, Any]]:
    entries = check_kind(block, key, list, f"{subject}: assets", issues)
    found: list[dict[str, Any]] = []
    if not isinstance(entries, PSeq):
        return found
    for index, entry in enumerate(entries):
        where = f"{subject}: assets.{key}[{index}]"
        if not isinstance(entry, PMap):
            issues.add(
                entries.ipos(index),
                f"{where}: must be a mapping with an 'id'; got {describe(entry)}",
            )
            continue
        check_keys(entry, allowed, where, issues)
        if "id" not in entry:
            issues.add(entry.pos, f"{where}: missing 'id'; name the asset with `id: <asset id>`")
        for name in allowed:
            expected: type = dict if name == "metadata" else str
            check_kind(entry, name, expected, where, issues)
        asset_id = entry.get("id")
        if isinstance(asset_id, str) and not is_templated(asset_id):
            _check_asset_id(asset_id, entry, where, issues)
        for name in entry:
            check_templates(entry[name], entry.vpos(name), f"{where}: ", name, issues)
        found.append(plain(entry))
    return found


def _check_asset_id(asset_id: str, entry: PMap, where: str, issues: Issues) -> None:
    if len(asset_id) > ASSET_ID_MAX:
        issues.add(
            entry.vpos("id"),
            f"{where}: asset id is {len(asset_id)} characters long; shorten it to at most "
            f"{ASSET_ID_MAX}",
        )
    elif not ASSET_ID_PATTERN.match(asset_id):
        issues.add(
            entry.vpos("id"),
            f"{where}: invalid asset id {asset_id!r}; use letters, digits and . _ : - "
            "(starting with a letter or digit)",
        )
