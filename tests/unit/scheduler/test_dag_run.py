"""A Dag ordered by assets alone, run by the executor on the in-process backend: a join task
renders its upstreams' outputs, so it only succeeds if it really waited for them."""

from __future__ import annotations

import asyncio
import textwrap

from scheduler.backends import InProcessBackend
from scheduler.executor import Executor
from scheduler.loader import load_flow_text
from scheduler.templating import Renderer
from store.codec import TaskRunEvent, decode_event

FLOW = """
id: derived
namespace: company.team
tasks:
  - id: graph
    type: io.kestra.plugin.core.flow.Dag
    concurrencyLimit: 0
    tasks:
      - task:
          id: join
          type: io.kestra.plugin.core.debug.Return
          format: "{{ outputs.left.value }}+{{ outputs.right.value }}"
          assets:
            inputs: [{id: A}, {id: B}]
      - task:
          id: left
          type: io.kestra.plugin.core.debug.Return
          format: "{{ FORMAT_LEFT }}"
          assets:
            outputs: [{id: A}]
      - task:
          id: right
          type: io.kestra.plugin.core.debug.Return
          format: R
          assets:
            outputs: [{id: B}]
"""


class ListSink:
    def __init__(self) -> None:
        self.events: list[TaskRunEvent] = []

    def submit(self, event: bytes) -> None:
        decoded = decode_event(event)
        if isinstance(decoded, TaskRunEvent):
            self.events.append(decoded)

    def flush(self, timeout: float | None = None) -> None:
        pass


def _run(left_format: str) -> tuple[str, dict[str, TaskRunEvent]]:
    text = textwrap.dedent(FLOW).replace("{{ FORMAT_LEFT }}", left_format)
    flow = load_flow_text(text, "flow.yaml")
    sink = ListSink()
    executor = Executor(flow, {}, backend=InProcessBackend(), sink=sink, renderer=Renderer())
    summary = asyncio.run(executor.run())
    return summary.state, {event.task_id: event for event in sink.events}


def test_join_waits_for_the_tasks_that_output_its_inputs() -> None:
    state, runs = _run("L")
    assert state == "SUCCESS"
    assert runs["join"].result == {"value": "L+R"}
    assert runs["join"].start >= max(runs["left"].end, runs["right"].end)


def test_join_does_not_run_when_an_upstream_fails() -> None:
    state, runs = _run("{{ undefined_name }}")
    assert state == "FAILED"
    assert runs["left"].state == "FAILED"
    assert "undefined_name" in (runs["left"].error or "")
    assert runs["right"].state == "SUCCESS"
    assert "join" not in runs
