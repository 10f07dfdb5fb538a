"""Internal storage across the nodes of the session's cluster: a file one task downloads is read
by later tasks on both nodes, from the local default folder and from S3 (moto on 127.0.0.1).

The raylets started before these tests set any variable, so a worker sees the S3 endpoint and
credentials only if the driver sends them with each task run (spec.env).
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from scheduler.executor import ExecutionSummary
from tests.integration.flows import open_store, run_text
from tests.support.moto_server import MotoServer, free_port
from workers.storage import storage_settings

pytestmark = pytest.mark.integration

BUCKET = "assetline-cluster"
ORDERS = b"id,amount\n1,10\n2,20\n3,30\n"

FLOW = """
id: shared_files
namespace: company.storage
tasks:
  - id: dl
    type: io.kestra.plugin.core.http.Download
    uri: "{url}"
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: [1, 2, 3, 4, 5, 6]
    concurrencyLimit: 0
    tasks:
      - id: read
        type: io.kestra.plugin.scripts.shell.Commands
        inputFiles:
          orders.csv: "{{{{ outputs.dl.uri }}}}"
        commands:
          - sleep 0.5
          - echo "rows=$(wc -l < orders.csv) first=$(sed -n 2p orders.csv)"
"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def orders_url(tmp_path: Path) -> Iterator[str]:
    """A file served over HTTP on 127.0.0.1 (stopped at the end)."""
    served = tmp_path / "served"
    served.mkdir()
    (served / "orders.csv").write_bytes(ORDERS)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/orders.csv"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _node_ids(cluster: Any) -> set[str]:
    return {cluster.head_node.node_id, *(node.node_id for node in cluster.worker_nodes)}


def _check_reads(summary: ExecutionSummary, home: Path, cluster: Any) -> None:
    assert summary.state == "SUCCESS", summary.errors
    with open_store(home) as store:
        reads = [r for r in store.task_runs(summary.execution_id) if r.task_id == "read"]
    assert len(reads) == 6
    for run in reads:
        assert [line.message for line in run.logs] == ["rows=4 first=1,10"], run.logs
    # the file was written once and read on both nodes
    assert {run.node for run in reads} == _node_ids(cluster)


def test_local_default_storage_is_read_on_both_nodes(
    ray_cluster: Any, tmp_path: Path, home: Path, orders_url: str
) -> None:
    summary = run_text(tmp_path, home, FLOW.format(url=orders_url))
    _check_reads(summary, home, ray_cluster)
    stored = list((home / "storage").rglob("orders.csv"))
    assert len(stored) == 1 and stored[0].read_bytes() == ORDERS


@pytest.fixture
def s3_driver_env(
    aws_sandbox: None, moto_s3: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> MotoServer:
    """The S3 settings set in this (the driver's) process only, after the raylets started."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto_s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto_s3.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", moto_s3.region)
    monkeypatch.setenv("ASSETLINE_STORAGE_ENDPOINT", moto_s3.endpoint)
    if BUCKET not in moto_s3.buckets():
        moto_s3.client().create_bucket(Bucket=BUCKET)
    return moto_s3


def test_s3_storage_is_read_on_both_nodes_and_holds_the_object(
    ray_cluster: Any, tmp_path: Path, home: Path, orders_url: str, s3_driver_env: MotoServer
) -> None:
    summary = run_text(tmp_path, home, FLOW.format(url=orders_url), storage=f"s3://{BUCKET}/runs")
    _check_reads(summary, home, ray_cluster)
    listed = s3_driver_env.client().list_objects_v2(Bucket=BUCKET, Prefix="runs/")
    keys = [item["Key"] for item in listed.get("Contents", [])]
    ours = [key for key in keys if f"/executions/{summary.execution_id}/" in key]
    assert len(ours) == 1
    assert ours[0].startswith("runs/company/storage/shared_files/executions/")
    assert ours[0].endswith("/orders.csv")
    body = s3_driver_env.client().get_object(Bucket=BUCKET, Key=ours[0])["Body"].read()
    assert body == ORDERS
    assert not (home / "storage").exists()


def test_assetline_storage_env_selects_the_storage(
    ray_cluster: Any,
    tmp_path: Path,
    home: Path,
    orders_url: str,
    s3_driver_env: MotoServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ASSETLINE_STORAGE", f"s3://{BUCKET}/from-env")
    summary = run_text(tmp_path, home, FLOW.format(url=orders_url))
    _check_reads(summary, home, ray_cluster)
    listed = s3_driver_env.client().list_objects_v2(Bucket=BUCKET, Prefix="from-env/")
    keys = [item["Key"] for item in listed.get("Contents", [])]
    assert any(f"/executions/{summary.execution_id}/" in key for key in keys)


def test_s3_storage_that_does_not_answer_fails_the_download_clearly(
    ray_cluster: Any,
    tmp_path: Path,
    home: Path,
    orders_url: str,
    s3_driver_env: MotoServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    monkeypatch.setenv("ASSETLINE_STORAGE_ENDPOINT", closed)
    summary = run_text(
        tmp_path, home, FLOW.format(url=orders_url), storage=f"s3://{BUCKET}/nowhere"
    )
    assert summary.state == "FAILED"
    (error,) = [e for e in summary.errors if e.startswith("task 'dl'")]
    assert f"StorageError: cannot store 'download.part' in s3://{BUCKET}/nowhere: " in error
    assert f'Could not connect to the endpoint URL: "{closed}/{BUCKET}/nowhere/' in error


def test_storage_settings_copy_only_what_an_s3_root_needs() -> None:
    environ = {
        "AWS_ACCESS_KEY_ID": "key",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_REGION": "",
        "ASSETLINE_STORAGE_ENDPOINT": "http://127.0.0.1:9",
        "HOME": "/root",
        "AWS_PROFILE": "someone",
    }
    assert storage_settings("s3://bucket/prefix", environ) == {
        "AWS_ACCESS_KEY_ID": "key",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "ASSETLINE_STORAGE_ENDPOINT": "http://127.0.0.1:9",
    }
    assert storage_settings("/srv/assetline/storage", environ) == {}


def test_run_command_storage_option_sends_files_to_s3(
    ray_cluster: Any, tmp_path: Path, orders_url: str, s3_driver_env: MotoServer
) -> None:
    import os
    import subprocess
    import sys

    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW.format(url=orders_url))
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("assetline")),
            "run",
            str(flow),
            "--address",
            ray_cluster.address,
            "--home",
            str(tmp_path / "home"),
            "--storage",
            f"s3://{BUCKET}/cli",
            "--json",
        ],
        cwd=tmp_path,
        env=dict(os.environ),  # the S3 settings this test set, for the driver only
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    execution_id = json.loads(done.stdout)["id"]
    listed = s3_driver_env.client().list_objects_v2(Bucket=BUCKET, Prefix="cli/")
    keys = [item["Key"] for item in listed.get("Contents", [])]
    assert [key for key in keys if f"/executions/{execution_id}/" in key] != []
    assert not (tmp_path / "home" / "storage").exists()
