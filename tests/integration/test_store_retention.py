"""Retention on a real LMDB store: finding the log entry at a time, purging usages and lineage
edges (long, hashed ids included) while the event log and task runs stay."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from store import Store, retention
from store.codec import TaskRunEvent
from tests.integration.test_store_semantics import task_run

pytestmark = pytest.mark.integration


def _run(serial: int, inputs: list[str], outputs: list[str], end: float) -> TaskRunEvent:
    return task_run(
        f"tr-{serial}",
        inputs=inputs,
        outputs=outputs,
        end=end,
        execution_id="exec",
        flow_id="etl",
        task_id="load",
        namespace="company.data",
    )


def test_seq_at_finds_the_newest_entry_written_by_then(tmp_path: Path) -> None:
    with Store.open(tmp_path) as store:
        shared = store._env()
        with shared.env.begin() as txn:
            assert retention.seq_at(txn, shared.dbs, time.time()) == 0  # an empty log
        marks = []
        for serial in range(5):
            store.write([_run(serial, [], [f"a{serial}"], end=10.0)])
            marks.append(time.time())
            time.sleep(0.01)
        with shared.env.begin() as txn:
            assert retention.seq_at(txn, shared.dbs, marks[0] - 5) == 0
            assert [retention.seq_at(txn, shared.dbs, mark) for mark in marks] == [1, 2, 3, 4, 5]
            assert retention.seq_at(txn, shared.dbs, marks[-1] + 60) == 5


def test_purging_edges_of_long_hashed_ids_removes_both_directions(tmp_path: Path) -> None:
    long_source, long_target = "s" * 300, "t" * 400
    with Store.open(tmp_path) as store:
        store.write(
            [
                _run(1, [long_source], [long_target, "short"], end=100.0),
                _run(2, ["short"], [long_target], end=5_000_000_000.0),
            ]
        )
        assert store.purge_lineage(before=200.0) == 2
        assert store.lineage(long_target, direction="up").edges  # run 2's edge stays
        ups = {e.source for e in store.lineage(long_target, direction="up").edges}
        assert ups == {"short", "tr-2"}
        assert store.lineage(long_source, direction="down").edges == []
        assert [e.target for e in store.lineage("short", direction="up").edges] == []
        shared = store._env()
        with shared.env.begin() as txn:
            downs = txn.stat(shared.dbs.lineage_down)["entries"]
            up_count = txn.stat(shared.dbs.lineage_up)["entries"]
        assert downs == up_count == 1
        assert store.purge_usages(None, before=time.time()) == 5
        assert len(store.read_log()) == 2 and len(store.task_runs("exec")) == 2
