"""Kestra's `retry:` block (on a task or a flow) to a `RetryPolicy`.

Kestra's retry kinds and their own properties (its `retrys` classes): `constant` (interval),
`exponential` (interval, maxInterval, delayFactor), `random` (minInterval, maxInterval); all take
`maxAttempt` (Kestra's singular name, stored as `maxAttempts`), `maxDuration`, `warningOnRetry`
and `behavior`. Durations are ISO-8601 (`PT30S`) and become seconds.

Pure: no I/O here.
"""

from __future__ import annotations

from typing import Any

from scheduler.durations import parse_duration
from scheduler.errors import DurationError
from scheduler.field_checks import Issues, check_keys, check_kind, describe
from scheduler.flow_model import RetryPolicy
from scheduler.yaml_positions import PMap

__all__ = ["parse_retry"]

_COMMON = ("type", "maxAttempt", "maxDuration", "warningOnRetry", "behavior")
_OWN: dict[str, tuple[str, ...]] = {
    "constant": ("interval",),
    "exponential": ("interval", "maxInterval", "delayFactor"),
    "random": ("minInterval", "maxInterval"),
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "constant": ("interval",),
    "exponential": ("interval", "maxInterval"),
    "random": ("minInterval", "maxInterval"),
}
_DURATIONS = ("interval", "maxInterval", "minInterval", "maxDuration")
_BEHAVIORS = ("RETRY_FAILED_TASK", "CREATE_NEW_EXECUTION")


def parse_retry(value: Any, subject: str, issues: Issues) -> RetryPolicy | None:
    """The policy `value` declares, or None after adding issues (`subject` names the owner)."""
    where = f"{subject}: retry"
    if not isinstance(value, PMap):
        return None
    kind = value.get("type")
    if kind is None:
        issues.add(value.pos, f"{where}: missing 'type'; set it to constant, exponential or random")
        return None
    if kind not in _OWN:
        issues.add(
            value.vpos("type"),
            f"{where}: unknown type {describe(kind)}; use constant, exponential or random",
        )
        return None
    before = len(issues.items)
    check_keys(value, (*_COMMON, *_OWN[kind]), f"{where} ({kind})", issues)
    for key in _REQUIRED[kind]:
        if key not in value:
            issues.add(value.pos, f"{where}: a {kind} retry needs '{key}'; add it (e.g. PT30S)")
    fields: dict[str, Any] = {"type": kind}
    for key in _DURATIONS:
        if key in value:
            try:
                fields[key] = parse_duration(value[key])
            except (DurationError, TypeError) as exc:
                issues.add(value.vpos(key), f"{where}: '{key}': {exc}")
    attempts = check_kind(value, "maxAttempt", int, where, issues)
    if attempts is not None:
        if attempts < 1:
            issues.add(value.vpos("maxAttempt"), f"{where}: 'maxAttempt' must be 1 or more")
        fields["maxAttempts"] = attempts
    factor = check_kind(value, "delayFactor", float, where, issues)
    if factor is not None:
        fields["delayFactor"] = float(factor)
    warning = check_kind(value, "warningOnRetry", bool, where, issues)
    if warning is not None:
        fields["warningOnRetry"] = warning
    behavior = value.get("behavior")
    if behavior is not None:
        if behavior in _BEHAVIORS:
            fields["behavior"] = behavior
        else:
            issues.add(
                value.vpos("behavior"),
                f"{where}: unknown behavior {describe(behavior)}; use one of "
                + ", ".join(_BEHAVIORS),
            )
    if len(issues.items) > before:
        return None
    return RetryPolicy(**fields)
