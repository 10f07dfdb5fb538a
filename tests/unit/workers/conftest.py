"""Helpers for the workers tests: build a spec, run it through `run_task`, decode the answer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from workers.runner import run_task
from workers.spec import TaskResult, TaskRunSpec, decode_result, encode_spec

RunFn = Callable[..., TaskResult]


def make_spec(type_: str, properties: dict[str, Any], **fields: Any) -> TaskRunSpec:
    base: dict[str, Any] = {
        "execution_id": "exec1",
        "flow_namespace": "company.team",
        "flow_id": "demo",
        "task_id": "step",
        "taskrun_id": "run1",
    }
    base.update(fields)
    return TaskRunSpec(type=type_, properties=properties, **base)


@pytest.fixture
def spec_factory() -> Callable[..., TaskRunSpec]:
    """`make_spec` as a fixture: tests cannot import conftest modules."""
    return make_spec


@pytest.fixture
def run(tmp_path: Path) -> RunFn:
    """Run one task through the msgpack boundary, with a local storage under tmp_path."""

    def _run(type_: str, properties: dict[str, Any], **fields: Any) -> TaskResult:
        fields.setdefault("storage", str(tmp_path / "storage"))
        return decode_result(run_task(encode_spec(make_spec(type_, properties, **fields))))

    return _run
