"""Running one task run on a worker: the functions the scheduler wraps in `ray.remote`.

`run_task` takes a msgpack `TaskRunSpec` and returns a msgpack `TaskResult` whose `event` is the
store's `TaskRunEvent` for that attempt. It never raises: an unknown type, properties that do
not validate, a task's own failure, a timeout or any unexpected exception all end as a FAILED
result with a one-line `error` (logged too; the traceback only at DEBUG). Secrets are masked in
logs, outputs, properties and the error. Each run gets a private temporary working directory,
removed afterwards. Past `spec.timeout` the task is cancelled (its processes killed) and the run
ends FAILED "timed out after N s".

This module never opens the store and never imports the scheduler.
"""

from __future__ import annotations

import difflib
import socket
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Final

import pydantic

from store.codec import LogLine, TaskRunEvent, encode
from workers.context import LogCollector, TaskContext, TaskLogger, level_name
from workers.errors import ParamsError, TaskFailed
from workers.masking import Masker
from workers.output_values import to_msgpack_value
from workers.registry import TaskType, known_names, known_types, resolve
from workers.spec import TaskResult, TaskRunSpec, decode_spec, encode_result

#: Seconds a cancelled task gets to stop (its processes are killed first) before we give up.
CANCEL_GRACE: Final = 5.0
MAX_ERROR_CHARS: Final = 4000


def run_task(spec: bytes) -> bytes:
    """Run one task run: msgpack `TaskRunSpec` in, msgpack `TaskResult` out. Never raises."""
    try:
        decoded = decode_spec(spec)
    except Exception as exc:
        return encode_result(_invalid_spec_result(exc))
    try:
        return encode_result(execute(decoded))
    except Exception as exc:  # a bug of ours: still answer with a FAILED result
        return encode_result(_crash_result(decoded, exc))


def run_task_pack(specs: list[bytes]) -> list[bytes]:
    """Several task runs in one Ray task, one after the other; results in the same order."""
    return [run_task(spec) for spec in specs]


def execute(spec: TaskRunSpec, *, services: Mapping[str, Any] | None = None) -> TaskResult:
    """Run a decoded spec and build its result (the typed core of `run_task`).

    `services` are what the driving process lends a driver-side task type (`runs_on =
    "driver"`); such a type refuses to run without them, i.e. on a Ray worker."""
    start = time.time()
    masker = Masker(spec.secrets)
    try:
        threshold = level_name(spec.log_level)
        bad_level = None
    except ValueError as exc:
        threshold, bad_level = "INFO", str(exc)
    collector = LogCollector(masker, threshold)
    logger = TaskLogger(collector)
    if bad_level:
        logger.warn(f"logLevel ignored: {bad_level}")

    outputs: dict[str, Any] = {}
    error: str | None = None
    warned = False
    try:
        task_type = _resolve(spec)
        if task_type.runs_on == "driver" and not services:
            raise TaskFailed(
                f"task '{spec.task_id}': {task_type.kind} runs in the driving process (it needs "
                "the asset store) and cannot run on a Ray worker"
            )
        params = validate_params(task_type, spec.properties)
        outputs, warned = _run(task_type, params, spec, logger, services)
    except Exception as exc:
        error = _one_line(masker.mask_text(_describe(exc, spec)))
        logger.error(error)
        if logger.is_enabled("DEBUG"):
            logger.debug("".join(traceback.format_exception(exc)))

    masked_outputs: dict[str, Any] = masker.mask(to_msgpack_value(outputs)) if not error else {}
    state = "FAILED" if error else ("WARNING" if warned else "SUCCESS")
    end = time.time()
    logs = collector.lines()
    node = node_id()
    event = TaskRunEvent(
        execution_id=spec.execution_id,
        flow_namespace=spec.flow_namespace,
        flow_id=spec.flow_id,
        task_id=spec.task_id,
        taskrun_id=spec.taskrun_id,
        attempt=spec.attempt,
        state=state,
        start=start,
        end=end,
        inputs=list(spec.inputs),
        outputs=list(spec.outputs),
        task_type=_canonical(spec.type),
        value=spec.value,
        iteration=spec.iteration,
        parent_taskrun_id=spec.parent_taskrun_id,
        properties=masker.mask(to_msgpack_value(spec.properties)),
        result=masked_outputs,
        logs=logs,
        error=error,
        node=node,
    )
    return TaskResult(
        taskrun_id=spec.taskrun_id,
        attempt=spec.attempt,
        state=state,
        outputs=masked_outputs,
        logs=logs,
        event=encode(event),
        error=error,
        node=node,
        start=start,
        end=end,
    )


def validate_params(task_type: type[TaskType], properties: dict[str, Any]) -> pydantic.BaseModel:
    """The task type's Params built from rendered properties; ParamsError naming each problem."""
    try:
        return task_type.Params.model_validate(properties)
    except pydantic.ValidationError as exc:
        fields = list(task_type.Params.model_fields)
        problems = [_problem(err, fields) for err in exc.errors(include_url=False)]
        raise ParamsError("; ".join(problems)) from exc


def _problem(err: Any, fields: list[str]) -> str:
    loc = _loc(err["loc"])
    if err["type"] == "extra_forbidden":
        top = str(err["loc"][0]) if err["loc"] else loc
        close = difflib.get_close_matches(top, fields, n=1) if len(err["loc"]) == 1 else []
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return f"unknown property '{loc}'{hint}"
    return f"property '{loc}': {err['msg']}"


def _loc(parts: tuple[int | str, ...]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(root)"


def _resolve(spec: TaskRunSpec) -> type[TaskType]:
    found = resolve(spec.type)
    if found is not None:
        return found
    close = difflib.get_close_matches(spec.type, known_names(), n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise TaskFailed(
        f"task '{spec.task_id}': unknown task type '{spec.type}'{hint}; known types: "
        f"{', '.join(known_types())}"
    )


def _canonical(type_name: str) -> str:
    try:
        found = resolve(type_name)
    except Exception:
        return type_name
    return found.kind if found is not None else type_name


def _run(
    task_type: type[TaskType],
    params: pydantic.BaseModel,
    spec: TaskRunSpec,
    logger: TaskLogger,
    services: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], bool]:
    timeout = spec.timeout if spec.timeout and spec.timeout > 0 else None
    deadline = time.monotonic() + timeout if timeout is not None else None
    ctx = TaskContext(spec, logger=logger, deadline=deadline, services=services)
    try:
        task = task_type()
        if timeout is None:
            outputs = task.run(params, ctx)
        else:
            outputs = _run_with_deadline(task, params, ctx, timeout)
        if not isinstance(outputs, dict):
            outputs = {} if outputs is None else {"value": outputs}
        return outputs, ctx.warned
    finally:
        ctx.cleanup()


def _run_with_deadline(
    task: TaskType, params: pydantic.BaseModel, ctx: TaskContext, timeout: float
) -> dict[str, Any]:
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["outputs"] = task.run(params, ctx)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"assetline-task-{ctx.spec.task_id}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        ctx.cancel()
        thread.join(CANCEL_GRACE)
        raise TaskFailed(f"timed out after {timeout:g} s")
    if "error" in box:
        raise box["error"]
    outputs: dict[str, Any] = box.get("outputs") or {}
    return outputs


def _describe(exc: BaseException, spec: TaskRunSpec) -> str:
    if isinstance(exc, ParamsError):
        return f"task '{spec.task_id}': {exc}"
    if isinstance(exc, TaskFailed):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _one_line(message: str) -> str:
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    text = " | ".join(lines) or "task failed"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


@lru_cache(maxsize=1)
def _host_name() -> str:
    return socket.gethostname()


def node_id() -> str:
    """The Ray node id when running inside Ray, else this machine's host name."""
    ray: Any = sys.modules.get("ray")
    if ray is not None:
        try:
            if ray.is_initialized():
                return str(ray.get_runtime_context().get_node_id())
        except Exception:
            pass
    return _host_name()


def _invalid_spec_result(exc: Exception) -> TaskResult:
    now = time.time()
    error = _one_line(f"invalid task run spec: {exc}")
    event = TaskRunEvent(
        execution_id="",
        flow_namespace="",
        flow_id="",
        task_id="",
        taskrun_id="",
        attempt=0,
        state="FAILED",
        start=now,
        end=now,
        error=error,
        node=node_id(),
    )
    return TaskResult(
        taskrun_id="",
        attempt=0,
        state="FAILED",
        outputs={},
        logs=[LogLine(time=now, level="ERROR", message=error)],
        event=encode(event),
        error=error,
        node=event.node,
        start=now,
        end=now,
    )


def _crash_result(spec: TaskRunSpec, exc: Exception) -> TaskResult:
    return failed_result(spec, f"worker error: {type(exc).__name__}: {exc}", node=node_id())


def failed_result(
    spec: TaskRunSpec, error: str, *, start: float | None = None, node: str | None = None
) -> TaskResult:
    """A FAILED attempt for `spec` that never produced its own result: a crash in this module,
    or (built by the driver) a worker lost or a result that never came back. `error` is masked."""
    now = time.time()
    error = _one_line(Masker(spec.secrets).mask_text(error))
    event = TaskRunEvent(
        execution_id=spec.execution_id,
        flow_namespace=spec.flow_namespace,
        flow_id=spec.flow_id,
        task_id=spec.task_id,
        taskrun_id=spec.taskrun_id,
        attempt=spec.attempt,
        state="FAILED",
        start=now if start is None else start,
        end=now,
        inputs=list(spec.inputs),
        outputs=list(spec.outputs),
        task_type=_canonical(spec.type),
        value=spec.value,
        iteration=spec.iteration,
        parent_taskrun_id=spec.parent_taskrun_id,
        properties=Masker(spec.secrets).mask(to_msgpack_value(spec.properties)),
        error=error,
        node=node,
    )
    return TaskResult(
        taskrun_id=spec.taskrun_id,
        attempt=spec.attempt,
        state="FAILED",
        outputs={},
        logs=[LogLine(time=now, level="ERROR", message=error)],
        event=encode(event),
        error=error,
        node=node,
        start=event.start,
        end=now,
    )
