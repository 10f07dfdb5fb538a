"""The internal storage on S3, against moto's server on 127.0.0.1 (tests/support/moto_server)."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from tests.support.moto_server import MotoServer, moto_s3  # noqa: F401 - fixture
from workers.errors import StorageError
from workers.runner import run_task
from workers.spec import TaskRunSpec, decode_result, encode_spec
from workers.storage import InternalStorage, S3Storage

pytestmark = pytest.mark.integration

BUCKET = "assetline-test"
IDS = {
    "namespace": "company.team",
    "flow_id": "demo",
    "execution_id": "e1",
    "task_id": "t1",
    "taskrun_id": "r1",
}


@pytest.fixture
def s3_env(moto_s3: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:  # noqa: F811
    moto_endpoint = moto_s3.endpoint
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("ASSETLINE_STORAGE_ENDPOINT", moto_endpoint)
    client = boto3.client("s3", endpoint_url=moto_endpoint)
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if BUCKET not in existing:
        client.create_bucket(Bucket=BUCKET)
    return moto_endpoint


def test_put_get_open_read(s3_env: str, tmp_path: Path) -> None:
    storage = InternalStorage.from_root(f"s3://{BUCKET}/root")
    assert isinstance(storage, S3Storage)
    source = tmp_path / "orders.csv"
    source.write_bytes(b"id\n1\n")
    uri = storage.put(source, **IDS)
    assert uri == "kestra:///company/team/demo/executions/e1/tasks/t1/r1/orders.csv"
    keys = [
        item["Key"]
        for item in boto3.client("s3", endpoint_url=s3_env)
        .list_objects_v2(Bucket=BUCKET, Prefix="root/")
        .get("Contents", [])
    ]
    assert "root/company/team/demo/executions/e1/tasks/t1/r1/orders.csv" in keys
    copy = storage.get(uri, tmp_path / "dest")
    assert copy == tmp_path / "dest" / "orders.csv"
    assert copy.read_bytes() == b"id\n1\n"
    with storage.open_read(uri) as stream:
        assert stream.read() == b"id\n1\n"


def test_missing_object(s3_env: str, tmp_path: Path) -> None:
    storage = InternalStorage.from_root(f"s3://{BUCKET}/root")
    with pytest.raises(StorageError) as info:
        storage.open_read("kestra:///company/team/none.csv")
    assert str(info.value).startswith(
        f"cannot read kestra:///company/team/none.csv from s3://{BUCKET}/root: An error occurred "
        "(NoSuchKey)"
    )


def test_missing_bucket(s3_env: str, tmp_path: Path) -> None:
    source = tmp_path / "x.txt"
    source.write_text("x")
    storage = InternalStorage.from_root("s3://no-such-bucket")
    with pytest.raises(StorageError) as info:
        storage.put(source, **IDS)
    assert str(info.value).startswith("cannot store 'x.txt' in s3://no-such-bucket: ")
    assert "NoSuchBucket" in str(info.value)


def test_task_output_files_land_in_s3(s3_env: str, tmp_path: Path) -> None:
    spec = TaskRunSpec(
        execution_id="e9",
        flow_namespace="company.team",
        flow_id="demo",
        task_id="make",
        taskrun_id="r9",
        type="shell",
        properties={"commands": ["echo 'a,b' > out.csv"], "outputFiles": ["out.csv"]},
        storage=f"s3://{BUCKET}/runs",
    )
    result = decode_result(run_task(encode_spec(spec)))
    assert result.state == "SUCCESS", result.error
    uri = result.outputs["outputFiles"]["out.csv"]
    with InternalStorage.from_root(f"s3://{BUCKET}/runs").open_read(uri) as stream:
        assert stream.read() == b"a,b\n"
