"""Arrow batches of the event log and the inventory: schema, values, filters, bounded pages."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa

from shippers.batches import ASSET_SCHEMA, EVENT_SCHEMA, asset_batches, event_batches
from shippers.config import ShipFilters
from shippers.filters import EntryFilter
from store import codec
from tests.support.lineage_data import TABLE, asset, task_run
from tests.support.memory_store import MemoryStore


def _store_with_runs(n: int) -> MemoryStore:
    store = MemoryStore()
    for i in range(n):
        store.append(
            task_run(i, flow_id="etl" if i % 2 else "report"),
            changes=[codec.AssetChange(f"clean_{i}", "company.team", TABLE, "CREATED")],
        )
    return store


def test_event_batch_rows_follow_the_schema() -> None:
    store = _store_with_runs(3)
    batches = list(event_batches(store, batch_size=10))
    assert len(batches) == 1
    batch = batches[0].batch
    assert batch.schema == EVENT_SCHEMA
    row = batch.to_pylist()[1]
    assert row["seq"] == 2 and row["kind"] == "taskrun" and row["task_id"] == "load"
    assert row["start"] == datetime.fromtimestamp(1_700_000_001.0, UTC)
    assert row["end"] == datetime.fromtimestamp(1_700_000_001.5, UTC)
    assert [i["id"] for i in row["inputs"]] == ["raw_1", "file_1"]
    assert json.loads(row["outputs"][0]["metadata"]) == {
        "owner": "team:data",
        "rows": 1,
        "database": "dwh",
    }
    assert row["changes"] == [
        {"id": "clean_1", "namespace": "company.team", "type": TABLE, "event": "CREATED"}
    ]


def test_execution_and_asset_entries_fill_their_columns() -> None:
    store = MemoryStore()
    store.append(
        codec.ExecutionEvent(id="e1", namespace="n", flow_id="f", state="RUNNING", start=5.0)
    )
    store.append(codec.AssetSetEvent(asset=codec.AssetDecl(id="a", metadata={"k": None}), time=6.0))
    store.append(codec.AssetDeleteEvent(id="a", time=7.0, execution_id="e1"))
    rows = next(iter(event_batches(store))).batch.to_pylist()
    assert [r["kind"] for r in rows] == ["execution", "asset_set", "asset_delete"]
    assert rows[0]["execution_id"] == "e1" and rows[0]["end"] is None
    assert rows[1]["outputs"][0]["metadata"] == '{"k":null}'
    assert rows[2]["execution_id"] == "e1" and rows[2]["task_id"] is None


def test_pages_are_bounded_by_batch_size() -> None:
    store = _store_with_runs(25)
    pages = list(event_batches(store, after=3, batch_size=10))
    assert [p.batch.num_rows for p in pages] == [10, 10, 2]
    assert [p.last_seq for p in pages] == [13, 23, 25]


def test_filters_drop_entries_but_report_them() -> None:
    store = _store_with_runs(10)
    only_etl = EntryFilter(ShipFilters(flowId="etl"))
    pages = list(event_batches(store, batch_size=4, entry_filter=only_etl))
    assert sum(p.batch.num_rows for p in pages) == 5
    assert sum(p.skipped for p in pages) == 5
    assert pages[-1].last_seq == 10


def test_asset_filters_match_sub_namespaces_and_types() -> None:
    f = EntryFilter(ShipFilters(assetNamespace="company", assetTypes=[TABLE]))
    assert f.asset_matches("company.team", TABLE)
    assert not f.asset_matches("companyx", TABLE)
    assert not f.asset_matches("company", "File")
    execution = codec.LogEntry(
        seq=1,
        time=1.0,
        event=codec.ExecutionEvent(
            id="e", namespace="company", flow_id="f", state="RUNNING", start=1.0
        ),
    )
    assert not f.entry_matches(execution)


def test_asset_batches_follow_the_schema_with_json_metadata() -> None:
    store = MemoryStore()
    for i in range(5):
        store.put_asset(asset(i, namespace="a" if i < 3 else "b"))
    batches = list(asset_batches(store, batch_size=2))
    assert [b.num_rows for b, _ in batches] == [2, 2, 1]
    table = pa.Table.from_batches([b for b, _ in batches])
    assert table.schema == ASSET_SCHEMA
    assert ASSET_SCHEMA.field("metadata").metadata == {b"assetline.encoding": b"json"}
    first = table.to_pylist()[0]
    assert json.loads(first["metadata"]) == {"owner": "team:data", "rows": 0, "tags": ["a", "b"]}
    assert first["updated"] == datetime.fromtimestamp(1_700_000_100.0, UTC)
    kept = list(asset_batches(store, entry_filter=EntryFilter(ShipFilters(assetNamespace="b"))))
    assert [(b.num_rows, skipped) for b, skipped in kept] == [(2, 3)]
