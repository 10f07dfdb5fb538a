"""The store's event log and asset inventory as streams of `pyarrow.RecordBatch`es.

Two fixed schemas, documented field by field below (`ASSET_SCHEMA`, `EVENT_SCHEMA`).
Timestamps are `timestamp[us, UTC]`; free-form metadata is a UTF-8 JSON text column whose
field metadata says `assetline.encoding: json` (a JSON column rather than a map, because
metadata values are any JSON value, not only strings). Memory stays bounded by the batch
size: the store is read one page at a time and nothing else is kept.

This module reads through the `ShipStore` protocol only; it writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from shippers.filters import EntryFilter
from shippers.store_api import ShipStore
from store import codec

__all__ = [
    "ASSET_SCHEMA",
    "EVENT_SCHEMA",
    "JSON_FIELDS",
    "JSON_FIELD_METADATA",
    "EventBatch",
    "asset_batches",
    "assets_to_batch",
    "entries_to_batch",
    "event_batches",
    "read_entries",
]

TIMESTAMP: Final = pa.timestamp("us", tz="UTC")
JSON_FIELD_METADATA: Final = {b"assetline.encoding": b"json"}


def _json_field(name: str) -> pa.Field:
    return pa.field(name, pa.utf8(), metadata=JSON_FIELD_METADATA)


#: One row per asset of the inventory.
ASSET_SCHEMA: Final = pa.schema(
    [
        pa.field("id", pa.utf8(), nullable=False),
        pa.field("namespace", pa.utf8()),
        pa.field("type", pa.utf8()),
        pa.field("displayName", pa.utf8()),
        pa.field("description", pa.utf8()),
        _json_field("metadata"),  # a JSON object
        pa.field("created", TIMESTAMP),
        pa.field("updated", TIMESTAMP),
    ]
)

_REF = pa.struct([("id", pa.utf8()), ("namespace", pa.utf8()), ("type", pa.utf8())])
_DECL = pa.struct(
    [
        ("id", pa.utf8()),
        ("namespace", pa.utf8()),
        ("type", pa.utf8()),
        ("displayName", pa.utf8()),
        ("description", pa.utf8()),
        _json_field("metadata"),
    ]
)
_CHANGE = pa.struct(
    [("id", pa.utf8()), ("namespace", pa.utf8()), ("type", pa.utf8()), ("event", pa.utf8())]
)

#: One row per event-log entry. `kind` is `taskrun`, `execution`, `asset_set` or
#: `asset_delete`; task-run columns are null for the other kinds. For an execution,
#: `execution_id`, `flow_namespace`, `flow_id`, `state`, `start`, `end` and `error` are set.
#: For `asset_set`, `outputs` holds the asset written; `changes` lists what every entry did
#: to each asset (CREATED, UPDATED, DELETED, USED).
EVENT_SCHEMA: Final = pa.schema(
    [
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("time", TIMESTAMP),
        pa.field("kind", pa.utf8()),
        pa.field("execution_id", pa.utf8()),
        pa.field("flow_namespace", pa.utf8()),
        pa.field("flow_id", pa.utf8()),
        pa.field("task_id", pa.utf8()),
        pa.field("taskrun_id", pa.utf8()),
        pa.field("attempt", pa.int32()),
        pa.field("state", pa.utf8()),
        pa.field("start", TIMESTAMP),
        pa.field("end", TIMESTAMP),
        pa.field("task_type", pa.utf8()),
        pa.field("value", pa.utf8()),
        pa.field("iteration", pa.int32()),
        pa.field("parent_taskrun_id", pa.utf8()),
        pa.field("error", pa.utf8()),
        pa.field("inputs", pa.list_(_REF)),
        pa.field("outputs", pa.list_(_DECL)),
        pa.field("changes", pa.list_(_CHANGE)),
    ]
)
#: Columns holding JSON text, by path (for writers that turn them back into objects).
JSON_FIELDS: Final = ("metadata", "outputs.metadata")

_json = msgspec.json.Encoder()


def _timestamps(seconds: Sequence[float | None]) -> pa.Array:
    """Seconds since the epoch (floats) to timestamp[us, UTC], rounding to the microsecond."""
    floats = pa.array(seconds, pa.float64())
    micros = pc.round(pc.multiply(floats, 1_000_000.0))
    return micros.cast(pa.int64()).cast(TIMESTAMP)


def _metadata_json(metadata: dict[str, Any] | None) -> str | None:
    if metadata is None:
        return None
    return _json.encode(metadata).decode()


def assets_to_batch(assets: Sequence[codec.Asset]) -> pa.RecordBatch:
    """One record batch of `ASSET_SCHEMA` from asset records."""
    return pa.RecordBatch.from_arrays(
        [
            pa.array([a.id for a in assets], pa.utf8()),
            pa.array([a.namespace for a in assets], pa.utf8()),
            pa.array([a.type for a in assets], pa.utf8()),
            pa.array([a.displayName for a in assets], pa.utf8()),
            pa.array([a.description for a in assets], pa.utf8()),
            pa.array([_json.encode(a.metadata) for a in assets], pa.utf8()),
            _timestamps([a.created for a in assets]),
            _timestamps([a.updated for a in assets]),
        ],
        schema=ASSET_SCHEMA,
    )


def _entry_row(entry: codec.LogEntry) -> dict[str, Any]:
    event = entry.event
    row: dict[str, Any] = {
        "seq": entry.seq,
        "kind": type(event).__struct_config__.tag,
        "changes": [
            {"id": c.id, "namespace": c.namespace, "type": c.type, "event": c.event}
            for c in entry.changes
        ],
    }
    if isinstance(event, codec.TaskRunEvent):
        row.update(
            execution_id=event.execution_id,
            flow_namespace=event.flow_namespace,
            flow_id=event.flow_id,
            task_id=event.task_id,
            taskrun_id=event.taskrun_id,
            attempt=event.attempt,
            state=event.state,
            task_type=event.task_type or None,
            value=event.value,
            iteration=event.iteration,
            parent_taskrun_id=event.parent_taskrun_id,
            error=event.error,
            inputs=[{"id": a.id, "namespace": a.namespace, "type": a.type} for a in event.inputs],
            outputs=[_decl_row(a) for a in event.outputs],
        )
    elif isinstance(event, codec.ExecutionEvent):
        row.update(
            execution_id=event.id,
            flow_namespace=event.namespace,
            flow_id=event.flow_id,
            state=event.state,
            error=event.error,
        )
    elif isinstance(event, codec.AssetSetEvent):
        row.update(
            execution_id=event.execution_id,
            taskrun_id=event.taskrun_id,
            outputs=[_decl_row(event.asset)],
        )
    else:
        row.update(execution_id=event.execution_id, taskrun_id=event.taskrun_id)
    return row


def _decl_row(decl: codec.AssetDecl) -> dict[str, Any]:
    return {
        "id": decl.id,
        "namespace": decl.namespace,
        "type": decl.type,
        "displayName": decl.displayName,
        "description": decl.description,
        "metadata": _metadata_json(decl.metadata),
    }


def _start_end(entry: codec.LogEntry) -> tuple[float | None, float | None]:
    event = entry.event
    if isinstance(event, codec.TaskRunEvent):
        return event.start, event.end
    if isinstance(event, codec.ExecutionEvent):
        return event.start, event.end
    return None, None


def entries_to_batch(entries: Sequence[codec.LogEntry]) -> pa.RecordBatch:
    """One record batch of `EVENT_SCHEMA` from log entries."""
    rows = [_entry_row(e) for e in entries]
    spans = [_start_end(e) for e in entries]
    columns: list[pa.Array] = []
    for schema_field in EVENT_SCHEMA:
        name = schema_field.name
        if name == "time":
            columns.append(_timestamps([e.time for e in entries]))
        elif name == "start":
            columns.append(_timestamps([s for s, _ in spans]))
        elif name == "end":
            columns.append(_timestamps([e for _, e in spans]))
        else:
            columns.append(pa.array([r.get(name) for r in rows], schema_field.type))
    return pa.RecordBatch.from_arrays(columns, schema=EVENT_SCHEMA)


@dataclass(frozen=True)
class EventBatch:
    """Matching log entries as a record batch, and the last sequence read to get them
    (entries the filters dropped included: the offset may move past them)."""

    batch: pa.RecordBatch
    entries: list[codec.LogEntry]
    last_seq: int
    skipped: int


def read_entries(
    store: ShipStore, *, after: int, batch_size: int, entry_filter: EntryFilter | None = None
) -> Iterator[tuple[list[codec.LogEntry], int, int]]:
    """Pages of matching entries after `after`: (entries, last seq read, entries skipped).

    Stops at the end of the log as it was when the page was read; never holds more than one
    page.
    """
    cursor = after
    while True:
        page = store.read_log(after=cursor, limit=batch_size)
        if not page:
            return
        cursor = page[-1].seq
        if entry_filter is None or entry_filter.filters.is_empty():
            yield page, cursor, 0
        else:
            kept = [e for e in page if entry_filter.entry_matches(e)]
            yield kept, cursor, len(page) - len(kept)


def event_batches(
    store: ShipStore,
    *,
    after: int = 0,
    batch_size: int = 10_000,
    entry_filter: EntryFilter | None = None,
) -> Iterator[EventBatch]:
    """The event log after sequence `after` as record batches of `EVENT_SCHEMA`."""
    for entries, last_seq, skipped in read_entries(
        store, after=after, batch_size=batch_size, entry_filter=entry_filter
    ):
        yield EventBatch(entries_to_batch(entries), entries, last_seq, skipped)


def asset_batches(
    store: ShipStore, *, batch_size: int = 10_000, entry_filter: EntryFilter | None = None
) -> Iterator[tuple[pa.RecordBatch, int]]:
    """The inventory as record batches of `ASSET_SCHEMA`, with how many assets each dropped.

    Only the asset filters (namespace, types) apply to the inventory.
    """
    for page in store.iter_assets(batch_size=batch_size):
        if entry_filter is not None and entry_filter.has_asset_filter:
            kept = [a for a in page if entry_filter.asset_record_matches(a)]
            yield assets_to_batch(kept), len(page) - len(kept)
        else:
            yield assets_to_batch(page), 0
