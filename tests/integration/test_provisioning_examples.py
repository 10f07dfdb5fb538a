"""The provisioning examples run end to end on the session's Ray cluster, against moto on
127.0.0.1 (and a local http.server for the CSV); the store is read back afterwards.

Credentials come from `secret()` (SECRET_AWS_... variables, base64): the secret key must never
show in a task run's properties, logs or outputs, only `******`.
"""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
import pytest

from scheduler.loader import load_flow
from scheduler.runner import run_flow
from store import Store
from tests.integration.flows import run_text
from tests.support.moto_server import MotoServer, moto_s3  # noqa: F401 - fixture
from workers.masking import MASK

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
ACCESS_KEY = "AKIAPROVISIONTEST"
SECRET_KEY = "prov-Secret-9f3Kq2LmX7"
CSV = b"order_id,amount\n1,10.5\n2,20.0\n3,7.25\n"


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


@pytest.fixture
def aws_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The secrets the examples read, and no AWS settings from this machine in the driver."""
    monkeypatch.setenv("SECRET_AWS_ACCESS_KEY_ID", _b64(ACCESS_KEY))
    monkeypatch.setenv("SECRET_AWS_SECRET_KEY_ID", _b64(SECRET_KEY))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


class _CsvHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        found = self.path == "/orders.csv"
        body = CSV if found else b"not here"
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def csv_server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _CsvHandler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def _assert_secret_hidden(store: Store, execution_id: str) -> None:
    runs = store.task_runs(execution_id)
    assert runs
    for task_run in runs:
        text = msgspec.json.encode(
            [task_run.properties, task_run.result, task_run.logs, task_run.error]
        ).decode()
        assert SECRET_KEY not in text
        assert ACCESS_KEY not in text
        if "secretKeyId" in task_run.properties:
            assert task_run.properties["secretKeyId"] == MASK
            assert task_run.properties["accessKeyId"] == MASK


def test_provision_team_buckets(
    ray_session: Any,
    moto_s3: MotoServer,  # noqa: F811
    aws_secrets: None,
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    teams = ["sales", "data science"]
    flow = load_flow(EXAMPLES / "provision_team_buckets.yaml")
    summary = run_flow(
        flow,
        {"teams": teams, "region": "us-east-1", "endpoint": moto_s3.endpoint},
        home=home,
        workdir=str(tmp_path),
    )
    assert summary.state == "SUCCESS", summary.errors
    expected = {"kestra-sales-bucket": "sales", "kestra-data-science-bucket": "data science"}
    assert set(expected) <= moto_s3.buckets()
    assert sorted(summary.assets_written) == sorted(expected)

    with Store.open(home, readonly=True) as store:
        found = store.find_assets(type="AWS_BUCKET")
        assert sorted(asset.id for asset in found) == sorted(expected)
        for bucket, team in expected.items():
            asset = store.get_asset(bucket)
            assert asset is not None
            assert asset.namespace == "company.platform"
            assert asset.metadata == {"team": team, "region": "us-east-1"}
            assert asset.displayName == f"{team} team bucket"
            usages = store.usages(bucket)
            assert [(u.direction, u.task_id, u.value) for u in usages] == [
                ("OUTPUT", "make_bucket", team)
            ]
        by_team = store.find_assets(metadata={"team": "sales"})
        assert [asset.id for asset in by_team] == ["kestra-sales-bucket"]
        runs = [r for r in store.task_runs(summary.execution_id) if r.task_id == "make_bucket"]
        assert sorted(r.value or "" for r in runs) == sorted(teams)
        for task_run in runs:
            assert task_run.task_type == "io.kestra.plugin.aws.cli.AwsCLI"
            assert task_run.state == "SUCCESS"
            assert task_run.properties["region"] == "us-east-1"
            assert task_run.properties["endpointOverride"] == moto_s3.endpoint
            slug = (task_run.value or "").replace(" ", "-")
            assert [line.message for line in task_run.logs] == [
                f"make_bucket: kestra-{slug}-bucket"
            ]
        _assert_secret_hidden(store, summary.execution_id)


def test_provision_reports_a_failing_bucket(
    ray_session: Any,
    moto_s3: MotoServer,  # noqa: F811
    aws_secrets: None,
    tmp_path: Path,
) -> None:
    """An existing bucket of another region makes `aws s3 mb` fail: no asset is recorded."""
    home = tmp_path / "home"
    moto_s3.client().create_bucket(
        Bucket="kestra-finance-bucket",
        CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
    )
    flow = load_flow(EXAMPLES / "provision_team_buckets.yaml")
    summary = run_flow(
        flow,
        {"teams": ["finance"], "region": "us-east-1", "endpoint": moto_s3.endpoint},
        home=home,
        workdir=str(tmp_path),
    )
    assert summary.state == "FAILED"
    assert any("Command failed with exit code 1" in error for error in summary.errors)
    with Store.open(home, readonly=True) as store:
        assert store.get_asset("kestra-finance-bucket") is None
        usages = store.usages("kestra-finance-bucket")
        assert [(u.direction, u.state) for u in usages] == [("OUTPUT", "FAILED")]
        _assert_secret_hidden(store, summary.execution_id)


def test_upload_file(
    ray_session: Any,
    moto_s3: MotoServer,  # noqa: F811
    aws_secrets: None,
    csv_server: str,
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    bucket = f"kestra-upload-{uuid.uuid4().hex[:8]}"
    moto_s3.client().create_bucket(Bucket=bucket)
    flow = load_flow(EXAMPLES / "upload_file.yaml")
    url = f"{csv_server}/orders.csv"
    summary = run_flow(
        flow,
        {
            "file_url": url,
            "bucket": bucket,
            "key": "raw/2024/orders.csv",
            "endpoint": moto_s3.endpoint,
        },
        home=home,
        workdir=str(tmp_path),
    )
    assert summary.state == "SUCCESS", summary.errors
    s3 = moto_s3.client()
    assert s3.get_object(Bucket=bucket, Key="raw/2024/orders.csv")["Body"].read() == CSV
    head = s3.head_object(Bucket=bucket, Key="raw/2024/orders.csv")
    assert head["ContentType"] == "text/csv"
    assert head["Metadata"] == {"source": url}

    file_id = f"{bucket}:raw:2024:orders.csv"
    with Store.open(home, readonly=True) as store:
        external = store.get_asset(bucket)
        assert external is not None and external.type == "External"
        upload = store.get_asset(file_id)
        assert upload is not None
        assert upload.type == "File"
        assert upload.displayName == f"s3://{bucket}/raw/2024/orders.csv"
        assert upload.metadata == {
            "bucket": bucket,
            "key": "raw/2024/orders.csv",
            "uri": f"s3://{bucket}/raw/2024/orders.csv",
            "contentType": "text/csv",
            "source": url,
        }
        assert [(u.direction, u.task_id) for u in store.usages(bucket)] == [("INPUT", "upload")]
        assert [(u.direction, u.task_id) for u in store.usages(file_id)] == [("OUTPUT", "upload")]
        graph = store.lineage(file_id, direction="up").to_json()
        assert {n["id"] for n in graph["nodes"] if n["kind"] == "asset"} == {file_id, bucket}
        runs = {r.task_id: r for r in store.task_runs(summary.execution_id)}
        assert runs["upload"].result["bucket"] == bucket
        assert runs["upload"].result["key"] == "raw/2024/orders.csv"
        assert runs["upload"].result["eTag"] == head["ETag"]
        _assert_secret_hidden(store, summary.execution_id)


VMS_FLOW = """
    id: register_vms
    namespace: company.infra
    tasks:
      - id: inventory
        type: io.kestra.plugin.core.debug.Return
        format: "vm inventory"
        assets:
          outputs:
            - id: vm-py-1
              type: VM
              metadata: {nodes: python}
            - id: vm-py-2
              type: VM
              metadata: {nodes: python}
            - id: vm-java-1
              type: VM
              metadata: {nodes: java}
            - id: not-a-vm
              type: WORKSPACE
              metadata: {nodes: python}
"""


def test_upgrade_python_only_touches_python_vms(ray_session: Any, tmp_path: Path) -> None:
    home = tmp_path / "home"
    registered = run_text(tmp_path, home, VMS_FLOW)
    assert registered.state == "SUCCESS", registered.errors

    flow = load_flow(EXAMPLES / "upgrade_python.yaml")
    summary = run_flow(flow, {"python_version": "3.13"}, home=home, workdir=str(tmp_path))
    assert summary.state == "SUCCESS", summary.errors
    assert sorted(summary.assets_read) == ["vm-py-1", "vm-py-2"]
    with Store.open(home, readonly=True) as store:
        runs = [r for r in store.task_runs(summary.execution_id) if r.task_id == "upgrade"]
        assert sorted(r.value or "" for r in runs) == ["vm-py-1", "vm-py-2"]
        for task_run in runs:
            assert task_run.state == "SUCCESS"
            assert task_run.result["vars"] == {"vm": task_run.value, "python": "3.13"}
            assert [line.message for line in task_run.logs] == [
                f"upgrading python to 3.13 on {task_run.value}"
            ]
        for vm in ("vm-py-1", "vm-py-2"):
            usages = store.usages(vm)
            assert [(u.direction, u.flow_id) for u in usages] == [
                ("OUTPUT", "register_vms"),
                ("INPUT", "upgrade_python"),
            ]
            asset = store.get_asset(vm)
            assert asset is not None and asset.type == "VM"  # an input keeps its real type
        assert [(u.direction, u.flow_id) for u in store.usages("vm-java-1")] == [
            ("OUTPUT", "register_vms")
        ]
        assert [(u.direction, u.flow_id) for u in store.usages("not-a-vm")] == [
            ("OUTPUT", "register_vms")
        ]
