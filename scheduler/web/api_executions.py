"""`/api/v1/executions`: the list (filters), one execution with its task runs, ForEach
iterations counted by state, the assets it read and wrote and the Pause it waits at (the shapes
are `scheduler.reports`', the same as `assetline executions --json`), and resuming that Pause
(`scheduler.resume`, as `assetline executions resume` does). No HTML here.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query

from scheduler.reports import execution_json, execution_row
from scheduler.resume import request_resume, wait_outcome
from scheduler.web.context import WebContext, context_of
from scheduler.web.errors import BadRequest, NotFound
from store.codec import TERMINAL_STATES, TaskRunEvent

__all__ = ["LOG_LINES", "RESUME_WAIT", "iteration_counts", "router"]

router = APIRouter(prefix="/api/v1", tags=["executions"])
Context = Annotated[WebContext, Depends(context_of)]
#: The newest log lines shown per task run.
LOG_LINES = 200
#: How long a resume request waits for the execution's driver to take (or refuse) it.
RESUME_WAIT = 5.0


@router.get("/executions", summary="Executions, newest first")
def list_executions(
    context: Context,
    flowId: str | None = None,  # noqa: N803 - the API's parameter name
    namespace: str | None = None,
    state: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    found = context.store().list_executions(
        flow_id=flowId or None, namespace=namespace or None, state=state or None, limit=limit
    )
    return {"items": [execution_row(execution) for execution in found]}


def iteration_counts(taskruns: list[TaskRunEvent]) -> dict[str, dict[str, int]]:
    """Per task id of a ForEach body: its iterations (latest attempt each) counted by state."""
    latest: dict[str, TaskRunEvent] = {}
    for run in taskruns:
        if run.iteration is None and run.value is None:
            continue
        seen = latest.get(run.taskrun_id)
        if seen is None or run.attempt >= seen.attempt:
            latest[run.taskrun_id] = run
    counts: dict[str, Counter[str]] = {}
    for run in latest.values():
        counts.setdefault(run.task_id, Counter())[run.state] += 1
    return {task: dict(sorted(counter.items())) for task, counter in sorted(counts.items())}


@router.get("/executions/{execution_id}", summary="One execution with its task runs")
def get_execution(context: Context, execution_id: str) -> dict[str, Any]:
    store = context.store()
    try:
        data = execution_json(store, execution_id)
    except KeyError as exc:
        raise NotFound(f"no execution {execution_id!r} in the store") from exc
    taskruns = store.task_runs(execution_id)
    data["iterations"] = iteration_counts(taskruns)
    data["done"] = data["state"] in TERMINAL_STATES
    for row, run in zip(data["taskRuns"], taskruns, strict=True):
        row["logs"] = [
            {"time": line.time, "level": line.level, "message": line.message}
            for line in run.logs[-LOG_LINES:]
        ]
    return data


ResumeInputs = Annotated[
    dict[str, Any], Body(embed=True, description="onResume input id -> value (text or typed)")
]


@router.post("/executions/{execution_id}/resume", summary="Resume an execution at its Pause")
def resume_execution(
    context: Context,
    execution_id: str,
    inputs: ResumeInputs = {},  # noqa: B006 - FastAPI copies
) -> dict[str, Any]:
    """`resumed` once the driver took the request; `pending` when the execution has not
    reached its Pause yet (it resumes then); 400 with the reason when its inputs are refused."""
    store = context.store()
    execution = store.get_execution(execution_id)
    if execution is None:
        raise NotFound(f"no execution {execution_id!r} in the store")
    if execution.state != "RUNNING":
        raise BadRequest(
            f"execution {execution_id!r} is {execution.state}; only a running execution "
            "waiting at a Pause can be resumed"
        )
    request_resume(store, execution_id, inputs)
    outcome = wait_outcome(store, execution_id, RESUME_WAIT)
    if outcome is not None and outcome != "pending":
        raise BadRequest("the execution refused the resume", details=[outcome])
    return {"id": execution_id, "resumed": outcome is None, "pending": outcome == "pending"}
