"""The executor: drives one execution of a flow through its states, on a backend.

It walks the flow (Sequential and AllowFailure blocks, Parallel, ForEach, If, Switch,
errors/finally), plans each runnable task run with the planner, awaits it on the backend with
at most `concurrencyLimit` values (and a global cap) in flight, applies retries, timeouts,
`allowFailure`/`allowWarning`, and hands every terminal attempt to the store writer. It is the
only module that decides states; it never opens LMDB itself (it gets a writer and a query
callable) and never imports Ray (the backend does).

Memory stays flat in a fan-out: per finished task run it keeps only its outputs (for templates)
and counters; the records themselves go to the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from scheduler.backends import Backend, BackendError
from scheduler.errors import InputError, TemplateError
from scheduler.flow_model import Flow, TaskNode
from scheduler.inputs import resolve_declared
from scheduler.planner import (
    ExecutionInfo,
    Frame,
    OutputsTree,
    base_context,
    foreach_values,
    new_id,
    plan_task_run,
    render_condition,
    render_duration,
    task_context,
)
from scheduler.templating import Renderer
from store.codec import ExecutionEvent, TaskRunEvent, encode
from workers.masking import Masker
from workers.registry import resolve as resolve_task_type
from workers.runner import execute, failed_result
from workers.spec import TaskResult, TaskRunSpec

SUCCESS, WARNING, FAILED, KILLED = "SUCCESS", "WARNING", "FAILED", "KILLED"

FOREACH = {
    "io.kestra.plugin.core.flow.ForEach",
    "io.kestra.plugin.core.flow.EachSequential",
    "io.kestra.plugin.core.flow.EachParallel",
}
_log = logging.getLogger("assetline")

SEQUENTIAL = "io.kestra.plugin.core.flow.Sequential"
ALLOW_FAILURE = "io.kestra.plugin.core.flow.AllowFailure"
PARALLEL = "io.kestra.plugin.core.flow.Parallel"
IF = "io.kestra.plugin.core.flow.If"
SWITCH = "io.kestra.plugin.core.flow.Switch"
DAG = "io.kestra.plugin.core.flow.Dag"
WAIT_FOR = "io.kestra.plugin.core.flow.WaitFor"
PAUSE = "io.kestra.plugin.core.flow.Pause"


class EventSink(Protocol):
    """Where terminal attempts and execution records go (the store's BatchingWriter)."""

    def submit(self, event: bytes) -> None: ...

    def flush(self, timeout: float | None = None) -> None: ...


class ResumeChannel(Protocol):
    """Where a Pause without a delay learns it was resumed (`scheduler.resume`)."""

    def take(self, execution_id: str) -> Mapping[str, Any] | None:
        """The inputs of a resume asked for the execution (taking the request), or None."""

    def refuse(self, execution_id: str, message: str) -> None:
        """Tell whoever asked that the inputs were refused (the Pause keeps waiting)."""

    def paused(self, execution_id: str, task_id: str, inputs: list[dict[str, Any]]) -> None:
        """A Pause started waiting, for these onResume inputs (id, type, required, ...)."""

    def waiting_over(self, execution_id: str) -> None:
        """The Pause stopped waiting (resumed, timed out or cancelled)."""


#: How often a Pause waiting for a resume looks for one.
RESUME_POLL = 0.25


def _input_form(decl: Any) -> dict[str, Any]:
    """What a resume form needs of an onResume input declaration."""
    form = {"id": decl.id, "type": decl.type, "required": decl.required}
    for name in ("defaults", "description", "displayName", "values"):
        value = getattr(decl, name, None)
        if value is not None:
            form[name] = list(value) if isinstance(value, tuple) else value
    return form


class Progress(Protocol):
    """What the executor tells a progress display. All calls are cheap and synchronous."""

    def task_started(self, task_id: str, value: str | None) -> None: ...

    def task_finished(self, task_id: str, value: str | None, state: str) -> None: ...

    def foreach_planned(self, task_id: str, total: int) -> None: ...

    def iteration_finished(self, task_id: str, state: str) -> None: ...


class NoProgress:
    def task_started(self, task_id: str, value: str | None) -> None:
        pass

    def task_finished(self, task_id: str, value: str | None, state: str) -> None:
        pass

    def foreach_planned(self, task_id: str, total: int) -> None:
        pass

    def iteration_finished(self, task_id: str, state: str) -> None:
        pass


@dataclass
class ExecutionSummary:
    """What a finished execution amounts to (the task runs themselves are in the store)."""

    execution_id: str
    namespace: str
    flow_id: str
    state: str
    start: float
    end: float
    counts: dict[str, int]
    assets_read: list[str]
    assets_written: list[str]
    errors: list[str]
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Scope:
    parents: tuple[Frame, ...] = ()

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(frame.value for frame in self.parents)

    def enter(self, frame: Frame) -> _Scope:
        return _Scope((*self.parents, frame))


def _worst(states: Sequence[str]) -> str:
    for state in (KILLED, FAILED, WARNING):
        if state in states:
            return state
    return SUCCESS


class Executor:
    """Runs one execution. Create one per execution; call `run()` once."""

    def __init__(
        self,
        flow: Flow,
        inputs: Mapping[str, Any],
        *,
        backend: Backend,
        sink: EventSink,
        renderer: Renderer,
        storage: str = "",
        workdir: str | None = None,
        environ: Mapping[str, str] | None = None,
        execution_id: str | None = None,
        max_inflight: int = 256,
        heartbeat_every: float = 10.0,
        progress: Progress | None = None,
        trigger: Mapping[str, Any] | None = None,
        secrets: Sequence[str] = (),
        task_env: Callable[[TaskNode], Mapping[str, str]] | None = None,
        services: Mapping[str, Any] | None = None,
        resume: ResumeChannel | None = None,
    ) -> None:
        import os

        self.flow = flow
        self.resume = resume
        self.info = ExecutionInfo(
            execution_id=execution_id or new_id(),
            flow=flow,
            inputs=dict(inputs),
            start=time.time(),
            storage=storage,
            workdir=workdir,
            labels=dict(flow.labels),
            trigger=trigger,
        )
        self.backend = backend
        self.sink = sink
        self.renderer = renderer
        self.environ = os.environ if environ is None else environ
        self.base = base_context(self.info, self.environ)
        #: What `errorLogs()` returns to templates: ERROR lines of the failed task runs so far.
        self.error_logs: list[dict[str, Any]] = []
        self.base["_error_logs"] = self.error_logs
        self.outputs = OutputsTree()
        self.counts: Counter[str] = Counter()
        self.assets_read: set[str] = set()
        self.assets_written: set[str] = set()
        self.errors: list[str] = []
        self.progress: Progress = progress or NoProgress()
        self._slots = asyncio.Semaphore(max(1, max_inflight))
        self._max_inflight = max(1, max_inflight)
        self._heartbeat_every = heartbeat_every
        self._masker = Masker(secrets)
        self._task_env = task_env
        #: Lent to driver-side task types (store, writer, subflow runner): never sent to Ray.
        self.services: dict[str, Any] = dict(services or {})
        self._driver_kinds: dict[str, bool] = {}

    @property
    def execution_id(self) -> str:
        return self.info.execution_id

    # -- execution record -------------------------------------------------------------------

    def _execution_event(
        self, state: str, *, end: float | None = None, error: str | None = None
    ) -> bytes:
        return encode(
            ExecutionEvent(
                id=self.execution_id,
                namespace=self.flow.namespace,
                flow_id=self.flow.id,
                state=state,
                start=self.info.start,
                end=end,
                heartbeat=time.time(),
                inputs=self._masker.mask(dict(self.info.inputs)),
                labels=dict(self.flow.labels),
                flow_revision=self.flow.revision,
                error=error,
            )
        )

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_every)
            self.sink.submit(self._execution_event("RUNNING"))

    async def run(self) -> ExecutionSummary:
        self.sink.submit(self._execution_event("RUNNING"))
        beat = asyncio.create_task(self._heartbeat())
        state = FAILED
        try:
            state = await self._block(self.flow.tasks, _Scope())
            if state == FAILED and self.flow.errors:
                await self._block(self.flow.errors, _Scope())
            if self.flow.finally_:
                final = await self._block(self.flow.finally_, _Scope())
                state = _worst([state, final])
        except asyncio.CancelledError:
            state = KILLED
            self.errors.append("execution killed")
            raise
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            end = time.time()
            error = self.errors[0] if self.errors else None
            self.sink.submit(self._execution_event(state, end=end, error=error))
            self._end = end
            self._state = state
        return self.summary()

    def summary(self) -> ExecutionSummary:
        return ExecutionSummary(
            execution_id=self.execution_id,
            namespace=self.flow.namespace,
            flow_id=self.flow.id,
            state=self._state,
            start=self.info.start,
            end=self._end,
            counts=dict(self.counts),
            assets_read=sorted(self.assets_read),
            assets_written=sorted(self.assets_written),
            errors=list(self.errors),
            outputs={k: v for k, v in self.outputs.data.items()},
        )

    # -- walking the flow -------------------------------------------------------------------

    async def _block(self, nodes: Sequence[TaskNode], scope: _Scope) -> str:
        """Tasks in order; stop at the first failure that is not allowed. Returns the block's
        state (WARNING when a task warned or an allowed failure happened)."""
        states: list[str] = []
        for node in nodes:
            state = await self._node(node, scope)
            states.append(state)
            if state in (FAILED, KILLED):
                break
        return _worst(states)

    async def _node(self, node: TaskNode, scope: _Scope) -> str:
        if node.disabled:
            return SUCCESS
        if node.runIf is not None:
            taskrun_id = new_id()
            context = self._context(node, scope, taskrun_id)
            try:
                run = render_condition(
                    self.renderer, node.runIf, context, where=f"task '{node.id}': runIf", node=node
                )
            except TemplateError as exc:
                return self._driver_failure(node, scope, taskrun_id, 1, time.time(), str(exc))
            if not run:
                return SUCCESS
        if node.flowable:
            state = await self._flowable(node, scope)
        else:
            state = await self._runnable(node, scope)
        if state == FAILED and node.allowFailure:
            return WARNING
        if state == WARNING and node.allowWarning:
            return SUCCESS
        return state

    def _context(
        self, node: TaskNode, scope: _Scope, taskrun_id: str, attempt: int = 1, start: float = 0.0
    ) -> dict[str, Any]:
        return task_context(
            self.base, self.outputs, node, taskrun_id, scope.parents, attempt=attempt, start=start
        )

    async def _flowable(self, node: TaskNode, scope: _Scope) -> str:
        taskrun_id = new_id()
        start = time.time()
        error: str | None = None
        result: dict[str, Any] = {}
        try:
            if node.kind in FOREACH:
                state = await self._foreach(node, scope, taskrun_id)
            elif node.kind == PARALLEL:
                limit = int(node.properties.get("concurrent") or 0)
                state = await self._concurrently(node.tasks, scope, limit)
            elif node.kind in (IF, SWITCH):
                state = await self._branch(node, scope, taskrun_id)
            elif node.kind == DAG:
                state = await self._dag(node, scope)
            elif node.kind == WAIT_FOR:
                state, result = await self._wait_for(node, scope, taskrun_id)
            elif node.kind == PAUSE:
                state, error, result = await self._pause(node, scope, taskrun_id)
            else:  # Sequential and anything that is a plain block
                state = await self._block(node.tasks, scope)
        except TemplateError as exc:
            error = str(exc)
            self.errors.append(error)
            state = FAILED
        if state == FAILED and node.errors:
            await self._block(node.errors, scope)
        if state == FAILED and node.kind == ALLOW_FAILURE:
            state = WARNING  # the block stopped at its failure; the flow goes on
        if node.finally_:
            state = _worst([state, await self._block(node.finally_, scope)])
        self._record(
            node, scope, taskrun_id, attempt=1, start=start, state=state, error=error, result=result
        )
        return state

    async def _wait_for(
        self, node: TaskNode, scope: _Scope, taskrun_id: str
    ) -> tuple[str, dict[str, Any]]:
        """Kestra's WaitFor: the tasks again and again until the condition renders true."""
        props = node.properties
        frequency = props.get("checkFrequency") or {}
        most = int(frequency.get("maxIterations", 100))
        context = self._context(node, scope, taskrun_id)
        longest = render_duration(
            self.renderer,
            frequency.get("maxDuration", "PT1H"),
            context,
            node=node,
            name="maxDuration",
        )
        interval = render_duration(
            self.renderer, frequency.get("interval", "PT1S"), context, node=node, name="interval"
        )
        began = time.monotonic()
        iteration = 1
        while True:
            self.outputs.set(node.id, scope.values, {"iterationCount": iteration})
            state = await self._block(node.tasks, scope)
            if state in (FAILED, KILLED):
                return state, {"iterationCount": iteration}
            context = self._context(node, scope, taskrun_id)
            if render_condition(
                self.renderer,
                props.get("condition", ""),
                context,
                where=f"task '{node.id}': condition",
                node=node,
            ):
                return state, {"iterationCount": iteration}
            if iteration >= most or time.monotonic() - began >= longest:
                reached = "maxIterations" if iteration >= most else "maxDuration"
                if props.get("failOnMaxReached"):
                    self.errors.append(
                        f"task '{node.id}': {reached} reached before its condition held"
                    )
                    return FAILED, {"iterationCount": iteration}
                return state, {"iterationCount": iteration}
            await asyncio.sleep(interval)
            iteration += 1

    async def _pause(
        self, node: TaskNode, scope: _Scope, taskrun_id: str
    ) -> tuple[str, str | None, dict[str, Any]]:
        """Kestra's Pause: wait `delay`, then its tasks. Without a delay, wait for a resume
        (`assetline executions resume`) whose inputs fit `onResume`, up to the task's `timeout`
        (then fail, as Kestra does when nobody resumes)."""
        props = node.properties
        delay = props.get("delay") or props.get("pauseDuration")
        context = self._context(node, scope, taskrun_id)
        if delay:
            await asyncio.sleep(
                render_duration(self.renderer, delay, context, node=node, name="delay")
            )
            state = await self._block(node.tasks, scope) if node.tasks else SUCCESS
            return state, None, {}
        written = node.timeout_template or node.timeout
        timeout = (
            render_duration(self.renderer, written, context, node=node, name="timeout")
            if written
            else None
        )
        values = await self._await_resume(node, timeout)
        if values is None:
            assert timeout is not None  # only a timeout ends the wait without a resume
            error = (
                f"task '{node.id}': paused for {timeout:g}s and nobody resumed it; resume it "
                f"with `assetline executions resume {self.execution_id}`, or give the Pause a "
                "`delay` to resume on its own"
            )
            self.errors.append(error)
            return FAILED, error, {}
        result = {"onResume": values}
        self.outputs.set(node.id, scope.values, result)
        state = await self._block(node.tasks, scope) if node.tasks else SUCCESS
        return state, None, result

    async def _await_resume(self, node: TaskNode, timeout: float | None) -> dict[str, Any] | None:
        """The `onResume` values of the first resume whose inputs fit, or None after
        `timeout`. A resume with bad inputs is refused and the wait goes on."""
        channel = self.resume
        if channel is None:
            raise TemplateError(
                f"task '{node.id}': a Pause without a delay needs a resume, which this run "
                "cannot receive (it has no store); give the Pause a `delay`",
                node.pos,
            )
        _log.warning(
            "execution %s paused at task '%s': resume it with `assetline executions resume %s`",
            self.execution_id,
            node.id,
            self.execution_id,
        )
        decls = node.properties.get("onResume") or ()
        channel.paused(self.execution_id, node.id, [_input_form(decl) for decl in decls])
        deadline = time.monotonic() + timeout if timeout is not None else None
        try:
            while True:
                given = channel.take(self.execution_id)
                if given is not None:
                    try:
                        return resolve_declared(
                            decls,
                            given,
                            node.pos,
                            f"not among the onResume inputs of task '{node.id}'",
                        )
                    except InputError as exc:
                        channel.refuse(self.execution_id, str(exc))
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                await asyncio.sleep(RESUME_POLL)
        finally:
            channel.waiting_over(self.execution_id)

    def _record(
        self,
        node: TaskNode,
        scope: _Scope,
        taskrun_id: str,
        *,
        attempt: int,
        start: float,
        state: str,
        error: str | None,
        result: dict[str, Any] | None = None,
    ) -> None:
        """Record a task run the driver itself ended: a flowable, or a runnable that failed
        before it could be sent (a template error)."""
        frame = scope.parents[-1] if scope.parents else None
        self.sink.submit(
            encode(
                TaskRunEvent(
                    execution_id=self.execution_id,
                    flow_namespace=self.flow.namespace,
                    flow_id=self.flow.id,
                    task_id=node.id,
                    taskrun_id=taskrun_id,
                    attempt=attempt,
                    state=state,
                    start=start,
                    end=time.time(),
                    task_type=node.kind,
                    value=frame.value if frame else None,
                    iteration=frame.iteration if frame else None,
                    parent_taskrun_id=frame.taskrun_id if frame else None,
                    error=error,
                    result=result or {},
                )
            )
        )

    async def _foreach(self, node: TaskNode, scope: _Scope, taskrun_id: str) -> str:
        key = "values" if "values" in node.properties else "value"
        context = self._context(node, scope, taskrun_id)
        where = f"task '{node.id}': {key}"
        rendered = self.renderer.render_value(
            node.properties.get(key), context, where=where, pos=node.pos
        )
        try:
            values = foreach_values(rendered, where=where)
        except TemplateError as exc:
            raise TemplateError(exc.message, node.pos) from exc
        if node.kind == "io.kestra.plugin.core.flow.EachSequential":
            limit = 1
        elif node.kind == "io.kestra.plugin.core.flow.EachParallel":
            limit = int(node.properties.get("concurrent") or 0)
        else:
            limit = int(node.properties.get("concurrencyLimit", 1) or 0)
        if limit <= 0:
            limit = self._max_inflight
        self.progress.foreach_planned(node.id, len(values))
        pending = enumerate(values)
        states: list[str] = []
        stop = False

        async def lane() -> None:
            nonlocal stop
            for iteration, value in pending:
                if stop:
                    return
                frame = Frame(
                    task_id=node.id, taskrun_id=taskrun_id, value=value, iteration=iteration
                )
                state = await self._block(node.tasks, scope.enter(frame))
                self.progress.iteration_finished(node.id, state)
                if state != SUCCESS:
                    states.append(state)
                if state in (FAILED, KILLED):
                    stop = True

        await asyncio.gather(*(lane() for _ in range(min(limit, len(values)) or 0)))
        return _worst(states)

    async def _concurrently(self, nodes: Sequence[TaskNode], scope: _Scope, limit: int) -> str:
        gate = asyncio.Semaphore(limit if limit > 0 else len(nodes) or 1)

        async def one(node: TaskNode) -> str:
            async with gate:
                return await self._node(node, scope)

        return _worst(await asyncio.gather(*(one(node) for node in nodes)))

    async def _branch(self, node: TaskNode, scope: _Scope, taskrun_id: str) -> str:
        context = self._context(node, scope, taskrun_id)
        if node.kind == IF:
            chosen = (
                "then"
                if render_condition(
                    self.renderer,
                    node.properties.get("condition", ""),
                    context,
                    where=f"task '{node.id}': condition",
                    node=node,
                )
                else "else"
            )
        else:
            value = self.renderer.render_value(
                node.properties.get("value", ""),
                context,
                where=f"task '{node.id}': value",
                pos=node.pos,
            )
            chosen = f"case:{value}" if f"case:{value}" in node.branches else "defaults"
        return await self._block(node.branches.get(chosen, ()), scope)

    async def _dag(self, node: TaskNode, scope: _Scope) -> str:
        """Tasks start as soon as the tasks they depend on ended successfully."""
        by_id = {child.id: child for child in node.tasks}
        done: dict[str, asyncio.Future[str]] = {
            task_id: asyncio.get_running_loop().create_future() for task_id in by_id
        }
        limit = int(node.properties.get("concurrent") or 0)
        gate = asyncio.Semaphore(limit if limit > 0 else len(by_id) or 1)

        async def one(child: TaskNode) -> str:
            for dep in node.depends_on.get(child.id, ()):
                if await asyncio.shield(done[dep]) in (FAILED, KILLED):
                    done[child.id].set_result(FAILED)
                    return FAILED
            async with gate:
                state = await self._node(child, scope)
            done[child.id].set_result(state)
            return state

        return _worst(await asyncio.gather(*(one(child) for child in node.tasks)))

    # -- runnable task runs -----------------------------------------------------------------

    async def _runnable(self, node: TaskNode, scope: _Scope) -> str:
        taskrun_id = new_id()
        frame = scope.parents[-1] if scope.parents else None
        value = frame.value if frame else None
        attempt = 1
        first_start = time.time()
        self.progress.task_started(node.id, value)
        while True:
            start = time.time()
            context = self._context(node, scope, taskrun_id, attempt, start)
            try:
                spec = plan_task_run(
                    self.renderer,
                    self.info,
                    node,
                    context,
                    taskrun_id=taskrun_id,
                    parents=scope.parents,
                    attempt=attempt,
                    env=self._task_env(node) if self._task_env else None,
                )
            except TemplateError as exc:
                state = self._driver_failure(node, scope, taskrun_id, attempt, start, str(exc))
                self.progress.task_finished(node.id, value, state)
                return state
            if self._in_driver(node.kind):
                result = await asyncio.to_thread(execute, spec, services=self.services)
            else:
                async with self._slots:
                    try:
                        result = await self.backend.run(spec)
                    except BackendError as exc:
                        result = self._lost_result(spec, start, str(exc))
            self.sink.submit(result.event)
            if (
                result.state == FAILED
                and node.retry is not None
                and node.retry.allows(attempt, time.time() - first_start)
            ):
                self.counts["RETRIED"] += 1
                delay = node.retry.delay(attempt)
                if delay > 0:
                    await asyncio.sleep(delay)
                attempt += 1
                continue
            break
        state = result.state
        if (
            state == SUCCESS
            and attempt > 1
            and node.retry is not None
            and node.retry.warningOnRetry
        ):
            state = WARNING
        self.counts[state] += 1
        self.outputs.set(node.id, scope.values, result.outputs)
        for ref in spec.inputs:
            self.assets_read.add(ref.id)
        if state in (SUCCESS, WARNING):
            for decl in spec.outputs:
                self.assets_written.add(decl.id)
        if state == FAILED and result.error:
            self.errors.append(f"task '{node.id}'{_at(value)}: {result.error}")
            self.error_logs.extend(
                {
                    "taskId": node.id,
                    "taskRunId": taskrun_id,
                    "value": value,
                    "level": line.level,
                    "message": line.message,
                    "timestamp": line.time,
                }
                for line in result.logs
                if line.level == "ERROR"
            )
        self.progress.task_finished(node.id, value, state)
        return state

    def _in_driver(self, kind: str) -> bool:
        found = self._driver_kinds.get(kind)
        if found is None:
            task_type = resolve_task_type(kind)
            found = task_type is not None and task_type.runs_on == "driver"
            self._driver_kinds[kind] = found
        return found

    def _lost_result(self, spec: TaskRunSpec, start: float, error: str) -> TaskResult:
        """A FAILED attempt built by the driver when the backend could not deliver one."""
        return failed_result(spec, error, start=start)

    def _driver_failure(
        self, node: TaskNode, scope: _Scope, taskrun_id: str, attempt: int, start: float, error: str
    ) -> str:
        """Record a task run that failed before it could be sent (e.g. a template error)."""
        error = self._masker.mask(error)
        self._record(
            node, scope, taskrun_id, attempt=attempt, start=start, state=FAILED, error=error
        )
        self.counts[FAILED] += 1
        self.errors.append(error)
        frame = scope.parents[-1] if scope.parents else None
        self.error_logs.append(
            {
                "taskId": node.id,
                "taskRunId": taskrun_id,
                "value": frame.value if frame else None,
                "level": "ERROR",
                "message": error,
                "timestamp": time.time(),
            }
        )
        return FAILED


def _at(value: str | None) -> str:
    return f" [{value}]" if value is not None else ""
