"""What a person sees while an execution runs: a rich progress display on a terminal, periodic
plain lines otherwise, nothing in `--json` mode. Implements the executor's `Progress` protocol;
it only counts and prints, and never blocks the executor (rich refreshes from its own thread).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class ConsoleProgress:
    """One bar per task id: done/total, running, failed, per second."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self._bars: dict[str, TaskID] = {}
        self._running: Counter[str] = Counter()
        self._failed: Counter[str] = Counter()
        self._done: Counter[str] = Counter()
        self._started_at: dict[str, float] = {}

    def __enter__(self) -> ConsoleProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def _bar(self, task_id: str, total: int | None = None) -> TaskID:
        bar = self._bars.get(task_id)
        if bar is None:
            bar = self._progress.add_task(task_id, total=total, detail="")
            self._bars[task_id] = bar
            self._started_at[task_id] = time.monotonic()
        elif total is not None:
            self._progress.update(bar, total=total)
        return bar

    def _refresh(self, task_id: str) -> None:
        elapsed = max(time.monotonic() - self._started_at[task_id], 1e-6)
        rate = self._done[task_id] / elapsed
        running = f"running {self._running[task_id]}  " if not task_id.endswith("(ForEach)") else ""
        detail = f"{running}failed {self._failed[task_id]}  {rate:,.0f}/s"
        self._progress.update(self._bars[task_id], completed=self._done[task_id], detail=detail)

    def foreach_planned(self, task_id: str, total: int) -> None:
        self._bar(f"{task_id} (ForEach)", total)

    def iteration_finished(self, task_id: str, state: str) -> None:
        key = f"{task_id} (ForEach)"
        self._done[key] += 1
        if state == "FAILED":
            self._failed[key] += 1
        self._refresh(key)

    def task_started(self, task_id: str, value: str | None) -> None:
        self._bar(task_id)
        self._running[task_id] += 1
        self._refresh(task_id)

    def task_finished(self, task_id: str, value: str | None, state: str) -> None:
        self._running[task_id] -= 1
        self._done[task_id] += 1
        if state == "FAILED":
            self._failed[task_id] += 1
        self._refresh(task_id)


class LineProgress:
    """Periodic plain lines (no terminal): at most one line every `every` seconds."""

    def __init__(self, stream: TextIO | None = None, every: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.every = every
        self._last = float("-inf")
        self._done = 0
        self._failed = 0
        self._running = 0
        self._start = time.monotonic()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._print()

    def _maybe_print(self) -> None:
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self._print()

    def _print(self) -> None:
        elapsed = max(time.monotonic() - self._start, 1e-6)
        print(
            f"[assetline] done {self._done} running {self._running} failed {self._failed} "
            f"({self._done / elapsed:,.0f}/s)",
            file=self.stream,
            flush=True,
        )

    def foreach_planned(self, task_id: str, total: int) -> None:
        print(f"[assetline] {task_id}: {total} values", file=self.stream, flush=True)

    def iteration_finished(self, task_id: str, state: str) -> None:
        pass

    def task_started(self, task_id: str, value: str | None) -> None:
        self._running += 1
        self._maybe_print()

    def task_finished(self, task_id: str, value: str | None, state: str) -> None:
        self._running -= 1
        self._done += 1
        if state == "FAILED":
            self._failed += 1
        self._maybe_print()
