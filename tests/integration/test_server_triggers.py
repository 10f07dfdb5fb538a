"""`assetline server` as a subprocess on the session cluster: an UPDATED on `trips` runs the
mart flow exactly once, across a SIGKILL and a restart of the server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scheduler.deploy import deploy_flow
from scheduler.loader import load_flow
from scheduler.runner import run_flow
from scheduler.server import OFFSET_KEY
from store import Store

pytestmark = pytest.mark.integration
ASSETLINE = str(Path(sys.executable).with_name("assetline"))

STAGING = """
    id: staging
    namespace: company.team
    tasks:
      - id: load
        type: io.kestra.plugin.core.log.Log
        message: loading trips
        assets:
          outputs:
            - id: trips
              type: io.kestra.plugin.ee.assets.Table
"""
MART = """
    id: mart
    namespace: company.team
    triggers:
      - id: on_trips
        type: io.kestra.plugin.ee.assets.EventTrigger
        assetId: trips
        events: [UPDATED]
    tasks:
      - id: build
        type: io.kestra.plugin.core.log.Log
        message: "building from {{ trigger.assets[0].id }} ({{ trigger.assets[0].event }})"
        assets:
          inputs:
            - id: trips
          outputs:
            - id: mart_trips
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


class ServerProcess:
    """`assetline server` started by this test; ended by its own pid only."""

    def __init__(self, home: Path, address: str, log: Path) -> None:
        self.log = log
        self.handle = log.open("a")
        self.proc = subprocess.Popen(
            [ASSETLINE, "server", "--no-ui", "--home", str(home), "--address", address],
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
        )

    def wait_ready(self, marker: str, count: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log.read_text().count(marker) >= count:
                return
            assert self.proc.poll() is None, self.log.read_text()
            time.sleep(0.1)
        raise AssertionError(f"server never printed {marker!r}:\n{self.log.read_text()}")

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.handle.close()

    def terminate(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        self.handle.close()


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        if server.proc.poll() is None:
            server.terminate()


def _mart_runs(home: Path) -> list[Any]:
    with Store.open(home, readonly=True) as store:
        return store.list_executions(flow_id="mart")


def _wait_for(check: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_server_runs_the_mart_once_per_update_across_kill_and_restart(
    ray_session: Any, tmp_path: Path, home: Path, servers: list[ServerProcess]
) -> None:
    staging = load_flow(_write(tmp_path, "staging", STAGING))
    mart = load_flow(_write(tmp_path, "mart", MART))
    with Store.open(home) as store:
        assert deploy_flow(store, staging).created
        assert deploy_flow(store, mart).created
    log = tmp_path / "server.log"

    def run_staging() -> None:
        summary = run_flow(staging, {}, home=home, workdir=str(tmp_path))
        assert summary.state == "SUCCESS", summary.errors

    run_staging()  # CREATED trips: the trigger wants UPDATED, so nothing runs
    first = ServerProcess(home, ray_session.address, log)
    servers.append(first)
    first.wait_ready("server following", 1)
    run_staging()  # UPDATED trips -> one mart run
    _wait_for(lambda: [e.state for e in _mart_runs(home)] == ["SUCCESS"])
    first.kill()

    # Restarting after the trigger fired does not fire it again.
    second = ServerProcess(home, ray_session.address, log)
    servers.append(second)
    second.wait_ready("server following", 2)
    with Store.open(home, readonly=True) as store:
        offset = store.get_offset(OFFSET_KEY)
        assert offset is not None and offset >= store.last_seq() - 2
    time.sleep(1.0)
    assert len(_mart_runs(home)) == 1
    second.kill()

    # An update while no server runs is not lost: the next server fires it, once.
    run_staging()
    third = ServerProcess(home, ray_session.address, log)
    servers.append(third)
    third.wait_ready("server following", 3)
    _wait_for(lambda: [e.state for e in _mart_runs(home)] == ["SUCCESS", "SUCCESS"])
    time.sleep(1.0)
    runs = _mart_runs(home)
    assert len(runs) == 2
    with Store.open(home, readonly=True) as store:
        lines = [
            line.message
            for run in runs
            for taskrun in store.task_runs(run.id)
            for line in taskrun.logs
        ]
    assert lines.count("building from trips (UPDATED)") == 2
    third.terminate()
    assert third.proc.returncode == 0
    assert "server stopped" in log.read_text()
