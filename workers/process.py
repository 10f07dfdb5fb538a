"""Running a command as a local process for a task: line-by-line output, cancel by killing.

`run_process` starts the command in its own session (process group), hands every stdout and
stderr line to a callback as it arrives, and registers a cancel callback on the task context
that kills the whole process tree (children first, then the group). When the command exits
but something it left in the background still holds its output pipes open, the leftovers are
killed after `LEFTOVER_GRACE` seconds so a task run always ends.

No task semantics here (exit codes, outputs, states): the script tasks decide those.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Final

import psutil

from workers.context import TaskContext
from workers.errors import TaskFailed

LEFTOVER_GRACE: Final = 2.0

LineHandler = Callable[[str, bool], None]


def kill_tree(pid: int) -> None:
    """Kill a process, every descendant of it and its process group; ignore ones already gone."""
    try:
        root = psutil.Process(pid)
        family = [*root.children(recursive=True), root]
    except psutil.Error:
        family = []
    for proc in family:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    with contextlib.suppress(OSError):
        os.killpg(pid, signal.SIGKILL)


def run_process(
    ctx: TaskContext,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    on_line: LineHandler,
) -> int:
    """Run `argv`; call `on_line(line, is_stderr)` per output line; return the exit code."""
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        )
    except OSError as exc:
        raise TaskFailed(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from exc
    ctx.logger.debug(f"started process {proc.pid}: {' '.join(argv)}")
    ctx.on_cancel(lambda: kill_tree(proc.pid))
    assert proc.stdout is not None and proc.stderr is not None
    readers = [
        threading.Thread(target=_pump, args=(proc.stdout, False, on_line), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, True, on_line), daemon=True),
    ]
    for reader in readers:
        reader.start()
    code = proc.wait()
    for reader in readers:
        reader.join(LEFTOVER_GRACE)
    if any(reader.is_alive() for reader in readers):
        ctx.logger.warn(
            f"process {proc.pid} exited but left background processes holding its output; "
            "killing them"
        )
        kill_tree(proc.pid)
        for reader in readers:
            reader.join(LEFTOVER_GRACE)
    if ctx.cancelled.is_set():
        raise TaskFailed("task run cancelled; its processes were killed")
    return code


def _pump(stream: IO[str], is_stderr: bool, on_line: LineHandler) -> None:
    with stream:
        for line in stream:
            on_line(line.rstrip("\r\n"), is_stderr)
