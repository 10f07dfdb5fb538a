"""Helpers for integration tests: write a flow, run it on the session's Ray, open the store."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from scheduler.executor import ExecutionSummary
from scheduler.loader import load_flow
from scheduler.runner import run_flow
from store import Store


def write_flow(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def run_text(
    tmp_path: Path, home: Path, text: str, inputs: dict[str, Any] | None = None, **kwargs: Any
) -> ExecutionSummary:
    flow = load_flow(write_flow(tmp_path, text))
    return run_flow(flow, inputs or {}, home=home, workdir=str(tmp_path), **kwargs)


def open_store(home: Path) -> Store:
    return Store.open(home, readonly=True)
