"""The long-running scheduler behind `assetline server`: follow the event log, fire triggers.

`TriggerServer` polls the store's `last_seq()` (cheap) every `poll_interval`; when the log grew
it reads the new entries, evaluates every deployed flow's EventTriggers on their asset changes,
checks FreshnessTriggers every `checkInterval` and Schedules as their times pass, and starts
executions with `run_flow` in a thread pool on one Ray session.

Exactly once across restarts: a triggered execution's id is derived from (flow, trigger,
occurrence) (`scheduler.triggers.execution_id_for`). The server records the run (a pending
record, then the execution in state CREATED) *before* it commits the log offset it consumed
(`OFFSET_KEY`, kept in the store). A restarted server re-reads from that offset and skips ids
that already exist, and relaunches pending runs whose execution is still CREATED.

Storms are bounded: at most `per_flow` executions of one flow run at once (the flow's
`concurrency.limit` when it sets one), the rest queue; a run identical to one still queued
(same flow, trigger, inputs and asset events) is dropped. A flow never triggers itself from the
assets its own executions changed (that would loop).

No CLI here (`scheduler.cli_server`); the store is written only through its public paths.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from scheduler.deploy import load_deployed
from scheduler.errors import SchedulerError
from scheduler.flow_model import Flow
from scheduler.templating import Renderer
from scheduler.triggers import (
    EventTrigger,
    FreshnessTrigger,
    ScheduleTrigger,
    asset_payload,
    execution_id_for,
    flow_triggers,
    metadata_matches,
)
from store import Store
from store.codec import ExecutionEvent, LogEntry, TaskRunEvent
from store.errors import StoreError
from store.flows import DeployedFlow, DeployedFlows

__all__ = ["OFFSET_KEY", "PlannedRun", "RunQueue", "TriggerServer", "plan_event_runs"]

OFFSET_KEY = "scheduler.triggers"
_SCHEDULE_KEY = "scheduler.schedule/{}/{}/{}"
log = logging.getLogger("assetline.server")


class PlannedRun(msgspec.Struct, frozen=True):
    """One execution a trigger asks for (also the pending record kept in the store)."""

    execution_id: str
    namespace: str
    flow_id: str
    revision: int
    trigger_id: str
    trigger: dict[str, Any]
    inputs: dict[str, Any] = {}

    @property
    def flow_key(self) -> str:
        return f"{self.namespace}.{self.flow_id}"

    @property
    def dedupe_key(self) -> str:
        """Identical runs share it: same flow, trigger, inputs and trigger variables, leaving
        out when it happened (the log seq, the assets' event times)."""
        variables = {key: value for key, value in self.trigger.items() if key != "seq"}
        variables["assets"] = sorted(
            json.dumps({k: v for k, v in item.items() if k != "eventTime"}, sort_keys=True)
            for item in self.trigger.get("assets", [])
        )
        return json.dumps(
            [self.flow_key, self.trigger_id, self.inputs, variables], sort_keys=True, default=str
        )


_encode_run = msgspec.msgpack.Encoder().encode
_decode_run = msgspec.msgpack.Decoder(PlannedRun).decode


@dataclass
class _Deployed:
    record: DeployedFlow
    flow: Flow
    events: list[EventTrigger] = field(default_factory=list)
    freshness: list[FreshnessTrigger] = field(default_factory=list)
    schedules: list[ScheduleTrigger] = field(default_factory=list)

    @property
    def concurrency(self) -> int | None:
        limit = (self.flow.concurrency or {}).get("limit")
        return int(limit) if isinstance(limit, int) and limit > 0 else None


def _load(record: DeployedFlow) -> _Deployed | None:
    try:
        flow = load_deployed(record)
        triggers = flow_triggers(flow)
    except SchedulerError as exc:  # deployed before a rule tightened: skip it, say so
        log.error("deployed flow %s revision %s is skipped: %s", record.key, record.revision, exc)
        return None
    found = _Deployed(record, flow)
    for trigger in triggers:
        if trigger.disabled:
            continue
        if isinstance(trigger, EventTrigger):
            found.events.append(trigger)
        elif isinstance(trigger, FreshnessTrigger):
            found.freshness.append(trigger)
        else:
            found.schedules.append(trigger)
    return found


def _render_inputs(
    renderer: Renderer, inputs: dict[str, Any], trigger: dict[str, Any], where: str
) -> dict[str, Any]:
    rendered = renderer.render_value(inputs, {"trigger": trigger}, where=where)
    return dict(rendered) if isinstance(rendered, dict) else {}


def _planned_run(
    record: DeployedFlow,
    trigger: EventTrigger | FreshnessTrigger | ScheduleTrigger,
    variables: dict[str, Any],
    occurrence: str,
    renderer: Renderer,
    where: str,
) -> PlannedRun:
    """The run of `record`'s flow that `trigger` asks for at one `occurrence`: its execution id
    derives from them (a replayed occurrence plans the same id), its inputs are the trigger's,
    rendered with `variables` as `trigger`."""
    return PlannedRun(
        execution_id=execution_id_for(record.namespace, record.id, trigger.id, occurrence),
        namespace=record.namespace,
        flow_id=record.id,
        revision=record.revision,
        trigger_id=trigger.id,
        trigger=variables,
        inputs=_render_inputs(renderer, trigger.inputs, variables, where),
    )


def plan_event_runs(
    entries: list[LogEntry],
    flows: list[_Deployed],
    metadata_of: Callable[[str], dict[str, Any] | None],
    renderer: Renderer | None = None,
) -> list[PlannedRun]:
    """The runs the EventTriggers of `flows` ask for after `entries`: one per (flow, trigger,
    log entry) with every matching asset change of that entry in `trigger.assets`."""
    renderer = renderer or Renderer()
    runs: list[PlannedRun] = []
    for entry in entries:
        if not entry.changes:
            continue
        source = entry.event
        origin = (
            (source.flow_namespace, source.flow_id) if isinstance(source, TaskRunEvent) else None
        )
        for deployed in flows:
            record = deployed.record
            if origin == (record.namespace, record.id) or entry.time < record.deployed:
                continue
            for trigger in deployed.events:
                matched = []
                for change in entry.changes:
                    if change.event not in trigger.events:
                        continue
                    if not trigger.selects(change.id, change.namespace, change.type):
                        continue
                    if trigger.metadataQuery:
                        metadata = metadata_of(change.id)
                        if metadata is None or not metadata_matches(
                            trigger.metadataQuery, metadata
                        ):
                            continue
                    matched.append(
                        asset_payload(
                            change.id, change.namespace, change.type, change.event, entry.time
                        )
                    )
                if not matched:
                    continue
                variables = {
                    "id": trigger.id,
                    "type": trigger.type,
                    "seq": entry.seq,
                    "assets": matched,
                }
                runs.append(
                    _planned_run(
                        record,
                        trigger,
                        variables,
                        f"seq:{entry.seq}",
                        renderer,
                        f"trigger '{trigger.id}' inputs",
                    )
                )
    return runs


class RunQueue:
    """Queued triggered runs, at most `per_flow` of one flow running at once; `launch` runs one
    (in a pool thread). A run identical to a queued one is refused (`offer` returns False)."""

    def __init__(
        self,
        launch: Callable[[PlannedRun], None],
        *,
        per_flow: int = 1,
        total: int = 8,
        limits: Callable[[str], int | None] | None = None,
    ) -> None:
        self._launch = launch
        self._per_flow = max(1, per_flow)
        self._limits = limits or (lambda _key: None)
        self._pool = ThreadPoolExecutor(max_workers=max(1, total), thread_name_prefix="run")
        self._lock = threading.Lock()
        self._queued: dict[str, deque[PlannedRun]] = {}
        self._queued_keys: dict[str, str] = {}  # dedupe key -> execution id
        self._running: dict[str, int] = {}
        self._idle = threading.Condition(self._lock)

    def duplicate_of(self, run: PlannedRun) -> str | None:
        """The id of a queued run identical to `run`, if any."""
        with self._lock:
            return self._queued_keys.get(run.dedupe_key)

    def offer(self, run: PlannedRun) -> bool:
        with self._lock:
            if run.dedupe_key in self._queued_keys:
                return False
            self._queued_keys[run.dedupe_key] = run.execution_id
            self._queued.setdefault(run.flow_key, deque()).append(run)
            self._start_ready(run.flow_key)
        return True

    def _limit(self, flow_key: str) -> int:
        return self._limits(flow_key) or self._per_flow

    def _start_ready(self, flow_key: str) -> None:
        queue = self._queued.get(flow_key)
        while queue and self._running.get(flow_key, 0) < self._limit(flow_key):
            run = queue.popleft()
            self._queued_keys.pop(run.dedupe_key, None)
            self._running[flow_key] = self._running.get(flow_key, 0) + 1
            self._pool.submit(self._run, run)

    def _run(self, run: PlannedRun) -> None:
        try:
            self._launch(run)
        except Exception:  # launch reports its own failures; never lose the slot
            log.exception("triggered run %s failed to launch", run.execution_id)
        finally:
            with self._lock:
                self._running[run.flow_key] -= 1
                self._start_ready(run.flow_key)
                self._idle.notify_all()

    def busy(self) -> int:
        with self._lock:
            return sum(self._running.values()) + sum(len(q) for q in self._queued.values())

    def wait_idle(self, timeout: float | None = None) -> bool:
        with self._idle:
            return self._idle.wait_for(
                lambda: not any(self._running.values()) and not any(self._queued.values()),
                timeout,
            )

    def close(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)


class TriggerServer:
    """Follows one store and starts the executions its deployed flows' triggers ask for."""

    def __init__(
        self,
        home: str | os.PathLike[str],
        *,
        poll_interval: float = 0.01,
        per_flow: int = 1,
        max_running: int = 8,
        workdir: str | None = None,
        batch: int = 1000,
        report: Callable[[str], None] | None = None,
        run: Callable[..., Any] | None = None,
    ) -> None:
        self.home = Path(home)
        self.poll_interval = poll_interval
        self.workdir = workdir or os.getcwd()
        self.batch = batch
        self.report = report or (lambda message: log.info("%s", message))
        self.stopping = threading.Event()
        self.store = Store.open(self.home)
        self.flows = DeployedFlows(self.store)
        self._version = -1
        self._deployed: list[_Deployed] = []
        self._by_key: dict[str, _Deployed] = {}
        self._renderer = Renderer()
        self._next_fresh: dict[tuple[str, str], float] = {}
        self._run_flow = run
        self.queue = RunQueue(
            self._launch,
            per_flow=per_flow,
            total=max_running,
            limits=lambda key: d.concurrency if (d := self._by_key.get(key)) else None,
        )
        self.started = 0

    # -- deployed flows ----------------------------------------------------------------------

    def refresh(self) -> None:
        version = self.flows.version()
        if version == self._version:
            return
        self._version = version
        loaded = [d for record in self.flows.list() if (d := _load(record)) is not None]
        self._deployed = [d for d in loaded if not d.flow.disabled]
        self._by_key = {d.record.key: d for d in loaded}

    # -- recording, exactly once -------------------------------------------------------------

    def _record(self, runs: list[PlannedRun]) -> list[PlannedRun]:
        """Keep new runs in the store (pending record, then CREATED execution); return those
        to start. Runs that exist already, or that a queued identical run covers, are left."""
        fresh: list[PlannedRun] = []
        for run in runs:
            if self.store.get_execution(run.execution_id) is not None:
                continue
            twin = self.queue.duplicate_of(run)
            if twin is not None:
                self.report(f"skipped {run.flow_key} ({run.trigger_id}): same as queued {twin}")
                continue
            if any(other.dedupe_key == run.dedupe_key for other in fresh):
                continue
            fresh.append(run)
        for run in fresh:
            self.flows.put_pending(run.execution_id, _encode_run(run))
        if fresh:
            now = time.time()
            self.store.write(
                [
                    ExecutionEvent(
                        id=run.execution_id,
                        namespace=run.namespace,
                        flow_id=run.flow_id,
                        state="CREATED",
                        start=now,
                        labels={"system.trigger": run.trigger_id},
                        flow_revision=run.revision,
                    )
                    for run in fresh
                ]
            )
        return fresh

    def _start(self, runs: list[PlannedRun]) -> None:
        for run in runs:
            self.queue.offer(run)

    def _launch(self, run: PlannedRun) -> None:
        current = self.store.get_execution(run.execution_id)
        if current is not None and current.state != "CREATED":
            self.flows.drop_pending(run.execution_id)
            return
        try:
            record = self.flows.require(run.namespace, run.flow_id, run.revision)
            flow = load_deployed(record)
        except (SchedulerError, StoreError) as exc:
            self._fail(run, f"cannot load {run.flow_key} revision {run.revision}: {exc}")
            return
        self.started += 1
        self.report(
            f"started {run.flow_key} execution {run.execution_id} (trigger {run.trigger_id})"
        )
        runner = self._run_flow
        if runner is None:
            from scheduler.runner import run_flow

            runner = run_flow
        try:
            summary = runner(
                flow,
                run.inputs,
                home=self.home,
                execution_id=run.execution_id,
                trigger=run.trigger,
                workdir=self.workdir,
            )
        except SchedulerError as exc:
            self._fail(run, str(exc))
            return
        finally:
            self.flows.drop_pending(run.execution_id)
        self.report(f"finished {run.flow_key} execution {run.execution_id}: {summary.state}")

    def _fail(self, run: PlannedRun, error: str) -> None:
        now = time.time()
        self.store.write(
            [
                ExecutionEvent(
                    id=run.execution_id,
                    namespace=run.namespace,
                    flow_id=run.flow_id,
                    state="FAILED",
                    start=now,
                    end=now,
                    labels={"system.trigger": run.trigger_id},
                    flow_revision=run.revision,
                    error=error,
                )
            ]
        )
        self.flows.drop_pending(run.execution_id)
        self.report(f"failed {run.flow_key} execution {run.execution_id}: {error}")

    def resume_pending(self) -> int:
        """Start again the runs a previous server recorded but did not start."""
        resumed: list[PlannedRun] = []
        for execution_id, payload in self.flows.pending():
            current = self.store.get_execution(execution_id)
            if current is None or current.state != "CREATED":
                self.flows.drop_pending(execution_id)
                continue
            resumed.append(_decode_run(payload))
        self._start(resumed)
        return len(resumed)

    # -- one pass ----------------------------------------------------------------------------

    def _metadata(self, asset_id: str) -> dict[str, Any] | None:
        asset = self.store.get_asset(asset_id)
        return dict(asset.metadata) if asset is not None else None

    def poll_log(self) -> int:
        """Consume new log entries; returns how many were read."""
        offset = self.store.get_offset(OFFSET_KEY) or 0
        if self.store.last_seq() <= offset:
            return 0
        self.refresh()
        entries = self.store.read_log(after=offset, limit=self.batch)
        if not entries:
            return 0
        runs = plan_event_runs(entries, self._deployed, self._metadata, self._renderer)
        fresh = self._record(runs)
        self.store.set_offset(OFFSET_KEY, entries[-1].seq)
        self._start(fresh)
        return len(entries)

    def poll_freshness(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        runs: list[PlannedRun] = []
        for deployed in self._deployed:
            record = deployed.record
            for trigger in deployed.freshness:
                slot = (record.key, trigger.id)
                if self._next_fresh.get(slot, 0.0) > now:
                    continue
                self._next_fresh[slot] = now + trigger.interval
                for asset in self.store.find_assets(
                    id=trigger.assetId, type=trigger.assetType, namespace=trigger.namespace
                ):
                    if asset.updated > now - trigger.staleness:
                        continue
                    if not metadata_matches(trigger.metadataQuery, asset.metadata):
                        continue
                    payload = asset_payload(
                        asset.id,
                        asset.namespace,
                        asset.type,
                        "STALE",
                        now,
                        lastUpdated=asset_payload(
                            asset.id, asset.namespace, asset.type, "", asset.updated
                        )["eventTime"],
                    )
                    variables = {"id": trigger.id, "type": trigger.type, "assets": [payload]}
                    runs.append(
                        _planned_run(
                            record,
                            trigger,
                            variables,
                            f"stale:{asset.id}:{asset.updated!r}",
                            self._renderer,
                            f"trigger '{trigger.id}'",
                        )
                    )
        self._start(self._record(runs))

    def poll_schedules(self, now: float | None = None) -> None:
        from datetime import UTC, datetime

        now = time.time() if now is None else now
        for deployed in self._deployed:
            record = deployed.record
            for trigger in deployed.schedules:
                key = _SCHEDULE_KEY.format(record.namespace, record.id, trigger.id)
                last = self.store.get_offset(key)
                if last is None:
                    self.store.set_offset(key, int(max(now, record.deployed)))
                    continue
                times = trigger.times_between(float(last), now)
                if not times:
                    continue
                if trigger.recoverMissedSchedules == "LAST":
                    times = times[-1:]
                elif trigger.recoverMissedSchedules == "NONE":
                    times = [t for t in times if t > now - max(1.0, 2 * self.poll_interval)]

                def iso(moment: float) -> str:
                    return datetime.fromtimestamp(moment, UTC).isoformat()

                runs = []
                for moment in times:
                    variables = {"id": trigger.id, "type": trigger.type, "date": iso(moment)}
                    runs.append(
                        _planned_run(
                            record,
                            trigger,
                            variables,
                            f"cron:{moment!r}",
                            self._renderer,
                            f"trigger '{trigger.id}'",
                        )
                    )
                self._start(self._record(runs))
                self.store.set_offset(key, int(times[-1]) if times else int(now))

    # -- the loop ----------------------------------------------------------------------------

    def serve(self, *, until: Callable[[], bool] | None = None) -> None:
        """Poll until `stop()` (or `until()` is true); then wait for running executions."""
        self.refresh()
        resumed = self.resume_pending()
        self.report(
            f"server following {self.home} from seq {self.store.get_offset(OFFSET_KEY) or 0}; "
            f"{len(self._deployed)} deployed flow(s); {resumed} pending run(s) resumed"
        )
        next_slow = 0.0
        try:
            while not self.stopping.is_set() and not (until is not None and until()):
                read = self.poll_log()
                now = time.time()
                if now >= next_slow:
                    self.refresh()
                    self.poll_freshness(now)
                    self.poll_schedules(now)
                    next_slow = now + 0.5
                if read < self.batch:
                    self.stopping.wait(self.poll_interval)
        finally:
            self.queue.close(wait=True)

    def stop(self) -> None:
        self.stopping.set()

    def close(self) -> None:
        self.store.close()
