"""Kestra's small core tasks that steer a flow rather than touch data: Fail, Sleep,
OutputValues and the deprecated Echo.

No I/O besides the task logger (Sleep waits, and wakes early when the task run is cancelled).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import pydantic

from workers.context import TaskContext, level_name
from workers.errors import TaskFailed
from workers.registry import TaskType, register_task

_FALSY = frozenset({"", "false", "0", "-0", "null", "none"})


class FailParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    condition: str | bool | None = None
    errorMessage: str = "Task failure"  # noqa: N815 - Kestra's property name


@register_task
class Fail(TaskType):
    """Fail the task run, always or when `condition` renders truthy (Kestra's truthiness)."""

    kind: ClassVar[str] = "io.kestra.plugin.core.execution.Fail"
    aliases: ClassVar[tuple[str, ...]] = ("fail", "io.kestra.core.tasks.executions.Fail")
    Params: ClassVar[type[pydantic.BaseModel]] = FailParams

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        p: FailParams = params
        if p.condition is not None and str(p.condition).strip().lower() in _FALSY:
            return {}
        raise TaskFailed(p.errorMessage)


class SleepParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    duration: dt.timedelta


@register_task
class Sleep(TaskType):
    """Wait for an ISO-8601 `duration` (PT5S); a timeout or cancellation ends the wait."""

    kind: ClassVar[str] = "io.kestra.plugin.core.flow.Sleep"
    aliases: ClassVar[tuple[str, ...]] = ("sleep",)
    Params: ClassVar[type[pydantic.BaseModel]] = SleepParams

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        p: SleepParams = params
        seconds = p.duration.total_seconds()
        if seconds < 0:
            raise TaskFailed(f"duration {p.duration} is negative; give a duration such as PT5S")
        ctx.cancelled.wait(seconds)
        return {}


class OutputValuesParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    values: dict[str, Any] = {}


@register_task
class OutputValues(TaskType):
    """Expose rendered `values` as the outputs `values.<key>` for later tasks."""

    kind: ClassVar[str] = "io.kestra.plugin.core.output.OutputValues"
    aliases: ClassVar[tuple[str, ...]] = ("outputs",)
    Params: ClassVar[type[pydantic.BaseModel]] = OutputValuesParams

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        p: OutputValuesParams = params
        return {"values": dict(p.values)}


class EchoParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    format: str
    level: str = "INFO"


@register_task
class Echo(TaskType):
    """Kestra's deprecated Echo: log the rendered `format` at `level` (use Log instead)."""

    kind: ClassVar[str] = "io.kestra.plugin.core.debug.Echo"
    aliases: ClassVar[tuple[str, ...]] = ("echo", "io.kestra.core.tasks.debugs.Echo")
    Params: ClassVar[type[pydantic.BaseModel]] = EchoParams

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        p: EchoParams = params
        ctx.logger.log(level_name(p.level), p.format)
        return {}
