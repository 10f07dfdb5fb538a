"""Fail, Sleep, OutputValues and Echo, run the way a Ray worker runs them (no Ray needed)."""

from __future__ import annotations

import time
from typing import Any

from workers.runner import run_task
from workers.spec import TaskResult, TaskRunSpec, decode_result, encode_spec


def run(task_type: str, properties: dict[str, Any], **fields: Any) -> TaskResult:
    spec = TaskRunSpec(
        execution_id="e",
        flow_namespace="company.team",
        flow_id="f",
        task_id="t",
        taskrun_id="tr",
        type=task_type,
        properties=properties,
        **fields,
    )
    return decode_result(run_task(encode_spec(spec)))


def test_fail_always_or_on_a_truthy_condition() -> None:
    result = run("io.kestra.plugin.core.execution.Fail", {"errorMessage": "stop here"})
    assert (result.state, result.error) == ("FAILED", "stop here")
    legacy = run("io.kestra.core.tasks.executions.Fail", {})
    assert legacy.error == "Task failure"
    for falsy in ("false", "0", "", "-0"):
        assert run("fail", {"condition": falsy}).state == "SUCCESS"
    assert run("fail", {"condition": "true", "errorMessage": "bad"}).error == "bad"


def test_sleep_waits_and_a_timeout_ends_it() -> None:
    start = time.monotonic()
    assert run("io.kestra.plugin.core.flow.Sleep", {"duration": "PT0.2S"}).state == "SUCCESS"
    assert time.monotonic() - start >= 0.2
    start = time.monotonic()
    result = run("sleep", {"duration": "PT30S"}, timeout=0.3)
    assert result.state == "FAILED" and "timed out" in (result.error or "")
    assert time.monotonic() - start < 10
    bad = run("sleep", {"duration": "soon"})
    assert bad.state == "FAILED" and "property 'duration'" in (bad.error or "")


def test_output_values_become_outputs() -> None:
    result = run("io.kestra.plugin.core.output.OutputValues", {"values": {"a": "1", "b": [2]}})
    assert result.outputs == {"values": {"a": "1", "b": [2]}}


def test_echo_logs_at_its_level() -> None:
    result = run("io.kestra.core.tasks.debugs.Echo", {"format": "hello", "level": "WARN"})
    assert result.state == "SUCCESS"
    assert [(line.level, line.message) for line in result.logs] == [("WARN", "hello")]
    bad = run("echo", {"format": "x", "level": "LOUD"})
    assert bad.state == "FAILED"
