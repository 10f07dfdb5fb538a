"""Shared fixtures. Ray starts once per test session, as a real two-node cluster on loopback
(a head node and one worker node, each its own raylet), and every integration test uses it."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.moto_server import aws_sandbox, moto_s3, moto_s3_auth

__all__ = ["aws_sandbox", "moto_s3", "moto_s3_auth"]

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """A two-node Ray cluster on 127.0.0.1, shut down through its handle at the end. The head
    serves the Ray Jobs API (for `assetline submit`) on `ray_cluster.dashboard_url`."""
    import ray
    from ray.cluster_utils import Cluster

    dashboard_port = _free_port()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 2,
            "include_dashboard": True,
            "dashboard_host": "127.0.0.1",
            "dashboard_port": dashboard_port,
            "resources": {"head": 1},
        },
    )
    cluster.add_node(num_cpus=2, resources={"worker_node": 1})
    cluster.wait_for_nodes()
    cluster.dashboard_url = f"http://127.0.0.1:{dashboard_port}"
    ray.init(address=cluster.address, log_to_driver=False, logging_level="ERROR")
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.fixture(scope="session")
def ray_session(ray_cluster: Any) -> Any:
    """The session's Ray, connected in this process (alias kept for readability)."""
    return ray_cluster


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A fresh store home for one test."""
    return tmp_path / "home"
