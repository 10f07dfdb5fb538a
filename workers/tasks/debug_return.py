"""Kestra's Return task (debugging): its rendered `format` becomes the output `value`.

No I/O besides the task logger.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pydantic

from workers.context import TaskContext
from workers.registry import TaskType, register_task


class ReturnParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    format: str | None = None


@register_task
class Return(TaskType):
    kind: ClassVar[str] = "io.kestra.plugin.core.debug.Return"
    aliases: ClassVar[tuple[str, ...]] = ("return", "io.kestra.core.tasks.debugs.Return")
    Params: ClassVar[type[pydantic.BaseModel]] = ReturnParams

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        p: ReturnParams = params
        if p.format is not None:
            ctx.logger.debug(p.format)
        return {"value": p.format}
