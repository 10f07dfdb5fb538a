"""The executor's logic on the in-process backend (the same interface as Ray's), events
collected by a sink double: states, order, fan-out bounds, retries, branches, errors/finally."""

from __future__ import annotations

import asyncio
import textwrap
from typing import Any

from scheduler.backends import BackendError, InProcessBackend
from scheduler.executor import ExecutionSummary, Executor
from scheduler.loader import load_flow_text
from scheduler.packing import PackingBackend
from scheduler.templating import Renderer
from store.codec import ExecutionEvent, TaskRunEvent, decode_event


class ListSink:
    """Collects encoded events like the store's BatchingWriter would receive them."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def submit(self, event: bytes) -> None:
        self.events.append(decode_event(event))

    def flush(self, timeout: float | None = None) -> None:
        pass

    def taskruns(self) -> list[TaskRunEvent]:
        return [e for e in self.events if isinstance(e, TaskRunEvent)]

    def executions(self) -> list[ExecutionEvent]:
        return [e for e in self.events if isinstance(e, ExecutionEvent)]


def run(
    text: str,
    inputs: dict[str, Any] | None = None,
    backend: Any = None,
    renderer_environ: dict[str, str] | None = None,
    **kwargs: Any,
) -> tuple[ExecutionSummary, ListSink]:
    flow = load_flow_text(textwrap.dedent(text).lstrip(), "flow.yaml")
    sink = ListSink()
    executor = Executor(
        flow,
        inputs or {},
        backend=backend or InProcessBackend(),
        sink=sink,
        renderer=Renderer(environ=renderer_environ),
        **kwargs,
    )
    return asyncio.run(executor.run()), sink


def test_sequential_tasks_see_previous_outputs() -> None:
    summary, sink = run("""
        id: seq
        namespace: company.team
        tasks:
          - id: first
            type: io.kestra.plugin.core.debug.Return
            format: "one"
          - id: second
            type: io.kestra.plugin.core.debug.Return
            format: "{{ outputs.first.value }}-two"
    """)
    assert summary.state == "SUCCESS"
    runs = sink.taskruns()
    assert [(r.task_id, r.result) for r in runs] == [
        ("first", {"value": "one"}),
        ("second", {"value": "one-two"}),
    ]
    assert [e.state for e in sink.executions()] == ["RUNNING", "SUCCESS"]
    assert summary.outputs["second"] == {"value": "one-two"}


def test_foreach_records_parent_and_child_task_runs() -> None:
    summary, sink = run("""
        id: each
        namespace: company.team
        tasks:
          - id: loop
            type: io.kestra.plugin.core.flow.ForEach
            values: [1, 2, 3]
            concurrencyLimit: 0
            tasks:
              - id: echo
                type: io.kestra.plugin.core.debug.Return
                format: "{{ taskrun.value }}/{{ taskrun.iteration }}"
    """)
    assert summary.state == "SUCCESS"
    runs = sink.taskruns()
    children = sorted(r.result["value"] for r in runs if r.task_id == "echo")
    assert children == ["1/0", "2/1", "3/2"]
    parent = next(r for r in runs if r.task_id == "loop")
    assert parent.task_type == "io.kestra.plugin.core.flow.ForEach"
    assert {r.parent_taskrun_id for r in runs if r.task_id == "echo"} == {parent.taskrun_id}


def test_foreach_stops_starting_values_after_a_failure() -> None:
    summary, sink = run("""
        id: each_fail
        namespace: company.team
        tasks:
          - id: loop
            type: io.kestra.plugin.core.flow.ForEach
            values: ["a", "b", "c", "d"]
            tasks:
              - id: check
                type: io.kestra.plugin.scripts.shell.Commands
                commands: ["test {{ taskrun.value }} != b"]
    """)
    assert summary.state == "FAILED"
    values = [r.value for r in sink.taskruns() if r.task_id == "check"]
    assert values == ["a", "b"]


def test_if_and_switch_choose_their_branch() -> None:
    summary, sink = run(
        """
        id: branches
        namespace: company.team
        inputs:
          - id: env
            type: SELECT
            values: [dev, prod]
        tasks:
          - id: when
            type: io.kestra.plugin.core.flow.If
            condition: "{{ inputs.env == 'prod' }}"
            then:
              - id: in_prod
                type: io.kestra.plugin.core.log.Log
                message: prod
            else:
              - id: not_prod
                type: io.kestra.plugin.core.log.Log
                message: dev
          - id: pick
            type: io.kestra.plugin.core.flow.Switch
            value: "{{ inputs.env }}"
            cases:
              dev:
                - id: case_dev
                  type: io.kestra.plugin.core.log.Log
                  message: dev
            defaults:
              - id: case_default
                type: io.kestra.plugin.core.log.Log
                message: other
    """,
        {"env": "prod"},
    )
    assert summary.state == "SUCCESS"
    ran = {r.task_id for r in sink.taskruns()}
    assert "in_prod" in ran and "case_default" in ran
    assert not {"not_prod", "case_dev"} & ran


def test_template_error_fails_the_task_with_position_and_runs_finally() -> None:
    summary, sink = run("""
        id: broken
        namespace: company.team
        tasks:
          - id: bad
            type: io.kestra.plugin.core.log.Log
            message: "{{ outputs.nope.value }}"
        finally:
          - id: always
            type: io.kestra.plugin.core.log.Log
            message: done
    """)
    assert summary.state == "FAILED"
    assert summary.errors[0].startswith("flow.yaml:4:5: task 'bad': property 'message': ")
    states = {r.task_id: r.state for r in sink.taskruns()}
    assert states == {"bad": "FAILED", "always": "SUCCESS"}


def test_dag_runs_after_dependencies() -> None:
    summary, sink = run("""
        id: dag
        namespace: company.team
        tasks:
          - id: graph
            type: io.kestra.plugin.core.flow.Dag
            tasks:
              - task:
                  id: join
                  type: io.kestra.plugin.core.debug.Return
                  format: "{{ outputs.left.value }}+{{ outputs.right.value }}"
                dependsOn: [left, right]
              - task:
                  id: left
                  type: io.kestra.plugin.core.debug.Return
                  format: L
              - task:
                  id: right
                  type: io.kestra.plugin.core.debug.Return
                  format: R
    """)
    assert summary.state == "SUCCESS", summary.errors
    join = next(r for r in sink.taskruns() if r.task_id == "join")
    assert join.result == {"value": "L+R"}


def test_packing_keeps_one_task_run_per_value() -> None:
    backend = PackingBackend(InProcessBackend(), parallelism=2, probe=4, short=1.0)
    summary, sink = run(
        """
        id: packed
        namespace: company.team
        tasks:
          - id: loop
            type: io.kestra.plugin.core.flow.ForEach
            values: "{{ range(200) | list }}"
            concurrencyLimit: 0
            tasks:
              - id: item
                type: io.kestra.plugin.core.debug.Return
                format: "v{{ taskrun.value }}"
                assets:
                  outputs: [{id: "item-{{ taskrun.value }}", type: ITEM}]
    """,
        backend=backend,
        max_inflight=16,
    )
    assert summary.state == "SUCCESS"
    items = [r for r in sink.taskruns() if r.task_id == "item"]
    assert len(items) == 200 and len({r.taskrun_id for r in items}) == 200
    assert sorted(r.result["value"] for r in items) == sorted(f"v{i}" for i in range(200))
    assert backend.packs_sent > 0 and backend.packed_runs > 100
    assert len(summary.assets_written) == 200


class LosingBackend:
    """A backend whose worker never answers: the executor must record the attempt itself."""

    async def run(self, spec: Any) -> Any:
        raise BackendError("WorkerCrashedError: the worker died unexpectedly")

    async def run_pack(self, specs: list[Any]) -> list[Any]:
        raise BackendError("WorkerCrashedError: the worker died unexpectedly")


def test_a_lost_worker_is_a_failed_attempt_with_its_assets_declared() -> None:
    summary, sink = run(
        """
        id: lost
        namespace: company.team
        tasks:
          - id: doomed
            type: io.kestra.plugin.core.log.Log
            message: "{{ secret('PW') }}"
            assets:
              outputs: [{id: never, type: Table}]
        """,
        backend=LosingBackend(),
        renderer_environ={"ASSETLINE_SECRET_PW": "hunter22"},
    )
    assert summary.state == "FAILED"
    assert summary.errors == ["task 'doomed': WorkerCrashedError: the worker died unexpectedly"]
    (doomed,) = sink.taskruns()
    assert doomed.state == "FAILED" and doomed.outputs[0].id == "never"
    assert doomed.properties == {"message": "******"}
    assert summary.assets_written == []


def test_current_each_output_and_parents_follow_kestra() -> None:
    summary, sink = run(
        """
        id: current
        namespace: company.team
        tasks:
          - id: outer
            type: io.kestra.plugin.core.flow.ForEach
            values: ["v11", "v12"]
            tasks:
              - id: inner
                type: io.kestra.plugin.core.flow.ForEach
                values: ["v21", "v22"]
                tasks:
                  - id: out
                    type: io.kestra.plugin.core.debug.Return
                    format: "{{ parents[0].taskrun.value }}-{{ taskrun.value }}"
                  - id: back
                    type: io.kestra.plugin.core.debug.Return
                    format: "{{ currentEachOutput(outputs.out).value }}"
          - id: check
            type: io.kestra.plugin.core.debug.Return
            format: "{{ '{\\"a\\": 1}' is json }} {{ 'nope' is json }}"
        """
    )
    assert summary.state == "SUCCESS", summary.errors
    back = sorted(r.result["value"] for r in sink.taskruns() if r.task_id == "back")
    assert back == ["v11-v21", "v11-v22", "v12-v21", "v12-v22"]
    check = next(r for r in sink.taskruns() if r.task_id == "check")
    assert check.result == {"value": "true false"}


def test_error_logs_reach_the_errors_branch() -> None:
    summary, sink = run(
        """
        id: errs
        namespace: company.team
        tasks:
          - id: failed
            type: io.kestra.plugin.core.execution.Fail
            errorMessage: disk full
        errors:
          - id: report
            type: io.kestra.plugin.core.debug.Return
            format: "{% for log in errorLogs() %}{{ log.taskId }}: {{ log.message }}{% endfor %}"
        """
    )
    assert summary.state == "FAILED"
    report = next(r for r in sink.taskruns() if r.task_id == "report")
    assert report.result == {"value": "failed: disk full"}
