"""moto's S3-compatible server on 127.0.0.1, as pytest fixtures (no test touches the internet).

`moto_s3` (session scope) starts this virtualenv's `moto_server` on a free loopback port, waits
until it answers, yields a `MotoServer` (`endpoint`, `access_key`, `secret_key`, `region`) and
stops the process it started, by its pid, at the end. `moto_s3_auth` is a second server that
checks credentials (moto's `INITIAL_NO_AUTH_ACTION_COUNT=0`): any key it did not issue is
rejected, which is how tests see a real "bad credentials" answer. `aws_sandbox` keeps the
machine's own AWS settings (variables, config files, instance metadata) out of a test.

Expose them in a conftest (`from tests.support.moto_server import moto_s3`) or import them in
a test module directly.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class MotoServer:
    """A running moto server and the settings a client needs for it."""

    endpoint: str
    pid: int
    access_key: str = "testing"
    secret_key: str = "testing"
    region: str = "us-east-1"

    def client(self, service: str = "s3") -> Any:
        """A boto3 client for this server with its test credentials."""
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def connection(self) -> dict[str, str]:
        """Kestra's AWS connection properties pointing at this server."""
        return {
            "accessKeyId": self.access_key,
            "secretKeyId": self.secret_key,
            "region": self.region,
            "endpointOverride": self.endpoint,
        }

    def buckets(self) -> set[str]:
        return {bucket["Name"] for bucket in self.client().list_buckets().get("Buckets", [])}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def start_moto(
    log_path: Path, env: Mapping[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """Start `moto_server` on a free 127.0.0.1 port; wait until it accepts connections."""
    port = free_port()
    binary = Path(sys.executable).parent / "moto_server"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(binary), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    deadline = time.monotonic() + START_TIMEOUT
    while not _answers(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_moto(proc)
            raise RuntimeError(f"moto_server did not start; see {log_path}")
        time.sleep(0.1)
    return proc, port


def stop_moto(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server this module started, by its pid."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(STOP_TIMEOUT)


def _serve(
    factory: pytest.TempPathFactory, name: str, env: Mapping[str, str] | None = None
) -> Iterator[MotoServer]:
    proc, port = start_moto(factory.mktemp(name) / "moto.log", env)
    try:
        yield MotoServer(endpoint=f"http://127.0.0.1:{port}", pid=proc.pid)
    finally:
        stop_moto(proc)


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A moto server accepting any credentials."""
    yield from _serve(tmp_path_factory, "moto")


@pytest.fixture(scope="session")
def moto_s3_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A moto server that rejects credentials it did not issue."""
    yield from _serve(tmp_path_factory, "moto-auth", {"INITIAL_NO_AUTH_ACTION_COUNT": "0"})


@pytest.fixture
def aws_sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS settings from this machine reach a test: no AWS_* variables, config files or
    instance metadata (a task's own properties are the only source)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
