"""A fan-out on the session's two-node cluster: it spreads over both nodes, and it survives a
Ray worker process killed in its middle with every asset recorded exactly once."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.integration.flows import open_store, run_text

pytestmark = pytest.mark.integration


def _node_ids(cluster: Any) -> set[str]:
    return {cluster.head_node.node_id, *(node.node_id for node in cluster.worker_nodes)}


def _raylet_pids(cluster: Any) -> list[int]:
    """The raylet process of each node of THIS cluster (never any other Ray on the machine)."""
    nodes = [cluster.head_node, *cluster.worker_nodes]
    return [info.process.pid for node in nodes for info in node.all_processes["raylet"]]


def test_foreach_iterations_run_on_both_nodes(ray_cluster: Any, tmp_path: Path, home: Path) -> None:
    summary = run_text(
        tmp_path,
        home,
        """
        id: spread
        namespace: company.cluster
        tasks:
          - id: each
            type: io.kestra.plugin.core.flow.ForEach
            values: [1, 2, 3, 4, 5, 6, 7, 8]
            concurrencyLimit: 0
            tasks:
              - id: nap
                type: io.kestra.plugin.scripts.shell.Commands
                commands:
                  - sleep 0.5
        """,
    )
    assert summary.state == "SUCCESS", summary.errors
    with open_store(home) as store:
        naps = [run for run in store.task_runs(summary.execution_id) if run.task_id == "nap"]
    assert sorted(run.value for run in naps if run.value is not None) == [
        str(i) for i in range(1, 9)
    ]
    nodes = {run.node for run in naps}
    assert len(nodes) == 2
    assert nodes == _node_ids(ray_cluster)


class WorkerKiller(threading.Thread):
    """Finds, among the children of the given raylets, one Ray worker busy with our task
    (`ray::run_task...`), once the fan-out has been running for `after` seconds, and SIGKILLs
    exactly that one process."""

    def __init__(self, raylet_pids: list[int], *, after: float) -> None:
        super().__init__(name="worker-killer", daemon=True)
        self.raylets = [psutil.Process(pid) for pid in raylet_pids]
        self.after = after
        self.stop = threading.Event()
        self.killed: tuple[int, str] | None = None

    def _busy_worker(self) -> psutil.Process | None:
        for raylet in self.raylets:
            for child in raylet.children():
                try:
                    title = " ".join(child.cmdline())
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
                if title.startswith("ray::run_task"):
                    return child
        return None

    def run(self) -> None:
        start = time.monotonic()
        while not self.stop.is_set():
            if time.monotonic() - start >= self.after:
                worker = self._busy_worker()
                if worker is not None:
                    title = " ".join(worker.cmdline())
                    os.kill(worker.pid, signal.SIGKILL)
                    self.killed = (worker.pid, title)
                    return
            time.sleep(0.01)


def test_a_killed_worker_mid_fanout_leaves_every_asset_exactly_once(
    ray_cluster: Any, tmp_path: Path, home: Path
) -> None:
    killer = WorkerKiller(_raylet_pids(ray_cluster), after=1.0)
    killer.start()
    try:
        summary = run_text(
            tmp_path,
            home,
            f"""
            id: survive
            namespace: company.faults
            tasks:
              - id: each
                type: io.kestra.plugin.core.flow.ForEach
                values: {list(range(30))}
                concurrencyLimit: 4
                tasks:
                  - id: work
                    type: io.kestra.plugin.scripts.shell.Commands
                    commands:
                      - sleep 0.3
                    assets:
                      outputs:
                        - id: "part_{{{{ taskrun.value }}}}"
                          type: io.kestra.plugin.ee.assets.File
            """,
        )
    finally:
        killer.stop.set()
        killer.join(10)
    assert killer.killed is not None, "no Ray worker busy with run_task was found to kill"
    pid, title = killer.killed
    assert title.startswith("ray::run_task")
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert summary.state == "SUCCESS", summary.errors
    expected = {f"part_{i}" for i in range(30)}
    with open_store(home) as store:
        assets = store.find_assets(namespace="company.faults")
        assert sorted(asset.id for asset in assets) == sorted(expected)
        for asset_id in expected:
            usages = store.usages(asset_id)
            assert [(u.direction, u.state) for u in usages] == [("OUTPUT", "SUCCESS")], asset_id
        works = [run for run in store.task_runs(summary.execution_id) if run.task_id == "work"]
    assert len(works) == 30
    assert {run.state for run in works} == {"SUCCESS"}
    assert sorted(int(run.value or -1) for run in works) == list(range(30))
