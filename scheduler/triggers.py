"""Trigger declarations of a flow (Kestra's names), validated, and what each one matches.

Three kinds, each a pydantic model that forbids unknown keys:

- `io.kestra.plugin.ee.assets.EventTrigger`: an asset was CREATED, UPDATED, DELETED or USED;
  filtered by `assetId`, `namespace`, `assetType` and `metadataQuery`.
- `io.kestra.plugin.kestra.ee.assets.FreshnessTrigger`: an asset matching the same filters has
  not been updated for `maxStaleness`; checked every `checkInterval`.
- `io.kestra.plugin.core.trigger.Schedule`: a `cron` expression (via croniter).

`flow_triggers(flow)` returns the validated triggers or raises `FlowError` with each problem at
its `file:line:col`; `trigger_issues(flow)` returns the issues (the hook `assetline validate`
can call). Execution ids of triggered runs are derived deterministically (`execution_id_for`),
so a restarted server recognises the runs it already recorded.

Pure: no store, no Ray, no I/O here (the flow's own source text is re-parsed for positions).
"""

from __future__ import annotations

import difflib
import os
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from scheduler.durations import parse_duration
from scheduler.errors import DurationError, FlowError, FlowIssue
from scheduler.flow_model import Flow, Pos
from scheduler.yaml_positions import PMap, PSeq, parse_yaml, pos_at

__all__ = [
    "EVENT_TRIGGER",
    "FRESHNESS_TRIGGER",
    "SCHEDULE_TRIGGER",
    "EventTrigger",
    "FreshnessTrigger",
    "MetadataCondition",
    "ScheduleTrigger",
    "Trigger",
    "asset_payload",
    "execution_id_for",
    "flow_triggers",
    "metadata_matches",
    "trigger_file_issues",
    "trigger_issues",
]

EVENT_TRIGGER = "io.kestra.plugin.ee.assets.EventTrigger"
FRESHNESS_TRIGGER = "io.kestra.plugin.kestra.ee.assets.FreshnessTrigger"
SCHEDULE_TRIGGER = "io.kestra.plugin.core.trigger.Schedule"
#: Other names Kestra accepts for the same triggers.
_ALIASES = {
    "io.kestra.core.models.triggers.types.Schedule": SCHEDULE_TRIGGER,
    "io.kestra.plugin.ee.assets.FreshnessTrigger": FRESHNESS_TRIGGER,
}
AssetEvent = Literal["CREATED", "UPDATED", "DELETED", "USED"]
ASSET_EVENTS: tuple[AssetEvent, ...] = ("CREATED", "UPDATED", "DELETED", "USED")
#: The uuid5 namespace of triggered execution ids.
_ID_SPACE = uuid.UUID("6f1c1f3e-5a59-4c43-9a43-1b8f0c2f7a11")

_MODEL = ConfigDict(frozen=True, extra="forbid")


class MetadataCondition(BaseModel):
    """One `metadataQuery` entry: `field` (dots reach into nested metadata), `type`, `value`."""

    model_config = _MODEL

    field: str
    type: Literal["EQUAL_TO", "NOT_EQUAL_TO", "IS_ONE_OF", "IS_NOT_ONE_OF"] = "EQUAL_TO"
    value: Any = None

    def holds(self, metadata: Mapping[str, Any]) -> bool:
        found, present = _lookup(metadata, self.field)
        if self.type == "EQUAL_TO":
            return present and found == self.value
        if self.type == "NOT_EQUAL_TO":
            return not present or found != self.value
        choices = self.value if isinstance(self.value, list) else [self.value]
        inside = present and found in choices
        return inside if self.type == "IS_ONE_OF" else not inside


def _lookup(metadata: Mapping[str, Any], dotted: str) -> tuple[Any, bool]:
    if dotted in metadata:
        return metadata[dotted], True
    current: Any = metadata
    for part in dotted.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None, False
        current = current[part]
    return current, True


def metadata_matches(query: Sequence[MetadataCondition], metadata: Mapping[str, Any]) -> bool:
    """Whether every condition holds on `metadata` (an empty query always holds)."""
    return all(condition.holds(metadata) for condition in query)


class _TriggerBase(BaseModel):
    """Properties every Kestra trigger has."""

    model_config = _MODEL

    id: str
    type: str
    description: str | None = None
    disabled: bool = False
    conditions: list[dict[str, Any]] = Field(default_factory=list)
    stopAfter: list[str] = Field(default_factory=list)  # noqa: N815 - Kestra's names
    logLevel: str | None = None  # noqa: N815
    logToFile: bool = False  # noqa: N815
    workerGroup: dict[str, Any] | None = None  # noqa: N815
    #: Inputs of the executions this trigger starts (templates see `trigger`).
    inputs: dict[str, Any] = Field(default_factory=dict)


class _AssetFilter(_TriggerBase):
    assetId: str | None = None  # noqa: N815 - Kestra's names
    namespace: str | None = None
    assetType: str | None = None  # noqa: N815
    metadataQuery: list[MetadataCondition] = Field(default_factory=list)  # noqa: N815

    def selects(self, asset_id: str, namespace: str, asset_type: str) -> bool:
        """The filters that need no metadata."""
        return (
            (self.assetId is None or self.assetId == asset_id)
            and (self.namespace is None or self.namespace == namespace)
            and (self.assetType is None or self.assetType == asset_type)
        )


class EventTrigger(_AssetFilter):
    type: Literal["io.kestra.plugin.ee.assets.EventTrigger"]
    events: list[AssetEvent] = Field(default_factory=lambda: list(ASSET_EVENTS), min_length=1)


class FreshnessTrigger(_AssetFilter):
    type: Literal["io.kestra.plugin.kestra.ee.assets.FreshnessTrigger"]
    maxStaleness: str  # noqa: N815 - Kestra's names
    checkInterval: str = "PT1H"  # noqa: N815
    allowConcurrent: bool = False  # noqa: N815
    #: Kestra's API credentials; accepted and unused (assetline reads its own store).
    auth: dict[str, Any] | None = None

    @field_validator("maxStaleness", "checkInterval")
    @classmethod
    def _duration(cls, value: str) -> str:
        try:
            seconds = parse_duration(value)
        except DurationError as exc:
            raise ValueError(str(exc)) from exc
        if seconds <= 0:
            raise ValueError(f"{value!r} must be longer than zero")
        return value

    @property
    def staleness(self) -> float:
        return parse_duration(self.maxStaleness)

    @property
    def interval(self) -> float:
        return parse_duration(self.checkInterval)


class ScheduleTrigger(_TriggerBase):
    type: Literal["io.kestra.plugin.core.trigger.Schedule"]
    cron: str
    timezone: str = "UTC"
    withSeconds: bool = False  # noqa: N815 - Kestra's names
    recoverMissedSchedules: Literal["ALL", "LAST", "NONE"] = "ALL"  # noqa: N815
    backfill: dict[str, Any] | None = None
    lateMaximumDelay: str | None = None  # noqa: N815

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter

        aliases = {"@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "@midnight"}
        if value.strip() not in aliases and not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a cron expression; write it like '0 * * * *'")
        return value

    def times_between(self, after: float, until: float, *, limit: int = 1000) -> list[float]:
        """Schedule times t with after < t <= until (epoch seconds), oldest first."""
        from zoneinfo import ZoneInfo

        from croniter import croniter

        start = datetime.fromtimestamp(after, ZoneInfo(self.timezone))
        expression = self.cron.strip()
        if expression == "@midnight":
            expression = "@daily"
        it = croniter(expression, start)
        found: list[float] = []
        while len(found) < limit:
            moment = float(it.get_next(float))
            if moment > until:
                break
            found.append(moment)
        return found

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name like UTC") from exc
        return value


Trigger = Annotated[EventTrigger | FreshnessTrigger | ScheduleTrigger, Field(discriminator="type")]
_MODELS: dict[str, type[EventTrigger | FreshnessTrigger | ScheduleTrigger]] = {
    EVENT_TRIGGER: EventTrigger,
    FRESHNESS_TRIGGER: FreshnessTrigger,
    SCHEDULE_TRIGGER: ScheduleTrigger,
}


def _positions(flow: Flow) -> tuple[PSeq | None, Pos]:
    """The flow's `triggers:` list as parsed with positions (None when the source is gone)."""
    if not flow.source:
        return None, flow.pos
    root, _ = parse_yaml(flow.source, flow.pos.file)
    if isinstance(root, PMap) and isinstance(root.get("triggers"), PSeq):
        return root["triggers"], root.vpos("triggers")
    return None, flow.pos


def trigger_issues(
    flow: Flow,
) -> tuple[list[EventTrigger | FreshnessTrigger | ScheduleTrigger], list[FlowIssue]]:
    """The flow's valid triggers, and one issue per problem of the others."""
    seq, where = _positions(flow)
    found: list[EventTrigger | FreshnessTrigger | ScheduleTrigger] = []
    issues: list[FlowIssue] = []
    seen: set[str] = set()
    for index, raw in enumerate(flow.triggers):
        node = seq[index] if seq is not None and index < len(seq) else None
        here = seq.ipos(index) if seq is not None and index < len(seq) else where
        label = f"trigger '{raw.get('id', index)}'"
        if "id" in raw and str(raw["id"]) in seen:
            issues.append(FlowIssue(here, f"{label}: the id is used twice; give each its own"))
            continue
        seen.add(str(raw.get("id")))
        kind = _ALIASES.get(str(raw.get("type")), str(raw.get("type")))
        model = _MODELS.get(kind)
        if model is None:
            close = difflib.get_close_matches(kind, [*_MODELS, *_ALIASES], n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else f"use one of {', '.join(_MODELS)}"
            type_pos = node.vpos("type") if isinstance(node, PMap) and "type" in node else here
            issues.append(FlowIssue(type_pos, f"{label}: unknown trigger type '{kind}'; {hint}"))
            continue
        try:
            trigger = model.model_validate({**raw, "type": kind})
        except ValidationError as exc:
            for error in exc.errors():
                loc = tuple(error["loc"])
                pos = pos_at(node, loc, here) if node is not None else here
                field = ".".join(str(step) for step in loc) or "trigger"
                message = error["msg"].removeprefix("Value error, ")
                if error["type"] == "extra_forbidden":
                    message = f"unknown property; {kind} takes {', '.join(model.model_fields)}"
                issues.append(FlowIssue(pos, f"{label}: '{field}': {message}"))
            continue
        found.append(trigger)
    return found, issues


def flow_triggers(flow: Flow) -> list[EventTrigger | FreshnessTrigger | ScheduleTrigger]:
    """The flow's triggers, validated; FlowError lists every problem at its position."""
    found, issues = trigger_issues(flow)
    if issues:
        raise FlowError(sorted(issues, key=lambda issue: (issue.pos.line, issue.pos.col)))
    return found


def execution_id_for(namespace: str, flow_id: str, trigger_id: str, occurrence: str) -> str:
    """The id of the execution `trigger_id` starts for `occurrence` (a log seq, a schedule
    time, an asset's staleness): the same arguments always give the same id."""
    name = f"{namespace}\x00{flow_id}\x00{trigger_id}\x00{occurrence}"
    return uuid.uuid5(_ID_SPACE, name).hex


def asset_payload(
    asset_id: str, namespace: str, asset_type: str, event: str, event_time: float, **extra: Any
) -> dict[str, Any]:
    """One entry of `trigger.assets` (Kestra's shape)."""
    return {
        "id": asset_id,
        "namespace": namespace,
        "type": asset_type,
        "event": event,
        "eventTime": datetime.fromtimestamp(event_time, UTC).isoformat(),
        **extra,
    }


def trigger_file_issues(paths: Sequence[str | os.PathLike[str]]) -> list[FlowIssue]:
    """The trigger issues of every flow file in `paths` that otherwise loads (files that do
    not load are left to `scheduler.loader.validate_files`): the hook for `assetline validate`.
    """
    from scheduler.loader import load_flow

    found: list[FlowIssue] = []
    for path in paths:
        try:
            flow = load_flow(path)
        except FlowError:
            continue
        found.extend(sorted(trigger_issues(flow)[1], key=lambda i: (i.pos.line, i.pos.col)))
    return found
