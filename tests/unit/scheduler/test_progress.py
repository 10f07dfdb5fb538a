"""What a person sees while a flow runs: counts per task on a terminal, periodic plain lines
otherwise."""

from __future__ import annotations

import io

from rich.console import Console

from scheduler.progress import ConsoleProgress, LineProgress


def test_line_progress_prints_counts_at_most_every_period() -> None:
    stream = io.StringIO()
    with LineProgress(stream, every=3600) as progress:
        progress.foreach_planned("each", 3)
        for value in ("a", "b", "c"):
            progress.task_started("work", value)
        progress.task_finished("work", "a", "SUCCESS")
        progress.task_finished("work", "b", "FAILED")
    lines = stream.getvalue().splitlines()
    assert lines[0] == "[assetline] each: 3 values"
    # one line when the first task started (the period had not begun), one at the end
    assert lines[1].startswith("[assetline] done 0 running 1 failed 0")
    assert lines[-1].startswith("[assetline] done 2 running 1 failed 1")
    assert len(lines) == 3


def test_console_progress_shows_done_running_failed_and_rate() -> None:
    screen = io.StringIO()
    console = Console(file=screen, width=160, force_terminal=False)
    with ConsoleProgress(console) as progress:
        progress.foreach_planned("each", 2)
        progress.task_started("work", "a")
        progress.task_started("work", "b")
        progress.task_finished("work", "a", "SUCCESS")
        progress.task_finished("work", "b", "FAILED")
        progress.iteration_finished("each", "SUCCESS")
        progress.iteration_finished("each", "FAILED")
    lines = screen.getvalue().splitlines()
    each = next(line for line in lines if "each (ForEach)" in line)
    work = next(line for line in lines if line.lstrip("⠋ ").startswith("work"))
    assert " 2/2 " in each and "failed 1" in each
    assert " 2/? " in work and "running 0" in work and "failed 1" in work
