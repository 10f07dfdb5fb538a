"""The run queue of the trigger server: per-flow bound, de-duplication of queued runs (threads,
no store, no Ray)."""

from __future__ import annotations

import threading

from scheduler.server import PlannedRun, RunQueue


def _run(
    execution_id: str, flow_id: str = "mart", seq: int = 1, asset: str = "trips"
) -> PlannedRun:
    return PlannedRun(
        execution_id=execution_id,
        namespace="team",
        flow_id=flow_id,
        revision=1,
        trigger_id="t",
        trigger={
            "id": "t",
            "seq": seq,
            "assets": [{"id": asset, "event": "UPDATED", "eventTime": str(seq)}],
        },
    )


def test_one_run_per_flow_at_a_time_and_identical_queued_runs_dropped() -> None:
    gate = threading.Event()
    started: list[str] = []

    def launch(run: PlannedRun) -> None:
        started.append(run.execution_id)
        gate.wait(10)

    queue = RunQueue(launch, per_flow=1, total=4)
    try:
        assert queue.offer(_run("a", seq=1))
        assert queue.offer(_run("b", seq=2))  # queued behind a (a is running, not queued)
        assert not queue.offer(_run("c", seq=3))  # same as queued b but for seq and time
        assert queue.duplicate_of(_run("x", seq=9)) == "b"
        assert queue.offer(_run("d", seq=4, asset="other"))  # different assets
        assert queue.offer(_run("e", flow_id="report"))  # another flow runs at once
        assert queue.busy() == 4  # a and e running, b and d queued
        gate.set()
        assert queue.wait_idle(10)
    finally:
        gate.set()
        queue.close()
    assert sorted(started) == ["a", "b", "d", "e"]
    assert started.index("a") < started.index("b") < started.index("d")


def test_a_flow_limit_overrides_the_default_and_a_failing_launch_frees_its_slot() -> None:
    seen: list[str] = []
    both = threading.Barrier(2, timeout=10)

    def launch(run: PlannedRun) -> None:
        seen.append(run.execution_id)
        if run.execution_id in ("a", "b"):
            both.wait()  # both run at once: the limit is 2
        raise RuntimeError("boom")

    queue = RunQueue(
        launch, per_flow=1, total=4, limits=lambda key: 2 if key == "team.mart" else None
    )
    try:
        queue.offer(_run("a", seq=1, asset="x"))
        queue.offer(_run("b", seq=2, asset="y"))
        assert queue.wait_idle(10)
        queue.offer(_run("c", seq=3, asset="z"))
        assert queue.wait_idle(10)
    finally:
        queue.close()
    assert sorted(seen) == ["a", "b", "c"]
