"""What a running task sees: `TaskContext` (logger, storage, working dir, env, deadline).

The runner builds one context per task run. Tasks log through `ctx.logger` (Kestra's levels
TRACE, DEBUG, INFO, WARN, ERROR), which masks secrets, drops lines below the run's `logLevel`
and keeps at most the first `HEAD_LINES` and the last `TAIL_LINES` lines, with one line in
between saying how many were dropped. `ctx.warn()` makes the run end in WARNING.
Long-running tasks register a cancel callback (`ctx.on_cancel`) so the runner can stop them
(kill a process tree, interrupt a query) when the deadline passes.

No task logic here, and nothing that touches the store.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from store.codec import LogLine
from workers.errors import TaskFailed
from workers.masking import Masker
from workers.spec import TaskRunSpec
from workers.storage import InternalStorage

LEVELS: Final = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR")
_RANK: Final = {name: rank for rank, name in enumerate(LEVELS)}
_ALIASES: Final = {"WARNING": "WARN", "FATAL": "ERROR", "CRITICAL": "ERROR"}
HEAD_LINES: Final = 500
TAIL_LINES: Final = 500


def level_name(level: str) -> str:
    """Kestra's name of a log level (accepts `warning`, `critical`...); ValueError if unknown."""
    name = level.strip().upper()
    name = _ALIASES.get(name, name)
    if name not in _RANK:
        raise ValueError(f"unknown log level {level!r}; use one of {', '.join(LEVELS)}")
    return name


class LogCollector:
    """Masked, filtered, capped log lines of one task run; safe to use from several threads."""

    def __init__(
        self,
        masker: Masker,
        threshold: str = "INFO",
        *,
        head: int = HEAD_LINES,
        tail: int = TAIL_LINES,
    ) -> None:
        self._masker = masker
        self._min_rank = _RANK[level_name(threshold)]
        self._head_size = head
        self._head: list[LogLine] = []
        self._tail: deque[LogLine] = deque(maxlen=tail)
        self._seen = 0
        self._lock = threading.Lock()

    def enabled(self, level: str) -> bool:
        return _RANK[level] >= self._min_rank

    def add(self, level: str, message: str) -> None:
        name = level_name(level)
        if _RANK[name] < self._min_rank:
            return
        line = LogLine(time=time.time(), level=name, message=self._masker.mask_text(message))
        with self._lock:
            self._seen += 1
            if len(self._head) < self._head_size:
                self._head.append(line)
            else:
                self._tail.append(line)

    @property
    def dropped(self) -> int:
        return self._seen - len(self._head) - len(self._tail)

    def lines(self) -> list[LogLine]:
        with self._lock:
            lines = list(self._head)
            dropped = self._seen - len(self._head) - len(self._tail)
            if dropped:
                stamp = self._tail[0].time if self._tail else time.time()
                note = (
                    f"[{dropped} log lines dropped: a task run keeps its first "
                    f"{self._head_size} and last {self._tail.maxlen} lines]"
                )
                lines.append(LogLine(time=stamp, level="WARN", message=note))
            lines.extend(self._tail)
            return lines


class TaskLogger:
    """The logger a task writes to: one method per Kestra level."""

    def __init__(self, collector: LogCollector) -> None:
        self._collector = collector

    def log(self, level: str, message: str) -> None:
        self._collector.add(level, message)

    def is_enabled(self, level: str) -> bool:
        return self._collector.enabled(level_name(level))

    def trace(self, message: str) -> None:
        self._collector.add("TRACE", message)

    def debug(self, message: str) -> None:
        self._collector.add("DEBUG", message)

    def info(self, message: str) -> None:
        self._collector.add("INFO", message)

    def warn(self, message: str) -> None:
        self._collector.add("WARN", message)

    def error(self, message: str) -> None:
        self._collector.add("ERROR", message)


class TaskContext:
    """Everything a task type's `run` may use besides its params."""

    def __init__(
        self,
        spec: TaskRunSpec,
        *,
        logger: TaskLogger,
        deadline: float | None = None,
        services: Mapping[str, Any] | None = None,
    ) -> None:
        self.spec = spec
        #: What the driving process lends a driver-side task (store, writer, ...); empty on a
        #: Ray worker, which never gets a handle.
        self.services: Mapping[str, Any] = services or {}
        self.logger = logger
        self._working_dir: Path | None = None
        #: Environment a task's processes get on top of the worker's (spec.env).
        self.env: dict[str, str] = dict(spec.env)
        #: `time.monotonic()` value past which the task must stop, or None.
        self.deadline = deadline
        self.cancelled = threading.Event()
        self.warned = False
        self._storage: InternalStorage | None = None
        self._cancel_callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    # -- state ---------------------------------------------------------------------------
    def warn(self, message: str | None = None) -> None:
        """End the task run in WARNING (optionally logging why at WARN level)."""
        self.warned = True
        if message:
            self.logger.warn(message)

    def remaining(self) -> float | None:
        """Seconds left before the deadline (never negative), or None without a deadline."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Call `callback` if the task run is cancelled (deadline passed); now if it already is."""
        with self._lock:
            if not self.cancelled.is_set():
                self._cancel_callbacks.append(callback)
                return
        callback()

    def cancel(self) -> None:
        """Mark the run cancelled and call every registered cancel callback once."""
        with self._lock:
            self.cancelled.set()
            callbacks, self._cancel_callbacks = self._cancel_callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception as exc:  # a failing cleanup must not hide the timeout
                self.logger.debug(f"cancel callback failed: {type(exc).__name__}: {exc}")

    def check_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise TaskFailed("task run cancelled")

    # -- files ---------------------------------------------------------------------------
    @property
    def working_dir(self) -> Path:
        """A private, empty folder for this task run (made on first use), removed when it ends."""
        if self._working_dir is None:
            safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in self.spec.task_id)
            self._working_dir = Path(tempfile.mkdtemp(prefix=f"assetline-{safe[:40]}-"))
        return self._working_dir

    def cleanup(self) -> None:
        """Remove the working directory, if one was made."""
        if self._working_dir is not None:
            shutil.rmtree(self._working_dir, ignore_errors=True)

    @property
    def storage(self) -> InternalStorage:
        if self._storage is None:
            self._storage = InternalStorage.from_root(self.spec.storage, env=self.spec.env)
        return self._storage

    def put_file(self, local: Path, name: str | None = None) -> str:
        """Store a file this task run produced; return its `kestra:///` URI."""
        spec = self.spec
        return self.storage.put(
            local,
            namespace=spec.flow_namespace,
            flow_id=spec.flow_id,
            execution_id=spec.execution_id,
            task_id=spec.task_id,
            taskrun_id=spec.taskrun_id,
            name=name,
        )

    def resolve_path(self, path: str) -> Path:
        """A path from the flow, relative ones against the run's workdir (else the cwd)."""
        candidate = Path(path).expanduser()
        if candidate.is_absolute():
            return candidate
        base = Path(self.spec.workdir) if self.spec.workdir else Path.cwd()
        return (base / candidate).absolute()
