"""Kestra's Log task: write one or more messages to the task run's logs. No outputs.

No I/O besides the task logger.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import pydantic

from workers.context import TaskContext
from workers.registry import TaskType, register_task


class LogParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    message: str | list[str]
    level: Literal["TRACE", "DEBUG", "INFO", "WARN", "ERROR"] = "INFO"


@register_task
class Log(TaskType):
    kind: ClassVar[str] = "io.kestra.plugin.core.log.Log"
    aliases: ClassVar[tuple[str, ...]] = ("log", "io.kestra.core.tasks.log.Log")
    Params: ClassVar[type[pydantic.BaseModel]] = LogParams

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        p: LogParams = params
        messages = [p.message] if isinstance(p.message, str) else p.message
        for message in messages:
            ctx.logger.log(p.level, message)
        return {}
