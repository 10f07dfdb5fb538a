"""Where task runs execute, behind one small async interface.

`RayBackend` sends each encoded `TaskRunSpec` to a Ray remote task (or a pack of them to one Ray
task) and awaits the encoded `TaskResult`. `InProcessBackend` is the test double with the same
interface: it runs `workers.runner.run_task` in a thread, for tests of the executor's logic.

Backends never touch the store. A task's own failure comes back as a FAILED result; a failure
of the infrastructure (a worker that died after Ray's retries, a result that never came back
within the timeout) raises `BackendError`, which the executor turns into a FAILED attempt.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from scheduler.errors import SchedulerError
from workers.runner import run_task, run_task_pack
from workers.spec import TaskResult, TaskRunSpec, decode_result, encode_spec

log = logging.getLogger(__name__)

#: Seconds a driver waits past a task's own timeout before it cancels the Ray task itself.
TIMEOUT_GRACE = 10.0


class BackendError(SchedulerError):
    """The task run could not be executed or its result was lost."""


class Backend(Protocol):
    async def run(self, spec: TaskRunSpec) -> TaskResult: ...

    async def run_pack(self, specs: list[TaskRunSpec]) -> list[TaskResult]: ...


class InProcessBackend:
    """Runs task runs in this process's default thread pool (test double, no Ray)."""

    async def run(self, spec: TaskRunSpec) -> TaskResult:
        data = await asyncio.to_thread(run_task, encode_spec(spec))
        return decode_result(data)

    async def run_pack(self, specs: list[TaskRunSpec]) -> list[TaskResult]:
        datas = await asyncio.to_thread(run_task_pack, [encode_spec(spec) for spec in specs])
        return [decode_result(data) for data in datas]


class RayBackend:
    """Runs each task run as a Ray remote task. Ray retries a task whose worker died."""

    def __init__(self, *, max_retries: int = 3, num_cpus: float = 1.0) -> None:
        import ray

        self._ray = ray
        options: dict[str, Any] = {"max_retries": max_retries, "num_cpus": num_cpus}
        self._one = ray.remote(**options)(run_task)
        self._pack = ray.remote(**options)(run_task_pack)

    async def _await(self, ref: Any, timeout: float | None) -> Any:
        ray = self._ray
        try:
            if timeout is None:
                return await ref
            return await asyncio.wait_for(asyncio.wrap_future(ref.future()), timeout)
        except TimeoutError as exc:
            ray.cancel(ref, force=True)
            raise BackendError(
                f"no result within {timeout:.0f} s; the Ray task was cancelled"
            ) from exc
        except ray.exceptions.TaskCancelledError as exc:
            raise BackendError("the Ray task was cancelled") from exc
        except ray.exceptions.RayError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BackendError(f"{type(exc).__name__}: {first}") from exc

    async def run(self, spec: TaskRunSpec) -> TaskResult:
        timeout = spec.timeout + TIMEOUT_GRACE if spec.timeout else None
        ref = self._one.remote(encode_spec(spec))
        return decode_result(await self._await(ref, timeout))

    async def run_pack(self, specs: list[TaskRunSpec]) -> list[TaskResult]:
        timeouts = [spec.timeout for spec in specs]
        timeout = sum(t for t in timeouts if t) + TIMEOUT_GRACE if all(timeouts) else None
        ref = self._pack.remote([encode_spec(spec) for spec in specs])
        return [decode_result(data) for data in await self._await(ref, timeout)]
