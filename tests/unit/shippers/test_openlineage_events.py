"""OpenLineage events built from log entries: shapes, facets, naming, and schema validity."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from openlineage.client.constants import __version__ as OPENLINEAGE_CLIENT_VERSION  # noqa: N812
from openlineage.client.event_v2 import (
    DatasetEvent,
    InputDataset,
    Job,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
    StaticDataset,
)
from openlineage.client.facet_v2 import (
    dataset_type_dataset,
    documentation_dataset,
    error_message_run,
    job_type_job,
    ownership_dataset,
    parent_run,
    processing_engine_run,
)
from openlineage.client.serde import Serde

from shippers.config import DatasetMapping, ShipFilters
from shippers.filters import EntryFilter
from shippers.naming import AssetView, DatasetNamer
from shippers.openlineage_events import (
    ASSETLINE_VERSION,
    PRODUCER,
    AssetlineMetadataDatasetFacet,
    EventBuilder,
    OutgoingEvent,
    execution_run_id,
    task_run_id,
    terminal_event_type,
)
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


# -- the wire form equals what the openlineage-python models serialise to ------------------
#
# The builder writes events straight as dicts. The reference below builds the same events
# with the library's models and serialises them with the library's own `Serde.to_dict`:
# every field, facet and schema URL must match, for every kind of entry.


def _model_facets(builder: EventBuilder, view: AssetView) -> dict[str, Any]:
    facets: dict[str, Any] = {}
    if view.description:
        facets["documentation"] = documentation_dataset.DocumentationDatasetFacet(
            description=view.description, producer=PRODUCER
        )
    metadata = dict(view.metadata or {})
    owner = metadata.get("owner")
    if owner:
        names = owner if isinstance(owner, list) else [owner]
        facets["ownership"] = ownership_dataset.OwnershipDatasetFacet(
            owners=[ownership_dataset.Owner(name=str(n)) for n in names if n], producer=PRODUCER
        )
    facets["datasetType"] = dataset_type_dataset.DatasetTypeDatasetFacet(
        datasetType=builder.namer.dataset_type(view.type), producer=PRODUCER
    )
    facets["assetline_metadata"] = AssetlineMetadataDatasetFacet(
        assetId=view.id,
        metadata=metadata,
        assetType=view.type,
        assetNamespace=view.namespace,
        displayName=view.displayName,
        producer=PRODUCER,
    )
    return facets


def _model_view(
    builder: EventBuilder,
    asset_id: str,
    decl: codec.AssetDecl | None,
    ref: codec.AssetRef | None,
) -> AssetView:
    stored = builder.lookup(asset_id)
    if stored is not None:
        return AssetView(
            stored.id,
            stored.namespace,
            stored.type,
            stored.displayName,
            stored.description,
            stored.metadata,
        )
    if ref is not None:
        return AssetView(ref.id, ref.namespace, ref.type)
    assert decl is not None
    metadata = {k: v for k, v in (decl.metadata or {}).items() if v is not None}
    return AssetView(
        decl.id, decl.namespace, decl.type, decl.displayName, decl.description, metadata
    )


def _model_events(builder: EventBuilder, event: codec.Event) -> list[dict[str, Any]]:
    """The reference: openlineage-python models, serialised by `Serde.to_dict`."""
    engine = processing_engine_run.ProcessingEngineRunFacet(
        version=ASSETLINE_VERSION,
        name="assetline",
        openlineageAdapterVersion=OPENLINEAGE_CLIENT_VERSION,
        producer=PRODUCER,
    )

    def job_type(kind: str) -> job_type_job.JobTypeJobFacet:
        return job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration="ASSETLINE", jobType=kind, producer=PRODUCER
        )

    def error(message: str) -> error_message_run.ErrorMessageRunFacet:
        return error_message_run.ErrorMessageRunFacet(
            message=message, programmingLanguage="python", producer=PRODUCER
        )

    def iso(seconds: float) -> str:
        return datetime.fromtimestamp(seconds, UTC).isoformat()

    keep = builder.filter.asset_matches if builder.filter is not None else (lambda _n, _t: True)
    if isinstance(event, codec.ExecutionEvent):
        if not builder.emit_executions:
            return []
        facets: dict[str, Any] = {"processing_engine": engine}
        if event.state == "RUNNING":
            state, when = RunState.START, event.start
        else:
            terminal = terminal_event_type(event.state)
            if terminal is None:
                return []
            state, when = terminal, event.end if event.end is not None else event.start
            if terminal is RunState.FAIL and event.error:
                facets["errorMessage"] = error(event.error)
        run_event = RunEvent(
            eventType=state,
            eventTime=iso(when),
            run=Run(runId=execution_run_id(event.id), facets=facets),
            job=Job(
                namespace=event.namespace, name=event.flow_id, facets={"jobType": job_type("DAG")}
            ),
            producer=PRODUCER,
        )
        return [Serde.to_dict(run_event)]
    assert isinstance(event, codec.TaskRunEvent)
    terminal = terminal_event_type(event.state)
    if terminal is None:
        return []
    ns = event.flow_namespace
    inputs = []
    for ref in event.inputs:
        view = _model_view(builder, ref.id, None, ref)
        if keep(view.namespace, view.type):
            namespace, name = builder.namer.name(view, ns)
            facets_ = _model_facets(builder, view)
            inputs.append(InputDataset(namespace=namespace, name=name, facets=facets_))
    outputs = []
    for decl in event.outputs:
        view = _model_view(builder, decl.id, decl, None)
        if keep(view.namespace, view.type):
            namespace, name = builder.namer.name(view, ns)
            facets_ = _model_facets(builder, view)
            outputs.append(OutputDataset(namespace=namespace, name=name, facets=facets_))
    run_facets: dict[str, Any] = {
        "parent": parent_run.ParentRunFacet(
            run=parent_run.Run(runId=execution_run_id(event.execution_id)),
            job=parent_run.Job(namespace=ns, name=event.flow_id),
            producer=PRODUCER,
        ),
        "processing_engine": engine,
    }
    end_facets = dict(run_facets)
    if terminal is RunState.FAIL and event.error:
        end_facets["errorMessage"] = error(event.error)
    job = Job(
        namespace=ns, name=f"{event.flow_id}.{event.task_id}", facets={"jobType": job_type("TASK")}
    )
    return [
        Serde.to_dict(
            RunEvent(
                eventType=state,
                eventTime=iso(when),
                run=Run(runId=task_run_id(event), facets=f),
                job=job,
                inputs=inputs,
                outputs=outputs,
                producer=PRODUCER,
            )
        )
        for state, when, f in (
            (RunState.START, event.start, run_facets),
            (terminal, event.end, end_facets),
        )
    ]


_ODD = codec.Asset(
    id="odd",
    namespace="company.team",
    type=TABLE,
    created=1.0,
    updated=2.0,
    displayName="Odd one",
    description="",
    metadata={"owner": ["a", None, ""], "nested": {"x": None, "y": [1, None, {}, "z"]}},
)


def _reference_entries() -> list[codec.Event]:
    events: list[codec.Event] = []
    for n, state in enumerate(["SUCCESS", "WARNING", "FAILED", "KILLED", "RUNNING"]):
        events.append(task_run(n, state=state))
    odd = task_run(7)
    events.append(
        codec.TaskRunEvent(
            **{
                **_fields(odd),
                "inputs": [
                    codec.AssetRef(id="odd", namespace="x", type=TABLE),
                    codec.AssetRef(id="unknown"),  # no namespace, no type, not stored
                ],
                "outputs": [
                    codec.AssetDecl(id="new", type=FILE, metadata={"path": "/p", "gone": None})
                ],
            }
        )
    )
    for state in ("RUNNING", "SUCCESS", "FAILED", "KILLED", "CREATED"):
        for end in (None, 20.0):
            events.append(
                codec.ExecutionEvent(
                    id="exec0",
                    namespace="company.team",
                    flow_id="etl",
                    state=state,
                    start=10.0,
                    end=end,
                    error="boom" if state == "FAILED" else None,
                )
            )
    return events


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"emit_executions": False},
        {"entry_filter": EntryFilter(ShipFilters(assetTypes=[FILE]))},
        {
            "mappings": {
                TABLE: DatasetMapping(namespace="postgres://{metadata.database}", name="{id}")
            }
        },
    ],
    ids=["defaults", "no-executions", "asset-filter", "mappings"],
)
def test_events_equal_what_the_openlineage_models_serialise_to(kwargs: dict[str, Any]) -> None:
    stored = {**STORED, "odd": _ODD}
    builder = EventBuilder(DatasetNamer(kwargs.pop("mappings", None)), stored.get, **kwargs)
    compared = 0
    for event in _reference_entries():
        built = builder.for_entry(codec.LogEntry(seq=5, time=1.0, event=event))
        expected = _model_events(builder, event)
        assert [o.payload for o in built] == expected
        for payload in expected:
            _valid(payload)
        compared += len(expected)
    assert compared >= 10
    for asset in (STORED["raw_1"], _ODD):
        view = AssetView(
            asset.id,
            asset.namespace,
            asset.type,
            asset.displayName,
            asset.description,
            asset.metadata,
        )
        namespace, name = builder.namer.name(view, None)
        reference = DatasetEvent(
            eventTime=datetime.fromtimestamp(asset.updated, UTC).isoformat(),
            dataset=StaticDataset(
                namespace=namespace, name=name, facets=_model_facets(builder, view)
            ),
            producer=PRODUCER,
        )
        assert _valid(builder.dataset_event(asset).payload) == Serde.to_dict(reference)


def test_an_event_is_kept_as_its_json_bytes() -> None:
    start, end = _builder().task_run_events(3, task_run(1, state="FAILED"))
    assert isinstance(end.body, bytes)
    assert json.loads(end.body) == end.payload
    assert end.payload is not end.payload  # decoded afresh: callers cannot alter the event
    again = OutgoingEvent.of(end.seq, end.payload, end.key)
    assert again == end
    assert (start.seq, start.key.endswith("/START"), end.key.endswith("/FAIL")) == (3, True, True)
