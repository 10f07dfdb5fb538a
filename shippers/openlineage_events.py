"""Build OpenLineage events from event-log entries and assets, straight into their wire form
(plain dicts for a JSON encoder), with the constants of the openlineage-python models.

- A task run arrives as ONE log entry (its terminal `TaskRunEvent`, which has start and end):
  it becomes a START event (eventTime = start) and a terminal one (eventTime = end):
  SUCCESS and WARNING -> COMPLETE, FAILED -> FAIL, KILLED -> ABORT. Both carry the task run's
  input and output datasets. Job: namespace = flow namespace, name = `<flowId>.<taskId>`.
  Run id: uuid5 of the attempt (`execution/taskrun/attempt`), so a resend has the same id.
  Run facets: `parent` (the execution's run: job `<flowId>` in the flow namespace),
  `processing_engine` (assetline and its version; DataHub needs it), `errorMessage` on FAIL.
  Job facet: `jobType` (BATCH, ASSETLINE, TASK).
- An execution's own run (the tasks' parent) is sent too, from its state changes in the log:
  RUNNING -> START, terminal -> COMPLETE/FAIL/ABORT, job `<flowId>`, jobType `DAG`. This gives
  backends (Marquez) a parent run to attach task runs to.
- Datasets: named by `shippers.naming`; facets `documentation` (description),
  `ownership` (when metadata has `owner`: a string or a list), `datasetType` and the custom
  `assetline_metadata` (id, type, namespace, displayName, metadata; schema in
  `shippers.facet_schema`). Attributes come from the store's current record of the asset
  when there is one (the log entry only carries what the task declared).
- `dataset_event` makes a DatasetEvent of an inventory asset.

Pure: no I/O besides the `lookup` callable given to `EventBuilder`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from typing import Any, ClassVar, Final

import attr
import msgspec
from openlineage.client.constants import __version__ as OPENLINEAGE_CLIENT_VERSION  # noqa: N812
from openlineage.client.event_v2 import DatasetEvent, RunEvent, RunState
from openlineage.client.facet_v2 import (
    DatasetFacet,
    dataset_type_dataset,
    documentation_dataset,
    error_message_run,
    job_type_job,
    ownership_dataset,
    parent_run,
    processing_engine_run,
)

from shippers.facet_schema import ASSETLINE_FACET_SCHEMA_URL
from shippers.filters import EntryFilter
from shippers.naming import AssetView, DatasetNamer
from shippers.wire import to_wire
from store import codec

__all__ = [
    "ASSETLINE_RUN_NAMESPACE",
    "PRODUCER",
    "AssetlineMetadataDatasetFacet",
    "EventBuilder",
    "OutgoingEvent",
    "execution_run_id",
    "task_run_id",
    "terminal_event_type",
]


def _assetline_version() -> str:
    try:
        return importlib_metadata.version("assetline")
    except importlib_metadata.PackageNotFoundError:
        return "0.0.0"


ASSETLINE_VERSION: Final = _assetline_version()
PRODUCER: Final = f"https://github.com/assetline/assetline/tree/{ASSETLINE_VERSION}"
#: uuid5 namespace of every run id assetline derives.
ASSETLINE_RUN_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "https://assetline.dev/runs")

_TERMINAL: Final = {
    "SUCCESS": RunState.COMPLETE,
    "WARNING": RunState.COMPLETE,
    "FAILED": RunState.FAIL,
    "KILLED": RunState.ABORT,
}


def terminal_event_type(state: str) -> RunState | None:
    """The OpenLineage terminal event type of a terminal assetline state, else None."""
    return _TERMINAL.get(state)


def task_run_id(event: codec.TaskRunEvent) -> str:
    """The deterministic OpenLineage run id of one attempt of a task run."""
    name = f"taskrun/{event.execution_id}/{event.taskrun_id}/{event.attempt}"
    return str(uuid.uuid5(ASSETLINE_RUN_NAMESPACE, name))


def execution_run_id(execution_id: str) -> str:
    """The deterministic OpenLineage run id of an execution."""
    return str(uuid.uuid5(ASSETLINE_RUN_NAMESPACE, f"execution/{execution_id}"))


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


@attr.define
class AssetlineMetadataDatasetFacet(DatasetFacet):
    """assetline's custom dataset facet: the asset as assetline knows it."""

    assetId: str  # noqa: N815 - OpenLineage's camelCase
    metadata: dict[str, Any] = attr.field(factory=dict)
    assetType: str | None = attr.field(default=None)  # noqa: N815
    assetNamespace: str | None = attr.field(default=None)  # noqa: N815
    displayName: str | None = attr.field(default=None)  # noqa: N815

    @staticmethod
    def _get_schema() -> str:
        return ASSETLINE_FACET_SCHEMA_URL


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(dict[str, Any])


@dataclass(frozen=True, slots=True)
class OutgoingEvent:
    """One OpenLineage event, serialised to JSON as it goes on the wire, with what identifies
    it. Events are kept as bytes, not dicts, from the moment they are built: a shipper holds
    thousands in flight, and as dicts they kept the garbage collector busy (a third of the
    CPU time); a batch request is then the events' bytes joined, with no second encoding."""

    seq: int
    body: bytes
    #: `runId/eventType` for run events, `namespace/name` for dataset events.
    key: str

    @classmethod
    def of(cls, seq: int, payload: Mapping[str, Any], key: str) -> OutgoingEvent:
        """An event from its JSON-ready dict."""
        return cls(seq, _encoder.encode(payload), key)

    @property
    def payload(self) -> dict[str, Any]:
        """The event as a dict, decoded from `body` (a new one each time)."""
        return _decoder.decode(self.body)


def _head(facet: type[Any]) -> dict[str, str]:
    """The `_producer` and `_schemaURL` every facet of this model class starts with."""
    return {"_producer": PRODUCER, "_schemaURL": facet._get_schema()}


_Json = dict[str, Any]


class EventBuilder:
    """Turns log entries and assets into serialised OpenLineage events.

    The events are built straight into their wire form (dicts ready for a JSON encoder), in
    one pass: building the openlineage-python models first and serialising them cost 80% of
    a shipper's time. The models stay the reference: the constant parts (schema URLs, the
    processing-engine and job-type facets, the events' `schemaURL`) are taken from them here,
    and the tests check that every event equals what the models serialise to and validates
    against the official JSON schemas.
    """

    KINDS: ClassVar[tuple[str, ...]] = ("RunEvent", "DatasetEvent")

    def __init__(
        self,
        namer: DatasetNamer,
        lookup: Callable[[str], codec.Asset | None],
        *,
        entry_filter: EntryFilter | None = None,
        emit_executions: bool = True,
    ) -> None:
        self.namer = namer
        self.lookup = lookup
        self.filter = entry_filter
        self.emit_executions = emit_executions
        self._engine: _Json = to_wire(
            processing_engine_run.ProcessingEngineRunFacet(
                version=ASSETLINE_VERSION,
                name="assetline",
                openlineageAdapterVersion=OPENLINEAGE_CLIENT_VERSION,
                producer=PRODUCER,
            )
        )
        self._job_facets: dict[str, _Json] = {
            kind: {
                "jobType": to_wire(
                    job_type_job.JobTypeJobFacet(
                        processingType="BATCH",
                        integration="ASSETLINE",
                        jobType=kind,
                        producer=PRODUCER,
                    )
                )
            }
            for kind in ("TASK", "DAG")
        }
        self._run_event_schema = RunEvent._get_schema()
        self._dataset_event_schema = DatasetEvent._get_schema()
        self._documentation = _head(documentation_dataset.DocumentationDatasetFacet)
        self._ownership = _head(ownership_dataset.OwnershipDatasetFacet)
        self._dataset_type = _head(dataset_type_dataset.DatasetTypeDatasetFacet)
        self._assetline = _head(AssetlineMetadataDatasetFacet)
        self._parent = _head(parent_run.ParentRunFacet)
        self._error_message = _head(error_message_run.ErrorMessageRunFacet)

    # -- datasets ------------------------------------------------------------------------

    def _view(self, asset_id: str, namespace: str | None, type_: str | None) -> AssetView:
        stored = self.lookup(asset_id)
        if stored is not None:
            return AssetView(
                stored.id,
                stored.namespace,
                stored.type,
                stored.displayName,
                stored.description,
                stored.metadata,
            )
        return AssetView(asset_id, namespace, type_)

    def _decl_view(self, decl: codec.AssetDecl) -> AssetView:
        stored = self.lookup(decl.id)
        if stored is not None:
            return self._view(decl.id, decl.namespace, decl.type)
        metadata = {k: v for k, v in (decl.metadata or {}).items() if v is not None}
        return AssetView(
            decl.id, decl.namespace, decl.type, decl.displayName, decl.description, metadata
        )

    def dataset_facets(self, view: AssetView) -> _Json:
        """The serialised dataset facets of an asset: documentation, ownership, datasetType
        and assetline_metadata."""
        facets: _Json = {}
        if view.description:
            facets["documentation"] = {**self._documentation, "description": view.description}
        metadata: Mapping[str, Any] = view.metadata or {}
        owner = metadata.get("owner")
        if owner:
            names = owner if isinstance(owner, list) else [owner]
            facets["ownership"] = {
                **self._ownership,
                "owners": [{"name": str(n)} for n in names if n],
            }
        facets["datasetType"] = {
            **self._dataset_type,
            "datasetType": self.namer.dataset_type(view.type),
        }
        assetline: _Json = {
            **self._assetline,
            "assetId": view.id,
            "metadata": to_wire(dict(metadata)),
        }
        if view.type is not None:
            assetline["assetType"] = view.type
        if view.namespace is not None:
            assetline["assetNamespace"] = view.namespace
        if view.displayName is not None:
            assetline["displayName"] = view.displayName
        facets["assetline_metadata"] = assetline
        return facets

    def _keep(self, view: AssetView) -> bool:
        return self.filter is None or self.filter.asset_matches(view.namespace, view.type)

    def _dataset(self, view: AssetView, flow_ns: str | None, io_facets: str) -> _Json:
        namespace, name = self.namer.name(view, flow_ns)
        return {
            "namespace": namespace,
            "name": name,
            "facets": self.dataset_facets(view),
            io_facets: {},
        }

    # -- run events ----------------------------------------------------------------------

    def for_entry(self, entry: codec.LogEntry) -> list[OutgoingEvent]:
        """The events one log entry stands for (none for asset set/delete entries)."""
        event = entry.event
        if isinstance(event, codec.TaskRunEvent):
            return self.task_run_events(entry.seq, event)
        if isinstance(event, codec.ExecutionEvent) and self.emit_executions:
            return self.execution_events(entry.seq, event)
        return []

    def task_run_events(self, seq: int, event: codec.TaskRunEvent) -> list[OutgoingEvent]:
        terminal = terminal_event_type(event.state)
        if terminal is None:
            return []
        flow_ns = event.flow_namespace
        inputs: list[_Json] = []
        for ref in event.inputs:
            view = self._view(ref.id, ref.namespace, ref.type)
            if self._keep(view):
                inputs.append(self._dataset(view, flow_ns, "inputFacets"))
        outputs: list[_Json] = []
        for decl in event.outputs:
            view = self._decl_view(decl)
            if self._keep(view):
                outputs.append(self._dataset(view, flow_ns, "outputFacets"))
        run_id = task_run_id(event)
        facets: _Json = {
            "parent": {
                **self._parent,
                "run": {"runId": execution_run_id(event.execution_id), "facets": {}},
                "job": {"namespace": flow_ns, "name": event.flow_id, "facets": {}},
            },
            "processing_engine": self._engine,
        }
        job: _Json = {
            "namespace": flow_ns,
            "name": f"{event.flow_id}.{event.task_id}",
            "facets": self._job_facets["TASK"],
        }
        end_facets = facets
        if terminal is RunState.FAIL and event.error:
            end_facets = {**facets, "errorMessage": self._error(event.error)}
        # START: the same run, job and datasets at the start time, without the error.
        start = self._run_event(RunState.START, event.start, run_id, facets, job)
        start["inputs"], start["outputs"] = inputs, outputs
        end = self._run_event(terminal, event.end, run_id, end_facets, job)
        end["inputs"], end["outputs"] = inputs, outputs
        return [
            OutgoingEvent.of(seq, start, f"{run_id}/START"),
            OutgoingEvent.of(seq, end, f"{run_id}/{terminal.value}"),
        ]

    def execution_events(self, seq: int, event: codec.ExecutionEvent) -> list[OutgoingEvent]:
        run_id = execution_run_id(event.id)
        job: _Json = {
            "namespace": event.namespace,
            "name": event.flow_id,
            "facets": self._job_facets["DAG"],
        }
        facets: _Json = {"processing_engine": self._engine}
        if event.state == "RUNNING":
            state, when = RunState.START, event.start
        else:
            terminal = terminal_event_type(event.state)
            if terminal is None:
                return []
            state, when = terminal, event.end if event.end is not None else event.start
            if terminal is RunState.FAIL and event.error:
                facets["errorMessage"] = self._error(event.error)
        payload = self._run_event(state, when, run_id, facets, job)
        payload["inputs"], payload["outputs"] = [], []
        return [OutgoingEvent.of(seq, payload, f"{run_id}/{state.value}")]

    def _run_event(
        self, state: RunState, when: float, run_id: str, facets: _Json, job: _Json
    ) -> _Json:
        return {
            "eventTime": _iso(when),
            "producer": PRODUCER,
            "schemaURL": self._run_event_schema,
            "run": {"runId": run_id, "facets": facets},
            "job": job,
            "eventType": state.value,
        }

    def _error(self, message: str) -> _Json:
        return {**self._error_message, "message": message, "programmingLanguage": "python"}

    # -- dataset events ------------------------------------------------------------------

    def dataset_event(self, asset: codec.Asset) -> OutgoingEvent:
        view = AssetView(
            asset.id,
            asset.namespace,
            asset.type,
            asset.displayName,
            asset.description,
            asset.metadata,
        )
        namespace, name = self.namer.name(view, None)
        payload = {
            "eventTime": _iso(asset.updated),
            "producer": PRODUCER,
            "schemaURL": self._dataset_event_schema,
            "dataset": {"namespace": namespace, "name": name, "facets": self.dataset_facets(view)},
        }
        return OutgoingEvent.of(0, payload, f"{namespace}/{name}")
