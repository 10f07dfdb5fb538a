"""The trigger server against a real LMDB store, with a stand-in for `run_flow` (no Ray): runs
are recorded before the offset moves, a restart neither loses nor repeats them, storms are
bounded, and freshness and schedules fire once per occurrence."""

from __future__ import annotations

import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from scheduler.deploy import deploy_flow
from scheduler.flow_model import Flow
from scheduler.loader import load_flow_text
from scheduler.server import OFFSET_KEY, TriggerServer
from store import Store
from store.codec import AssetDecl, AssetSetEvent, ExecutionEvent
from store.flows import DeployedFlows

pytestmark = pytest.mark.integration

MART = """
    id: mart
    namespace: company.team
    triggers:
      - id: on_trips
        type: io.kestra.plugin.ee.assets.EventTrigger
        assetId: trips
        events: [UPDATED]
        inputs:
          table: "{{ trigger.assets[0].id }}"
    inputs:
      - id: table
        type: STRING
    tasks:
      - id: build
        type: io.kestra.plugin.core.log.Log
        message: "{{ inputs.table }}"
"""


@dataclass
class Summary:
    state: str


@dataclass
class FakeRun:
    """Stands in for run_flow: records each call and writes the execution's end state."""

    home: Path
    gate: threading.Event | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)
    write: bool = True

    def __call__(self, flow: Flow, inputs: dict[str, Any], **kwargs: Any) -> Summary:
        self.calls.append({"flow": flow.id, "inputs": dict(inputs), **kwargs})
        if self.gate is not None:
            self.gate.wait(10)
        if self.write:
            with Store.open(self.home) as store:
                now = time.time()
                store.write(
                    [
                        ExecutionEvent(
                            id=kwargs["execution_id"],
                            namespace=flow.namespace,
                            flow_id=flow.id,
                            state="SUCCESS",
                            start=now,
                            end=now,
                        )
                    ]
                )
        return Summary("SUCCESS")


def _flow(text: str) -> Flow:
    return load_flow_text(textwrap.dedent(text).lstrip(), "mart.yaml")


def _set(store: Store, asset_id: str, **metadata: Any) -> None:
    store.write(
        [
            AssetSetEvent(
                asset=AssetDecl(id=asset_id, namespace="company.team", metadata=metadata),
                time=time.time(),
            )
        ]
    )


def test_an_update_triggers_once_with_rendered_inputs_and_the_offset_follows(home: Path) -> None:
    fake = FakeRun(home)
    with Store.open(home) as store:
        deploy_flow(store, _flow(MART))
        _set(store, "trips", n=1)  # CREATED: not what the trigger wants
        _set(store, "trips", n=2)  # UPDATED
        _set(store, "other", n=1)
        server = TriggerServer(home, run=fake)
        try:
            assert server.poll_log() == 3
            assert server.queue.wait_idle(10)
            assert server.poll_log() == 2  # the run recorded CREATED, then its SUCCESS
            assert store.get_offset(OFFSET_KEY) == store.last_seq()
        finally:
            server.queue.close()
            server.close()
    assert len(fake.calls) == 1
    call = fake.calls[0]
    assert call["inputs"] == {"table": "trips"}
    assert call["trigger"]["id"] == "on_trips"
    assert [(a["id"], a["event"]) for a in call["trigger"]["assets"]] == [("trips", "UPDATED")]


def test_a_restart_relaunches_a_recorded_run_once_and_records_nothing_twice(home: Path) -> None:
    gate = threading.Event()
    dying = FakeRun(home, gate=gate, write=False)  # "killed" before run_flow wrote anything
    with Store.open(home) as store:
        deploy_flow(store, _flow(MART))
        _set(store, "trips")
        _set(store, "trips", n=2)
        first = TriggerServer(home, run=dying)
        first.poll_log()
        recorded = store.list_executions(flow_id="mart")
        assert [e.state for e in recorded] == ["CREATED"]
        assert [eid for eid, _ in DeployedFlows(store).pending()] == [recorded[0].id]
        # Forget the offset too, as if the kill came before it was committed.
        store.set_offset(OFFSET_KEY, 0)

        fake = FakeRun(home)
        second = TriggerServer(home, run=fake)
        try:
            assert second.resume_pending() == 1
            assert second.queue.wait_idle(10)
            second.poll_log()
            second.poll_log()
            assert second.queue.wait_idle(10)
        finally:
            gate.set()
            first.queue.close()
            second.queue.close()
            first.close()
            second.close()
        assert [c["execution_id"] for c in fake.calls] == [recorded[0].id]
        assert [e.state for e in store.list_executions(flow_id="mart")] == ["SUCCESS"]
        assert DeployedFlows(store).pending() == []


def test_a_storm_runs_one_at_a_time_and_drops_identical_queued_runs(home: Path) -> None:
    gate = threading.Event()
    fake = FakeRun(home, gate=gate)
    with Store.open(home) as store:
        deploy_flow(store, _flow(MART))
        _set(store, "trips")
        server = TriggerServer(home, run=fake)
        try:
            for n in range(20):
                _set(store, "trips", n=n)
                server.poll_log()
            time.sleep(0.2)
            assert len(fake.calls) == 1  # per-flow limit 1: the rest queue
            assert server.queue.busy() == 2  # one running, one queued; 18 were identical
            gate.set()
            assert server.queue.wait_idle(10)
        finally:
            gate.set()
            server.queue.close()
            server.close()
        assert len(fake.calls) == 2
        states = sorted(e.state for e in store.list_executions(flow_id="mart"))
        assert states == ["SUCCESS", "SUCCESS"]


def test_a_deleted_flow_stops_triggering(home: Path) -> None:
    fake = FakeRun(home)
    with Store.open(home) as store:
        deploy_flow(store, _flow(MART))
        DeployedFlows(store).delete("company.team", "mart")
        _set(store, "trips")
        _set(store, "trips", n=2)
        server = TriggerServer(home, run=fake)
        try:
            server.poll_log()
            assert server.queue.wait_idle(10)
        finally:
            server.queue.close()
            server.close()
    assert fake.calls == []


FRESH = """
    id: refresh
    namespace: company.team
    triggers:
      - id: stale_trips
        type: io.kestra.plugin.kestra.ee.assets.FreshnessTrigger
        assetId: trips
        maxStaleness: PT1H
        checkInterval: PT1M
    tasks:
      - id: go
        type: io.kestra.plugin.core.log.Log
        message: "{{ trigger.assets[0].id }}"
"""


def test_freshness_fires_once_per_stale_asset_until_it_is_updated(home: Path) -> None:
    fake = FakeRun(home)
    with Store.open(home) as store:
        deploy_flow(store, _flow(FRESH))
        _set(store, "trips")
        server = TriggerServer(home, run=fake)
        try:
            server.refresh()
            server.poll_freshness(time.time())
            assert fake.calls == []  # fresh
            later = time.time() + 2 * 3600
            server.poll_freshness(later)
            server.poll_freshness(later + 30)  # inside checkInterval: not checked again
            server.poll_freshness(later + 120)  # checked again: same staleness, same id
            assert server.queue.wait_idle(10)
        finally:
            server.queue.close()
            server.close()
    assert len(fake.calls) == 1
    assert fake.calls[0]["trigger"]["assets"][0]["id"] == "trips"
    assert fake.calls[0]["trigger"]["assets"][0]["event"] == "STALE"


SCHEDULED = """
    id: hourly
    namespace: company.team
    triggers:
      - id: every_minute
        type: io.kestra.plugin.core.trigger.Schedule
        cron: "* * * * *"
    tasks:
      - id: go
        type: io.kestra.plugin.core.log.Log
        message: "{{ trigger.date }}"
"""


def test_schedules_fire_each_missed_time_once_across_restarts(home: Path) -> None:
    fake = FakeRun(home)
    with Store.open(home) as store:
        deploy_flow(store, _flow(SCHEDULED))
        start = 1_800_000_000.0  # 2027-01-15T08:00:00Z, a whole minute
        first = TriggerServer(home, run=fake)
        second = TriggerServer(home, run=fake)
        try:
            first.refresh()
            first.poll_schedules(start)  # remembers where it starts
            first.poll_schedules(start + 150)  # two minutes passed
            second.refresh()
            second.poll_schedules(start + 150)  # a restart at the same moment
            assert first.queue.wait_idle(10) and second.queue.wait_idle(10)
        finally:
            first.queue.close()
            second.queue.close()
            first.close()
            second.close()
    dates = sorted(call["trigger"]["date"] for call in fake.calls)
    assert dates == ["2027-01-15T08:01:00+00:00", "2027-01-15T08:02:00+00:00"]
