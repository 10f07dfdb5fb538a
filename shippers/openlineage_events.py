"""Build OpenLineage events from event-log entries and assets, with the openlineage-python
models, and serialise them to plain dicts (what goes on the wire).

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


@dataclass(frozen=True)
class OutgoingEvent:
    """One serialised OpenLineage event, with what identifies it."""

    seq: int
    payload: dict[str, Any]
    #: `runId/eventType` for run events, `namespace/name` for dataset events.
    key: str


class EventBuilder:
    """Turns log entries and assets into serialised OpenLineage events."""

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
        self._engine = processing_engine_run.ProcessingEngineRunFacet(
            version=ASSETLINE_VERSION,
            name="assetline",
            openlineageAdapterVersion=OPENLINEAGE_CLIENT_VERSION,
            producer=PRODUCER,
        )
        self._job_types = {
            kind: job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration="ASSETLINE", jobType=kind, producer=PRODUCER
            )
            for kind in ("TASK", "DAG")
        }

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

    def dataset_facets(self, view: AssetView) -> dict[str, DatasetFacet]:
        facets: dict[str, DatasetFacet] = {}
        if view.description:
            facets["documentation"] = documentation_dataset.DocumentationDatasetFacet(
                description=view.description, producer=PRODUCER
            )
        metadata: Mapping[str, Any] = view.metadata or {}
        owner = metadata.get("owner")
        if owner:
            names = owner if isinstance(owner, list) else [owner]
            facets["ownership"] = ownership_dataset.OwnershipDatasetFacet(
                owners=[ownership_dataset.Owner(name=str(n)) for n in names if n],
                producer=PRODUCER,
            )
        facets["datasetType"] = dataset_type_dataset.DatasetTypeDatasetFacet(
            datasetType=self.namer.dataset_type(view.type), producer=PRODUCER
        )
        facets["assetline_metadata"] = AssetlineMetadataDatasetFacet(
            assetId=view.id,
            metadata=dict(metadata),
            assetType=view.type,
            assetNamespace=view.namespace,
            displayName=view.displayName,
            producer=PRODUCER,
        )
        return facets

    def _keep(self, view: AssetView) -> bool:
        return self.filter is None or self.filter.asset_matches(view.namespace, view.type)

    # -- run events ----------------------------------------------------------------------

    def for_entry(self, entry: codec.LogEntry) -> list[OutgoingEvent]:
        """The events one log entry stands for (none for asset set/delete entries).

        The models' validators (URL parsing of every `_producer`, ISO parsing of eventTime,
        UUID parsing) are switched off while building: every value they check is made here
        (constant URLs, `isoformat()`, `uuid5`), and they cost a third of the build time.
        The tests validate the output against the official JSON schemas instead.
        """
        with attr.validators.disabled():
            return self._for_entry(entry)

    def _for_entry(self, entry: codec.LogEntry) -> list[OutgoingEvent]:
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
        inputs: list[InputDataset] = []
        for ref in event.inputs:
            view = self._view(ref.id, ref.namespace, ref.type)
            if self._keep(view):
                namespace, name = self.namer.name(view, flow_ns)
                inputs.append(
                    InputDataset(namespace=namespace, name=name, facets=self.dataset_facets(view))
                )
        outputs: list[OutputDataset] = []
        for decl in event.outputs:
            view = self._decl_view(decl)
            if self._keep(view):
                namespace, name = self.namer.name(view, flow_ns)
                outputs.append(
                    OutputDataset(namespace=namespace, name=name, facets=self.dataset_facets(view))
                )
        run_id = task_run_id(event)
        facets: dict[str, Any] = {
            "parent": parent_run.ParentRunFacet(
                run=parent_run.Run(runId=execution_run_id(event.execution_id)),
                job=parent_run.Job(namespace=flow_ns, name=event.flow_id),
                producer=PRODUCER,
            ),
            "processing_engine": self._engine,
        }
        job = Job(
            namespace=flow_ns,
            name=f"{event.flow_id}.{event.task_id}",
            facets={"jobType": self._job_types["TASK"]},
        )
        return self._pair(
            seq,
            run_id=run_id,
            job=job,
            facets=facets,
            terminal=terminal,
            event=event,
            inputs=inputs,
            outputs=outputs,
        )

    def execution_events(self, seq: int, event: codec.ExecutionEvent) -> list[OutgoingEvent]:
        run_id = execution_run_id(event.id)
        job = Job(
            namespace=event.namespace,
            name=event.flow_id,
            facets={"jobType": self._job_types["DAG"]},
        )
        facets: dict[str, Any] = {"processing_engine": self._engine}
        if event.state == "RUNNING":
            state, when = RunState.START, event.start
        else:
            terminal = terminal_event_type(event.state)
            if terminal is None:
                return []
            state, when = terminal, event.end if event.end is not None else event.start
            if terminal is RunState.FAIL and event.error:
                facets["errorMessage"] = self._error(event.error)
        run_event = RunEvent(
            eventType=state,
            eventTime=_iso(when),
            run=Run(runId=run_id, facets=facets),
            job=job,
            producer=PRODUCER,
        )
        return [OutgoingEvent(seq, to_wire(run_event), f"{run_id}/{state.value}")]

    @staticmethod
    def _error(message: str) -> error_message_run.ErrorMessageRunFacet:
        return error_message_run.ErrorMessageRunFacet(
            message=message, programmingLanguage="python", producer=PRODUCER
        )

    def _pair(
        self,
        seq: int,
        *,
        run_id: str,
        job: Job,
        facets: dict[str, Any],
        terminal: RunState,
        event: codec.TaskRunEvent,
        inputs: list[InputDataset],
        outputs: list[OutputDataset],
    ) -> list[OutgoingEvent]:
        end_facets = dict(facets)
        if terminal is RunState.FAIL and event.error:
            end_facets["errorMessage"] = self._error(event.error)
        end = to_wire(
            RunEvent(
                eventType=terminal,
                eventTime=_iso(event.end),
                run=Run(runId=run_id, facets=end_facets),
                job=job,
                inputs=inputs,
                outputs=outputs,
                producer=PRODUCER,
            )
        )
        # The START event is the same run, job and datasets at the start time, without the
        # error: derived from the serialised terminal event rather than serialised twice.
        start_run = dict(end["run"])
        start_run["facets"] = {k: v for k, v in start_run["facets"].items() if k != "errorMessage"}
        start = {**end, "eventType": RunState.START.value, "eventTime": _iso(event.start)}
        start["run"] = start_run
        return [
            OutgoingEvent(seq, start, f"{run_id}/START"),
            OutgoingEvent(seq, end, f"{run_id}/{terminal.value}"),
        ]

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
        event = DatasetEvent(
            eventTime=_iso(asset.updated),
            dataset=StaticDataset(namespace=namespace, name=name, facets=self.dataset_facets(view)),
            producer=PRODUCER,
        )
        return OutgoingEvent(0, to_wire(event), f"{namespace}/{name}")
