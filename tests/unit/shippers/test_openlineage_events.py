"""OpenLineage events built from log entries: shapes, facets, naming, and schema validity."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from shippers.config import DatasetMapping, ShipFilters
from shippers.filters import EntryFilter
from shippers.naming import AssetView, DatasetNamer
from shippers.openlineage_events import EventBuilder, execution_run_id, task_run_id
from store import codec
from tests.support.lineage_data import FILE, TABLE, task_run
from tests.support.openlineage_schemas import OpenLineageValidator

VALIDATOR = OpenLineageValidator()
STORED = {
    "raw_1": codec.Asset(
        id="raw_1",
        namespace="company.team",
        type=TABLE,
        created=1.0,
        updated=2.0,
        description="raw rows",
        metadata={"owner": ["team:data", "user:ann"], "database": "dwh"},
    )
}


def _builder(**kwargs: Any) -> EventBuilder:
    return EventBuilder(DatasetNamer(kwargs.pop("mappings", None)), STORED.get, **kwargs)


def _valid(payload: dict[str, Any]) -> dict[str, Any]:
    assert VALIDATOR.errors(payload) == []
    return payload


@pytest.mark.parametrize(
    ("state", "terminal"),
    [("SUCCESS", "COMPLETE"), ("WARNING", "COMPLETE"), ("FAILED", "FAIL"), ("KILLED", "ABORT")],
)
def test_a_task_run_becomes_start_and_terminal(state: str, terminal: str) -> None:
    event = task_run(1, state=state)
    start, end = (_valid(o.payload) for o in _builder().task_run_events(9, event))
    assert (start["eventType"], end["eventType"]) == ("START", terminal)
    assert start["eventTime"] == "2023-11-14T22:13:21+00:00"
    assert end["eventTime"] == "2023-11-14T22:13:21.500000+00:00"
    assert start["run"]["runId"] == end["run"]["runId"] == task_run_id(event)
    assert end["job"] == start["job"]
    assert end["job"]["namespace"] == "company.team" and end["job"]["name"] == "etl.load"
    job_type = end["job"]["facets"]["jobType"]
    assert (job_type["processingType"], job_type["integration"], job_type["jobType"]) == (
        "BATCH",
        "ASSETLINE",
        "TASK",
    )
    parent = end["run"]["facets"]["parent"]
    assert parent["run"]["runId"] == execution_run_id("exec0")
    assert parent["job"] == {"namespace": "company.team", "name": "etl", "facets": {}}
    assert end["run"]["facets"]["processing_engine"]["name"] == "assetline"
    assert ("errorMessage" in end["run"]["facets"]) == (state == "FAILED")
    assert "errorMessage" not in start["run"]["facets"]


def test_run_ids_are_deterministic_uuid5_per_attempt() -> None:
    first = task_run_id(task_run(1))
    assert first == task_run_id(task_run(1))
    assert uuid.UUID(first).version == 5
    retried = codec.TaskRunEvent(**{**_fields(task_run(1)), "attempt": 2})
    assert task_run_id(retried) != first


def _fields(event: codec.TaskRunEvent) -> dict[str, Any]:
    return {f: getattr(event, f) for f in event.__struct_fields__ if f != "v"}


def test_dataset_facets_from_the_stored_asset() -> None:
    _, end = _builder().task_run_events(1, task_run(1))
    raw = _valid(end.payload)["inputs"][0]
    assert (raw["namespace"], raw["name"]) == ("company.team", "raw_1")
    facets = raw["facets"]
    assert facets["documentation"]["description"] == "raw rows"
    assert [o["name"] for o in facets["ownership"]["owners"]] == ["team:data", "user:ann"]
    assert facets["datasetType"]["datasetType"] == "TABLE"
    assert facets["assetline_metadata"]["metadata"] == {
        "owner": ["team:data", "user:ann"],
        "database": "dwh",
    }
    file_input = end.payload["inputs"][1]
    assert (file_input["namespace"], file_input["name"]) == ("file", "file_1")
    assert "ownership" not in file_input["facets"]
    output = end.payload["outputs"][0]
    assert output["facets"]["ownership"]["owners"] == [{"name": "team:data"}]


def test_mappings_name_datasets_by_type_and_fall_back_when_a_key_is_missing() -> None:
    namer = DatasetNamer(
        {
            TABLE: DatasetMapping(namespace="postgres://{metadata.host}:5432", name="database.id"),
            FILE: DatasetMapping(namespace="hdfs://cluster", name="{metadata.path}"),
        }
    )
    table = AssetView("orders", "ns", TABLE, metadata={"host": "db", "database": "dwh"})
    assert namer.name(table, "flow.ns") == ("postgres://db:5432", "dwh.orders")
    no_host = AssetView("orders", "ns", TABLE, metadata={})
    assert namer.name(no_host, "flow.ns") == ("ns", "orders")
    assert namer.name(AssetView("f", None, FILE, metadata={"path": "/a/b"}), None) == (
        "hdfs://cluster",
        "/a/b",
    )


def test_default_names_for_buckets_files_and_the_rest() -> None:
    namer = DatasetNamer()
    bucket = AssetView(
        "b", "ns", "io.kestra.plugin.ee.assets.Bucket", metadata={"bucket": "lake", "key": "raw/"}
    )
    assert namer.name(bucket, "x") == ("s3://lake", "raw/")
    assert namer.name(AssetView("b2", None, "S3Bucket"), "x") == ("s3://b2", "/")
    assert namer.name(AssetView("f", None, FILE, metadata={"path": "/data/x.csv"}), "x") == (
        "file",
        "/data/x.csv",
    )
    assert namer.name(AssetView("t", None, TABLE), "flow.ns") == ("flow.ns", "t")


def test_asset_filter_keeps_only_matching_datasets() -> None:
    builder = _builder(entry_filter=EntryFilter(ShipFilters(assetTypes=[FILE])))
    _, end = builder.task_run_events(1, task_run(1))
    assert [d["name"] for d in end.payload["inputs"]] == ["file_1"]
    assert end.payload["outputs"] == []


def test_execution_runs_are_parents_with_dag_job_type() -> None:
    builder = _builder()
    running = codec.ExecutionEvent(
        id="exec0", namespace="company.team", flow_id="etl", state="RUNNING", start=10.0
    )
    failed = codec.ExecutionEvent(
        id="exec0",
        namespace="company.team",
        flow_id="etl",
        state="FAILED",
        start=10.0,
        end=20.0,
        error="x",
    )
    (start,) = builder.execution_events(1, running)
    (end,) = builder.execution_events(2, failed)
    assert _valid(start.payload)["eventType"] == "START"
    assert _valid(end.payload)["eventType"] == "FAIL"
    assert end.payload["run"]["runId"] == execution_run_id("exec0")
    assert end.payload["job"]["facets"]["jobType"]["jobType"] == "DAG"
    created = codec.ExecutionEvent(id="e", namespace="n", flow_id="f", state="CREATED", start=1.0)
    assert builder.execution_events(3, created) == []
    assert (
        _builder(emit_executions=False).for_entry(codec.LogEntry(seq=1, time=1.0, event=running))
        == []
    )


def test_dataset_event_for_an_inventory_asset() -> None:
    event = _builder().dataset_event(STORED["raw_1"])
    payload = _valid(event.payload)
    assert payload["dataset"]["name"] == "raw_1"
    assert payload["schemaURL"].endswith("#/$defs/DatasetEvent")
    assert event.key == "company.team/raw_1"


def test_the_validator_rejects_a_bad_facet() -> None:
    _, end = _builder().task_run_events(1, task_run(1))
    broken = dict(end.payload)
    broken["job"] = {
        **end.payload["job"],
        "facets": {"jobType": {"_producer": "x", "_schemaURL": "y"}},
    }
    assert any("processingType" in e for e in VALIDATOR.errors(broken))
