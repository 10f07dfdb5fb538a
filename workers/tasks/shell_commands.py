"""Kestra's shell Commands task: run a list of commands with `/bin/sh -c` (see `scripts`).

Process handling lives in `workers.process`, Kestra's script conventions in `scripts`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pydantic

from workers.context import TaskContext
from workers.registry import TaskType, register_task
from workers.tasks.scripts import ScriptParams, run_script


class ShellCommandsParams(ScriptParams):
    commands: list[str] = pydantic.Field(min_length=1)


@register_task
class ShellCommands(TaskType):
    kind: ClassVar[str] = "io.kestra.plugin.scripts.shell.Commands"
    aliases: ClassVar[tuple[str, ...]] = ("shell",)
    Params: ClassVar[type[pydantic.BaseModel]] = ShellCommandsParams

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        p: ShellCommandsParams = params
        return run_script(p, ctx, p.commands)
