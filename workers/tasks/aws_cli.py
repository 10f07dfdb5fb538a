"""Kestra's AwsCLI task: run `aws ...` commands with the connection in the environment.

The commands run through the script tasks' machinery (`scripts.run_script`: `/bin/sh -c`,
`inputFiles`, `outputFiles`, `::{"outputs": ...}::` lines, exit codes). The `aws` found first on
the PATH is the one installed next to the worker's interpreter (the awscli package), so no
Docker image is needed. Credentials, session token, region and endpoint go to the process's
environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
`AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`), never on its command line; `outputFormat` sets
`AWS_DEFAULT_OUTPUT`. The task's own `env` is applied last and wins, as in Kestra.

Nothing here knows about flows or the store.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, ClassVar, Literal

import pydantic

from workers.context import TaskContext
from workers.registry import TaskType, register_task
from workers.tasks.aws_connection import AwsConnection, aws_env
from workers.tasks.scripts import ScriptParams, run_script


class AwsCLIParams(ScriptParams, AwsConnection):
    commands: list[str] = pydantic.Field(min_length=1)
    outputFormat: Literal["JSON", "TEXT", "TABLE", "YAML"] = "JSON"  # noqa: N815

    @pydantic.field_validator("outputFormat", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


def aws_bin_dir() -> Path:
    """The folder holding this Python environment's `aws` command (next to the interpreter)."""
    return Path(sys.executable).parent


@register_task
class AwsCLI(TaskType):
    kind: ClassVar[str] = "io.kestra.plugin.aws.cli.AwsCLI"
    aliases: ClassVar[tuple[str, ...]] = ("aws",)
    Params: ClassVar[type[pydantic.BaseModel]] = AwsCLIParams

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        p: AwsCLIParams = params
        env = aws_env(p, ctx)
        env["AWS_DEFAULT_OUTPUT"] = p.outputFormat.lower()
        env.update(p.env or {})
        with_env = p.model_copy(update={"env": env})
        return run_script(with_env, ctx, p.commands, path_prefix=aws_bin_dir())
