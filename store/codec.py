"""The msgpack schema of everything that reaches the store, versioned and strictly decoded.

Workers and the executor describe what happened as *events* (one of `Event`); the store writer
decodes them, applies them to LMDB and appends a `LogEntry` to the event log. Shippers and
triggers read `LogEntry`s back. Every record is a msgpack map whose `k` field names its kind
and whose `v` field is the schema version that wrote it.

Decoding is strict: an unknown kind, a missing field, a field of the wrong type or a version
newer than `SCHEMA_VERSION` raises `CodecError`. Times are seconds since the epoch (UTC, float).

This module does no I/O and knows nothing of LMDB: it is the contract between the packages.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import msgspec

from store.errors import CodecError

SCHEMA_VERSION: Final = 1

#: Terminal task-run and execution states, and the ones before them (Kestra's names).
State = Literal["CREATED", "RUNNING", "SUCCESS", "WARNING", "FAILED", "KILLED"]
TERMINAL_STATES: Final = frozenset({"SUCCESS", "WARNING", "FAILED", "KILLED"})
#: A task run in one of these states did its work: its output assets are upserted.
PRODUCING_STATES: Final = frozenset({"SUCCESS", "WARNING"})

EXTERNAL_TYPE: Final = "External"

#: What msgspec raises on bytes that are not a valid record: DecodeError, and for a str that is
#: not UTF-8 (inside any record) a plain UnicodeDecodeError.
DECODE_ERRORS: Final = (msgspec.DecodeError, UnicodeDecodeError)

AssetEventKind = Literal["CREATED", "UPDATED", "DELETED", "USED"]


class AssetRef(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """An asset a task run read: identity only (attributes belong to whoever produced it)."""

    id: str
    namespace: str | None = None
    type: str | None = None


class AssetDecl(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """An asset a task run wrote. Omitted fields keep their stored value; in `metadata`, a
    `None` value deletes that key."""

    id: str
    namespace: str | None = None
    type: str | None = None
    displayName: str | None = None  # noqa: N815 - Kestra's field name
    description: str | None = None
    metadata: dict[str, Any] | None = None


class LogLine(msgspec.Struct, frozen=True, array_like=True):
    """One line a task logged, secrets already masked."""

    time: float
    level: str
    message: str


class TaskRunEvent(
    msgspec.Struct, frozen=True, tag="taskrun", tag_field="k", forbid_unknown_fields=True
):
    """A task run reached a terminal state (one attempt of it).

    Idempotency key: (execution_id, taskrun_id, attempt); every asset in `inputs` and
    `outputs` shares it, and the writer applies the whole event at most once.
    """

    execution_id: str
    flow_namespace: str
    flow_id: str
    task_id: str
    taskrun_id: str
    attempt: int
    state: str
    start: float
    end: float
    inputs: list[AssetRef] = []
    outputs: list[AssetDecl] = []
    task_type: str = ""
    value: str | None = None
    iteration: int | None = None
    parent_taskrun_id: str | None = None
    #: The task's rendered properties, secrets masked.
    properties: dict[str, Any] = {}
    #: The task's outputs (what `outputs.<taskId>` exposes), secrets masked.
    result: dict[str, Any] = {}
    logs: list[LogLine] = []
    error: str | None = None
    #: Where it ran (Ray node id or host name), for people and for the cluster tests.
    node: str | None = None
    v: int = SCHEMA_VERSION

    @property
    def idempotency_key(self) -> str:
        return f"{self.execution_id}/{self.taskrun_id}/{self.attempt}"


class ExecutionEvent(
    msgspec.Struct, frozen=True, tag="execution", tag_field="k", forbid_unknown_fields=True
):
    """An execution was created or changed state, or its driver renewed its lease.

    The store keeps the latest record per `id`; the event log gets an entry only when the
    state changes. `heartbeat` is the driver's lease: a RUNNING execution whose heartbeat is
    older than the store's lease timeout is marked KILLED by the next process that opens it.
    """

    id: str
    namespace: str
    flow_id: str
    state: str
    start: float
    end: float | None = None
    heartbeat: float | None = None
    #: Resolved inputs, secrets masked.
    inputs: dict[str, Any] = {}
    labels: dict[str, str] = {}
    flow_revision: int | None = None
    error: str | None = None
    v: int = SCHEMA_VERSION


class AssetSetEvent(
    msgspec.Struct, frozen=True, tag="asset_set", tag_field="k", forbid_unknown_fields=True
):
    """Create or merge-update an asset outside a task run's lineage (Set task, API)."""

    asset: AssetDecl
    time: float
    execution_id: str | None = None
    taskrun_id: str | None = None
    v: int = SCHEMA_VERSION


class AssetDeleteEvent(
    msgspec.Struct, frozen=True, tag="asset_delete", tag_field="k", forbid_unknown_fields=True
):
    """Delete an asset: its record, its index entries and its lineage edges."""

    id: str
    time: float
    execution_id: str | None = None
    taskrun_id: str | None = None
    v: int = SCHEMA_VERSION


Event = TaskRunEvent | ExecutionEvent | AssetSetEvent | AssetDeleteEvent


class Asset(msgspec.Struct, omit_defaults=False, forbid_unknown_fields=True):
    """An asset as the store keeps it (the inventory's row)."""

    id: str
    namespace: str
    type: str
    created: float
    updated: float
    displayName: str | None = None  # noqa: N815 - Kestra's field name
    description: str | None = None
    metadata: dict[str, Any] = {}

    def to_json(self) -> dict[str, Any]:
        """The shape `assets list --json` and `assets()` in templates use."""
        from datetime import UTC, datetime

        return {
            "id": self.id,
            "namespace": self.namespace,
            "type": self.type,
            "displayName": self.displayName,
            "description": self.description,
            "metadata": dict(self.metadata),
            "created": datetime.fromtimestamp(self.created, UTC).isoformat(),
            "updated": datetime.fromtimestamp(self.updated, UTC).isoformat(),
        }


class AssetChange(msgspec.Struct, frozen=True, array_like=True):
    """What one event did to one asset, as triggers see it."""

    id: str
    namespace: str
    type: str
    event: str  # one of AssetEventKind


class LogEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One entry of the append-only event log, keyed by its monotonic `seq`."""

    seq: int
    time: float
    event: Event
    changes: list[AssetChange] = []
    v: int = SCHEMA_VERSION


class Usage(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A task run read (`INPUT`) or wrote (`OUTPUT`) an asset."""

    asset_id: str
    direction: str
    execution_id: str
    flow_namespace: str
    flow_id: str
    task_id: str
    taskrun_id: str
    attempt: int
    state: str
    start: float
    end: float
    value: str | None = None


_encoder = msgspec.msgpack.Encoder()
_event_decoder = msgspec.msgpack.Decoder(Event)
_log_decoder = msgspec.msgpack.Decoder(LogEntry)
_asset_decoder = msgspec.msgpack.Decoder(Asset)
_usage_decoder = msgspec.msgpack.Decoder(Usage)


def encode(obj: msgspec.Struct) -> bytes:
    """Encode any record of this module to msgpack."""
    return _encoder.encode(obj)


def _check_version(v: int, what: str) -> None:
    if v > SCHEMA_VERSION:
        raise CodecError(
            f"{what} was written with schema version {v}, newer than this assetline's "
            f"{SCHEMA_VERSION}; upgrade assetline to read it"
        )


def decode_event(data: bytes) -> Event:
    """Decode one event; raise CodecError on anything that is not a valid event."""
    try:
        event: Event = _event_decoder.decode(data)
    except DECODE_ERRORS as exc:
        raise CodecError(f"not a valid assetline event: {exc}") from exc
    _check_version(event.v, "event")
    return event


def decode_log_entry(data: bytes) -> LogEntry:
    try:
        entry = _log_decoder.decode(data)
    except DECODE_ERRORS as exc:
        raise CodecError(f"not a valid event-log entry: {exc}") from exc
    _check_version(entry.v, "event-log entry")
    return entry


def decode_asset(data: bytes) -> Asset:
    try:
        return _asset_decoder.decode(data)
    except DECODE_ERRORS as exc:
        raise CodecError(f"not a valid asset record: {exc}") from exc


def decode_usage(data: bytes) -> Usage:
    try:
        return _usage_decoder.decode(data)
    except DECODE_ERRORS as exc:
        raise CodecError(f"not a valid usage record: {exc}") from exc
