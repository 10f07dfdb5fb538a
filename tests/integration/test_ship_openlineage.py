"""OpenLineage shipping to real HTTP receivers on loopback: schema validity, the batch
contract, and delivery faults (500s, timeouts, dropped connections, a refused event)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shippers import ShipFilters, ship
from shippers.openlineage_events import task_run_id
from store import codec
from tests.support.lineage_data import task_run
from tests.support.memory_store import MemoryStore
from tests.support.openlineage_receiver import OpenLineageReceiver

pytestmark = pytest.mark.integration

RUNS = 30


@pytest.fixture
def receiver_factory() -> Iterator[Any]:
    started: list[OpenLineageReceiver] = []

    def make(**kwargs: Any) -> OpenLineageReceiver:
        receiver = OpenLineageReceiver(**kwargs).start()
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        receiver.stop()


def _store() -> MemoryStore:
    store = MemoryStore()
    for i in range(RUNS):
        if i % 10 == 0:
            store.append(
                codec.ExecutionEvent(
                    id=f"exec{i // 10}",
                    namespace="company.team",
                    flow_id="etl",
                    state="RUNNING",
                    start=1.7e9 + i,
                )
            )
        store.append(task_run(i, state=["SUCCESS", "FAILED", "KILLED", "WARNING"][i % 4]))
    store.append(
        codec.ExecutionEvent(
            id="exec0",
            namespace="company.team",
            flow_id="etl",
            state="SUCCESS",
            start=1.7e9,
            end=1.7e9 + 40,
        )
    )
    return store


EXPECTED = 2 * RUNS + 3 + 1  # task-run pairs, 3 execution STARTs, 1 execution COMPLETE


def _config(url: str, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "type": "io.kestra.plugin.ee.openlineage.OpenLineageAssetExporter",
        "uri": url,
        "deadLetterPath": str(tmp_path / "dead.ndjson"),
        "timeout": 0.5,
        "retry": {"maxAttempts": 8, "initialDelay": 0.01, "maxDelay": 0.05},
        **extra,
    }


def _assert_exactly_once(receiver: OpenLineageReceiver, expected: int) -> None:
    counts = receiver.counts()
    assert receiver.invalid == []
    assert sum(counts.values()) == expected
    assert [key for key, n in counts.items() if n > 1] == []


def test_marquez_like_receiver_gets_valid_events_once(
    receiver_factory: Any, tmp_path: Path
) -> None:
    receiver = receiver_factory()
    store = _store()
    report = ship(store, _config(receiver.url, tmp_path, apiKey="k", compression="gzip"))
    _assert_exactly_once(receiver, EXPECTED)
    assert report.shipped == EXPECTED and report.dead_lettered == 0
    assert receiver.headers_seen[0]["Authorization"] == "Bearer k"
    assert store.offsets["openlineage.default"] == store.last_seq()
    kinds = {e["eventType"] for e in receiver.events}
    assert kinds == {"START", "COMPLETE", "FAIL", "ABORT"}


def test_batch_contract_receiver(receiver_factory: Any, tmp_path: Path) -> None:
    receiver = receiver_factory(batch=True)
    report = ship(_store(), _config(receiver.url, tmp_path, batchSize=16, maxConcurrency=2))
    _assert_exactly_once(receiver, EXPECTED)
    assert receiver.requests <= EXPECTED // 16 + 3
    assert report.shipped == EXPECTED


def test_500s_for_a_while(receiver_factory: Any, tmp_path: Path) -> None:
    receiver = receiver_factory(fail_first=5)
    report = ship(_store(), _config(receiver.url, tmp_path))
    _assert_exactly_once(receiver, EXPECTED)
    assert report.retried == 5


def test_timeouts(receiver_factory: Any, tmp_path: Path) -> None:
    receiver = receiver_factory(delay_first=2, delay=1.0)
    report = ship(_store(), _config(receiver.url, tmp_path, timeout=0.3))
    _assert_exactly_once(receiver, EXPECTED)
    assert report.retried >= 2


def test_dropped_connections(receiver_factory: Any, tmp_path: Path) -> None:
    receiver = receiver_factory(drop_first=3)
    report = ship(_store(), _config(receiver.url, tmp_path))
    _assert_exactly_once(receiver, EXPECTED)
    assert report.retried >= 3


@pytest.mark.parametrize("batch", [False, True])
def test_a_refused_event_goes_to_the_dead_letter_file(
    receiver_factory: Any, tmp_path: Path, batch: bool
) -> None:
    bad = task_run_id(task_run(7, state="WARNING"))
    receiver = receiver_factory(reject_run_ids=frozenset({bad}), batch=batch)
    report = ship(_store(), _config(receiver.url, tmp_path, batchSize=8 if batch else 1))
    _assert_exactly_once(receiver, EXPECTED - 2)
    assert report.dead_lettered == 2
    dead = [json.loads(line) for line in (tmp_path / "dead.ndjson").read_text().splitlines()]
    assert sorted(d["key"] for d in dead) == [f"{bad}/COMPLETE", f"{bad}/START"]
    assert all("refused" in d["reason"] for d in dead)


def test_filters_limit_what_is_sent(receiver_factory: Any, tmp_path: Path) -> None:
    receiver = receiver_factory()
    report = ship(
        _store(), _config(receiver.url, tmp_path), filters=ShipFilters(flowNamespace="other")
    )
    assert receiver.counts() == {} and report.skipped_by_filter == RUNS + 4


@pytest.mark.parametrize("batch", [False, True])
def test_a_count_only_receiver_counts_every_event_and_keeps_none(
    receiver_factory: Any, tmp_path: Path, batch: bool
) -> None:
    # The benchmark's receiver: no validation, bodies parsed by msgspec into event types only.
    receiver = receiver_factory(batch=batch, validate=False, keep=False)
    assert receiver.light
    report = ship(_store(), _config(receiver.url, tmp_path, batchSize=16, compression="gzip"))
    assert report.shipped == EXPECTED and receiver.count == EXPECTED
    assert receiver.received == [] and receiver.events == []
    assert receiver.requests == (-(-EXPECTED // 16) if batch else EXPECTED + 1)
