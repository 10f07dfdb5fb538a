"""JSON shapes of executions, as `assetline executions` and `run --json` print them (and the web
API serves them). Reads through the store's query API; writes nothing.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from scheduler.planner import iso
from scheduler.resume import paused_at
from store.codec import PRODUCING_STATES, ExecutionEvent, TaskRunEvent

if TYPE_CHECKING:
    from scheduler.executor import ExecutionSummary
    from store import Store


def execution_row(execution: ExecutionEvent) -> dict[str, Any]:
    return {
        "id": execution.id,
        "namespace": execution.namespace,
        "flowId": execution.flow_id,
        "state": execution.state,
        "startDate": iso(execution.start),
        "endDate": iso(execution.end) if execution.end else None,
    }


def taskrun_row(taskrun: TaskRunEvent) -> dict[str, Any]:
    return {
        "id": taskrun.taskrun_id,
        "taskId": taskrun.task_id,
        "type": taskrun.task_type,
        "value": taskrun.value,
        "iteration": taskrun.iteration,
        "parentTaskRunId": taskrun.parent_taskrun_id,
        "attempt": taskrun.attempt,
        "state": taskrun.state,
        "startDate": iso(taskrun.start),
        "endDate": iso(taskrun.end),
        "duration": taskrun.end - taskrun.start,
        "inputs": [ref.id for ref in taskrun.inputs],
        "outputs": [decl.id for decl in taskrun.outputs],
        "result": taskrun.result,
        "error": taskrun.error,
        "node": taskrun.node,
    }


def execution_json(
    store: Store, execution_id: str, *, summary: ExecutionSummary | None = None
) -> dict[str, Any]:
    """An execution with its task runs (every attempt), counts by state, assets read/written."""
    execution = store.get_execution(execution_id)
    if execution is None:
        raise KeyError(execution_id)
    data = execution_row(execution)
    data["inputs"] = execution.inputs
    data["labels"] = execution.labels
    data["error"] = execution.error
    taskruns = store.task_runs(execution_id)
    read: set[str] = set()
    written: set[str] = set()
    counts: Counter[str] = Counter()
    rows = []
    for taskrun in taskruns:
        rows.append(taskrun_row(taskrun))
        counts[taskrun.state] += 1
        read.update(ref.id for ref in taskrun.inputs)
        if taskrun.state in PRODUCING_STATES:
            written.update(decl.id for decl in taskrun.outputs)
    data["taskRuns"] = rows
    data["counts"] = dict(counts)
    data["assetsRead"] = sorted(read)
    data["assetsWritten"] = sorted(written)
    data["paused"] = paused_at(store, execution_id) if execution.state == "RUNNING" else None
    if summary is not None:
        data["errors"] = summary.errors
    return data
