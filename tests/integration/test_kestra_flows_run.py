"""Kestra's own test flows run unchanged: every flow of Kestra's test suite that uses only task
types assetline has and needs no input runs to SUCCESS or WARNING on the session's Ray cluster.

The flows are read from the fetched mirror of Kestra's repository (never copied here); the test
skips where the mirror is absent. The list pins the flows known to run, so a regression shows.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from scheduler.loader import load_flow_text
from scheduler.runner import run_flow
from store import Store

pytestmark = pytest.mark.integration

MIRROR = Path("/work/.mirror/kestra-io+kestra/repo")
VALIDS = "core/src/test/resources/flows/valids/"
RUNS_UNCHANGED = (
    "alias-trigger.yaml",
    "all-flowable.yaml",
    "current-output.yaml",
    "dag.yaml",
    "disable-flowable.yaml",
    "disable-simple.yaml",
    "each-empty.yaml",
    "each-null.yaml",
    "each-object-in-list.yaml",
    "each-object.yaml",
    "each-parallel-Integer.yml",
    "each-parallel-nested.yaml",
    "each-parallel-pause.yml",
    "each-parallel.yaml",
    "each-sequential-nested.yaml",
    "each-sequential.yaml",
    "each-switch.yaml",
    "execution.yaml",
    "flow-concurrency-cancel-pause.yml",
    "flow-concurrency-cancel.yml",
    "flow-concurrency-fail.yml",
    "flow-concurrency-queue-pause.yml",
    "flow-concurrency-queue.yml",
    "flow-trigger-preconditions-flow-a.yaml",
    "flow-trigger-preconditions-flow-b.yaml",
    "flow-trigger-preconditions-flow-listen.yaml",
    "flow-with-array-outputs.yml",
    "flow-with-outputs-failed.yml",
    "flow-with-outputs.yml",
    "foreach-concurrent-no-limit.yaml",
    "foreach-concurrent-parallel.yaml",
    "foreach-concurrent.yaml",
    "foreach-non-concurrent.yaml",
    "full.yaml",
    "http-listen-encrypted.yaml",
    "http-listen.yaml",
    "input-log-secret.yaml",
    "log-to-file.yaml",
    "logs.yaml",
    "minimal-bis.yaml",
    "minimal.yaml",
    "minimal2.yaml",
    "output-values.yml",
    "parallel-nested.yaml",
    "parallel.yaml",
    "retry-success-first-attempt.yaml",
    "return.yaml",
    "schedule-trigger.yaml",
    "sequential.yaml",
    "sla-execution-condition.yaml",
    "sla-max-duration-fail.yaml",
    "sla-max-duration-ok.yaml",
    "sleep-task-flow.yaml",
    "sleep.yml",
    "subflow-grand-child.yaml",
    "task-allow-failure-executable-flow.yml",
    "task-allow-failure-flowable.yml",
    "task-allow-failure-runnable.yml",
    "task-allow-warning-executable-flow.yml",
    "task-allow-warning-flowable.yml",
    "task-allow-warning-runnable.yml",
    "trigger-flow-with-pause.yaml",
    "trigger-flow.yaml",
    "trigger-multiplecondition-failed.yaml",
    "trigger-multiplecondition-flow-a.yaml",
    "trigger-multiplecondition-flow-b.yaml",
    "trigger-multiplecondition-flow-d.yaml",
    "trigger-multiplecondition-listener.yaml",
)


@pytest.mark.skipif(not MIRROR.exists(), reason=f"Kestra's repository is not mirrored at {MIRROR}")
@pytest.mark.parametrize("name", RUNS_UNCHANGED)
def test_kestra_flow_runs_unchanged(name: str, ray_session: Any, tmp_path: Path) -> None:
    text = subprocess.run(
        ["git", "-C", str(MIRROR), "show", f"HEAD:{VALIDS}{name}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    summary = run_flow(
        load_flow_text(text, name), {}, home=tmp_path / "home", workdir=str(tmp_path)
    )
    assert summary.state in ("SUCCESS", "WARNING"), summary.errors


def _kestra_flow(name: str) -> str:
    return subprocess.run(
        ["git", "-C", str(MIRROR), "show", f"HEAD:{VALIDS}{name}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.mark.skipif(not MIRROR.exists(), reason=f"Kestra's repository is not mirrored at {MIRROR}")
def test_allow_failure_runs_as_kestras_test_expects(ray_session: Any, tmp_path: Path) -> None:
    """Kestra's AllowFailureTest.failed: the block stops at `ko`, runs its `errors` and ends
    WARNING, the flow goes on, then `crash` fails it and the flow's errors run. (Its `success`
    case runs the flow without the required `crash` input, which Kestra's API refuses too.)"""
    home = tmp_path / "home"
    flow = load_flow_text(_kestra_flow("allow-failure.yaml"), "allow-failure.yaml")
    summary = run_flow(flow, {"crash": "1"}, home=home, workdir=str(tmp_path))
    with Store.open(home, readonly=True) as store:
        runs = store.task_runs(summary.execution_id)
    states = {run.task_id: run.state for run in runs}
    assert summary.state == "FAILED"
    assert len(runs) == 10  # as Kestra counts them
    assert states == {
        "first": "WARNING",
        "1-1-allow-failure": "WARNING",
        "1-1-1_seq": "FAILED",
        "1-1-1-1": "SUCCESS",
        "ko": "FAILED",
        "local-error": "SUCCESS",
        "1-2-todo": "SUCCESS",
        "switch": "FAILED",
        "crash": "FAILED",
        "global-error": "SUCCESS",
    }


#: Kestra's WaitForCaseTest and PauseTest: each flow and the state Kestra's test expects.
EXPECTED_STATES = {
    "waitfor.yaml": "SUCCESS",
    "waitfor-max-iterations.yaml": "FAILED",
    "waitfor-max-duration.yaml": "FAILED",
    "waitfor-no-success.yaml": "SUCCESS",
    "waitfor-multiple-tasks.yaml": "SUCCESS",
    "waitfor-multiple-tasks-failed.yaml": "FAILED",
    "pause-delay.yaml": "SUCCESS",
    "pause-delay-from-input.yaml": "SUCCESS",
    "pause-timeout.yaml": "FAILED",
}


@pytest.mark.skipif(not MIRROR.exists(), reason=f"Kestra's repository is not mirrored at {MIRROR}")
@pytest.mark.parametrize("name", sorted(EXPECTED_STATES))
def test_waitfor_and_pause_end_as_kestras_tests_expect(
    name: str, ray_session: Any, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    flow = load_flow_text(_kestra_flow(name), name)
    summary = run_flow(flow, {}, home=home, workdir=str(tmp_path))
    assert summary.state == EXPECTED_STATES[name], summary.errors
    with Store.open(home, readonly=True) as store:
        runs = store.task_runs(summary.execution_id)
    by_id: dict[str, list[Any]] = {}
    for run in runs:
        by_id.setdefault(run.task_id, []).append(run)
    if name == "waitfor-multiple-tasks.yaml":  # iterations 1, 2, 3: count 2, 3, 4
        assert by_id["output_values"][-1].result == {"values": {"count": "4"}}
        assert by_id["waitfor"][0].result == {"iterationCount": 3}
    if name == "waitfor-max-iterations.yaml":
        assert len(by_id["output_values"]) == 3
    if name == "pause-delay.yaml":
        assert [run.task_id for run in runs] == ["subtask", "pause", "last"]
    if name == "pause-timeout.yaml":
        assert [run.task_id for run in runs] == ["pause"]
        assert "nobody resumed it" in str(runs[0].error)


@pytest.mark.skipif(not MIRROR.exists(), reason=f"Kestra's repository is not mirrored at {MIRROR}")
def test_state_flow_runs_as_kestras_state_test_expects(ray_session: Any, tmp_path: Path) -> None:
    """Kestra's StateTest on state.yaml: create, update, delete across three executions; and
    per-value (taskrunValue) and flow-wide states inside ForEach."""
    home = tmp_path / "home"
    flow = load_flow_text(_kestra_flow("state.yaml"), "state.yaml")

    def run(state: str) -> dict[str, Any]:
        summary = run_flow(flow, {"state": state}, home=home, workdir=str(tmp_path))
        assert summary.state == "SUCCESS", summary.errors
        with Store.open(home, readonly=True) as store:
            return {
                (run.task_id, run.value): run.result
                for run in store.task_runs(summary.execution_id)
            }

    assert run("counter")[("createGet", None)]["data"] == {"value": 1}
    assert run("counter")[("updateGet", None)]["data"] == {"value": "2"}
    assert run("counter")[("deleteGet", None)]["count"] == 0
    each = run("each")
    assert each[("regetEach1", "b")]["data"] == {"value": "null-b"}
    assert each[("regetEach2", "b")]["data"] == {"value": "null-a-b"}
    with Store.open(home, readonly=True) as store:
        assert store.kv_keys("io.kestra.tests") == []  # states keep to their own namespace
