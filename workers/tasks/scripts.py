"""What Kestra's script tasks share (shell Commands, Python Script and Commands).

Properties common to them (`ScriptParams`), and `run_script`, which runs the commands the way
Kestra's Process task runner does: `interpreter` (default `/bin/sh -c`) gets the before-commands
and commands joined by newlines, preceded by `set -e` when `failFast`; the cwd is the task run's
private working directory (also in the `WORKING_DIR` variable; the flow's own directory, when
known, is in `ASSETLINE_WORKDIR`). Stdout lines are logged at INFO, stderr lines at ERROR; a line
`::{"outputs": {...}}::` sets outputs (`vars`) and `::{"logs": [...]}::` logs lines instead.
Outputs: `exitCode`, `vars`, `outputFiles`, `stdOutLineCount`, `stdErrLineCount`.
A non-zero exit fails the run with the code and the last stderr lines; stderr output with
`warningOnStdErr` (Kestra's default: true) ends it in WARNING.

Only the Process runner exists here. `taskRunner: {type: io.kestra.plugin.core.runner.Process}`
is the normal case; a Docker task runner (the plugin's default in Kestra), the deprecated
`runner: DOCKER`/`docker` options and a `containerImage` are accepted for compatibility and
logged at WARN as ignored: the commands run as local processes with the worker's tools. Any
other task runner type (Kubernetes, cloud batch...) fails the run, since it cannot be honoured.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections import deque
from pathlib import Path
from typing import Any, Final

import pydantic

from workers.context import TaskContext
from workers.errors import ParamsError, TaskFailed
from workers.process import run_process
from workers.task_files import collect_output_files, late_bound, write_input_files

PROCESS_RUNNER: Final = "io.kestra.plugin.core.runner.Process"
PROCESS_RUNNER_NAMES: Final = frozenset(
    {PROCESS_RUNNER, "io.kestra.plugin.scripts.runner.process.Process", "process", "Process"}
)
DOCKER_RUNNER_NAMES: Final = frozenset(
    {"io.kestra.plugin.scripts.runner.docker.Docker", "docker", "Docker"}
)
STDERR_TAIL: Final = 10


class ScriptParams(pydantic.BaseModel):
    """Properties of every script task (Kestra's AbstractExecScript)."""

    model_config = pydantic.ConfigDict(extra="forbid")

    beforeCommands: list[str] | None = None  # noqa: N815 - Kestra's property names
    env: dict[str, str] | None = None
    inputFiles: dict[str, Any] | str | None = None  # noqa: N815
    outputFiles: list[str] | None = None  # noqa: N815
    warningOnStdErr: bool = True  # noqa: N815
    failFast: bool = True  # noqa: N815
    interpreter: list[str] = pydantic.Field(default=["/bin/sh", "-c"], min_length=1)
    containerImage: str | None = None  # noqa: N815
    taskRunner: dict[str, Any] | None = None  # noqa: N815
    targetOS: str = "AUTO"  # noqa: N815
    runner: str | None = None
    docker: dict[str, Any] | None = None


def check_runner(p: ScriptParams, ctx: TaskContext) -> None:
    """Log what is ignored; ParamsError for a task runner that cannot be honoured."""
    runner_type = None
    if p.taskRunner is not None:
        runner_type = p.taskRunner.get("type")
        if not isinstance(runner_type, str) or not runner_type:
            raise ParamsError("property 'taskRunner.type': missing; use " + PROCESS_RUNNER)
        if runner_type in DOCKER_RUNNER_NAMES:
            ctx.logger.warn(
                f"taskRunner {runner_type} ignored: assetline runs script tasks as local "
                f"processes ({PROCESS_RUNNER})"
            )
        elif runner_type not in PROCESS_RUNNER_NAMES:
            raise ParamsError(
                f"property 'taskRunner.type': {runner_type!r} is not available in assetline; "
                f"use {PROCESS_RUNNER}"
            )
    if (p.runner is not None and p.runner.upper() == "DOCKER") or p.docker is not None:
        ctx.logger.warn("runner DOCKER / docker options ignored: commands run as local processes")
    if p.containerImage:
        ctx.logger.warn(
            f"containerImage {p.containerImage!r} ignored: commands run as local processes "
            "with the tools installed on the worker"
        )


def python_shim(ctx: TaskContext) -> Path:
    """A folder with `python` and `python3` launching the worker's own interpreter."""
    folder = ctx.working_dir / ".assetline-bin"
    folder.mkdir(exist_ok=True)
    for name in ("python", "python3"):
        shim = folder / name
        shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
        shim.chmod(0o755)
    return folder


def run_script(
    p: ScriptParams, ctx: TaskContext, commands: list[str], *, path_prefix: Path | None = None
) -> dict[str, Any]:
    """Run `commands` as Kestra's Process runner would; return the script outputs."""
    check_runner(p, ctx)
    write_input_files(ctx, p.inputFiles)
    lines = ["set -e"] if p.failFast and _is_shell(p.interpreter) else []
    lines += [late_bound(line, ctx.working_dir) for line in (p.beforeCommands or [])]
    lines += [late_bound(line, ctx.working_dir) for line in commands]
    argv = [*p.interpreter, "\n".join(lines)]

    env = dict(os.environ)
    env.update(ctx.env)
    env.update(p.env or {})
    env["WORKING_DIR"] = str(ctx.working_dir)
    if ctx.spec.workdir:
        env["ASSETLINE_WORKDIR"] = ctx.spec.workdir
    if path_prefix is not None:
        env["PATH"] = f"{path_prefix}{os.pathsep}{env.get('PATH', os.defpath)}"

    collected = _Collected(ctx)
    code = run_process(ctx, argv, env=env, cwd=ctx.working_dir, on_line=collected.line)
    if code != 0:
        tail = " | ".join(collected.stderr_tail)
        detail = f"; last stderr lines: {tail}" if tail else ""
        raise TaskFailed(f"Command failed with exit code {code}{detail}")
    if collected.stderr_count and p.warningOnStdErr:
        ctx.warn()
    return {
        "exitCode": code,
        "vars": collected.outputs,
        "outputFiles": collect_output_files(ctx, p.outputFiles),
        "stdOutLineCount": collected.stdout_count,
        "stdErrLineCount": collected.stderr_count,
    }


def _is_shell(interpreter: list[str]) -> bool:
    return Path(interpreter[0]).name in {"sh", "bash", "zsh", "dash", "ksh"}


class _Collected:
    """Line handler: Kestra's `::{...}::` protocol, logging, counts and the stderr tail."""

    def __init__(self, ctx: TaskContext) -> None:
        self.ctx = ctx
        self.outputs: dict[str, Any] = {}
        self.stdout_count = 0
        self.stderr_count = 0
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL)

    def line(self, text: str, is_stderr: bool) -> None:
        if is_stderr:
            self.stderr_count += 1
            if text.strip():
                self.stderr_tail.append(text.strip())
        else:
            self.stdout_count += 1
        stripped = text.strip()
        if stripped.startswith("::{") and stripped.endswith("}::"):
            self._command(stripped[2:-2])
            return
        self.ctx.logger.log("ERROR" if is_stderr else "INFO", text)

    def _command(self, payload: str) -> None:
        try:
            command = json.loads(payload)
        except json.JSONDecodeError as exc:
            self.ctx.logger.warn(f"Invalid outputs '{exc.msg}' in line ::{payload}::")
            return
        if not isinstance(command, dict):
            self.ctx.logger.warn(f"Invalid outputs: ::{payload}:: is not a JSON object")
            return
        outputs = command.get("outputs")
        if isinstance(outputs, dict):
            self.outputs.update(outputs)
        for entry in command.get("logs") or []:
            if isinstance(entry, dict) and "message" in entry:
                level = str(entry.get("level", "INFO"))
                try:
                    self.ctx.logger.log(level, str(entry["message"]))
                except ValueError:
                    self.ctx.logger.info(str(entry["message"]))
