"""Kestra's Python Script and Python Commands tasks, run by the worker's own interpreter.

`Script` writes `script` to a file in the working directory and runs it after the
`beforeCommands`; `Commands` runs its `commands` in the shell. In both, `python` and `python3`
on the PATH are the interpreter running the worker (`sys.executable`), so the packages
installed with assetline are importable. Kestra's conventions come from `scripts`.
"""

from __future__ import annotations

import shlex
from typing import Any, ClassVar

import pydantic

from workers.context import TaskContext
from workers.registry import TaskType, register_task
from workers.task_files import late_bound
from workers.tasks.scripts import ScriptParams, python_shim, run_script


class PythonScriptParams(ScriptParams):
    script: str


class PythonCommandsParams(ScriptParams):
    commands: list[str] = pydantic.Field(min_length=1)


@register_task
class PythonScript(TaskType):
    kind: ClassVar[str] = "io.kestra.plugin.scripts.python.Script"
    aliases: ClassVar[tuple[str, ...]] = ("python",)
    Params: ClassVar[type[pydantic.BaseModel]] = PythonScriptParams

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        p: PythonScriptParams = params
        shim = python_shim(ctx)
        path = ctx.working_dir / "_assetline_script.py"
        path.write_text(late_bound(p.script, ctx.working_dir), encoding="utf-8")
        return run_script(p, ctx, [f"python {shlex.quote(str(path))}"], path_prefix=shim)


@register_task
class PythonCommands(TaskType):
    kind: ClassVar[str] = "io.kestra.plugin.scripts.python.Commands"
    aliases: ClassVar[tuple[str, ...]] = ("python-commands",)
    Params: ClassVar[type[pydantic.BaseModel]] = PythonCommandsParams

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        p: PythonCommandsParams = params
        return run_script(p, ctx, p.commands, path_prefix=python_shim(ctx))
