"""The S3 task types (Upload, Download, CreateBucket) against moto on 127.0.0.1."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.support.moto_server import (  # noqa: F401 - fixtures
    MotoServer,
    aws_sandbox,
    free_port,
    moto_s3,
    moto_s3_auth,
)
from workers.runner import run_task
from workers.spec import TaskResult, TaskRunSpec, decode_result, encode_spec
from workers.storage import InternalStorage
from workers.tasks.aws_s3 import SINGLE_PUT_LIMIT

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("aws_sandbox")]


def run(tmp_path: Path, type_: str, properties: dict[str, Any], **fields: Any) -> TaskResult:
    fields.setdefault("storage", str(tmp_path / "storage"))
    fields.setdefault("workdir", str(tmp_path))
    spec = TaskRunSpec(
        execution_id="exec1",
        flow_namespace="company.team",
        flow_id="demo",
        task_id="s3",
        taskrun_id="run1",
        type=type_,
        properties=properties,
        **fields,
    )
    return decode_result(run_task(encode_spec(spec)))


@pytest.fixture
def bucket(moto_s3: MotoServer) -> str:  # noqa: F811
    name = f"b-{uuid.uuid4().hex[:12]}"
    moto_s3.client().create_bucket(Bucket=name)
    return name


def test_upload_local_file(moto_s3: MotoServer, bucket: str, tmp_path: Path) -> None:  # noqa: F811
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "orders.csv").write_bytes(b"id,amount\n1,10\n")
    result = run(
        tmp_path,
        "io.kestra.plugin.aws.s3.Upload",
        {
            **moto_s3.connection(),
            "bucket": bucket,
            "key": "raw/orders.csv",
            "from": "data/orders.csv",
            "contentType": "text/csv",
            "metadata": {"team": "sales"},
            "tagging": {"owner": "data"},
        },
    )
    assert result.state == "SUCCESS", result.error
    s3 = moto_s3.client()
    head = s3.head_object(Bucket=bucket, Key="raw/orders.csv")
    assert result.outputs == {
        "bucket": bucket,
        "key": "raw/orders.csv",
        "eTag": head["ETag"],
        "versionId": None,
    }
    assert head["ContentType"] == "text/csv"
    assert head["Metadata"] == {"team": "sales"}
    tags = s3.get_object_tagging(Bucket=bucket, Key="raw/orders.csv")["TagSet"]
    assert tags == [{"Key": "owner", "Value": "data"}]
    body = s3.get_object(Bucket=bucket, Key="raw/orders.csv")["Body"].read()
    assert body == b"id,amount\n1,10\n"
    assert [line.message for line in result.logs] == [
        f"Uploaded data/orders.csv (15 bytes) to s3://{bucket}/raw/orders.csv"
    ]


def test_upload_versioned_bucket_reports_version(
    moto_s3: MotoServer,  # noqa: F811
    bucket: str,
    tmp_path: Path,
) -> None:
    s3 = moto_s3.client()
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    (tmp_path / "v.txt").write_text("v1")
    result = run(
        tmp_path,
        "s3.upload",
        {**moto_s3.connection(), "bucket": bucket, "key": "v.txt", "from": "v.txt"},
    )
    assert result.state == "SUCCESS", result.error
    versions = s3.list_object_versions(Bucket=bucket, Prefix="v.txt")["Versions"]
    assert result.outputs["versionId"] == versions[0]["VersionId"]


def test_upload_internal_storage_files_as_json_array(
    moto_s3: MotoServer,  # noqa: F811
    bucket: str,
    tmp_path: Path,
) -> None:
    storage = InternalStorage.from_root(str(tmp_path / "storage"))
    uris = []
    for name, content in (("a.csv", b"a\n"), ("b.csv", b"b\n")):
        local = tmp_path / name
        local.write_bytes(content)
        uris.append(
            storage.put(
                local,
                namespace="company.team",
                flow_id="demo",
                execution_id="exec0",
                task_id="make",
                taskrun_id=f"r-{name}",
            )
        )
    result = run(
        tmp_path,
        "s3.upload",
        {
            **moto_s3.connection(),
            "bucket": bucket,
            "key": "batch",
            "from": f'[\n  "{uris[0]}",\n  "{uris[1]}"\n]',
        },
    )
    assert result.state == "SUCCESS", result.error
    s3 = moto_s3.client()
    assert set(result.outputs["files"]) == {"batch/a.csv", "batch/b.csv"}
    for key, answer in result.outputs["files"].items():
        assert answer["eTag"] == s3.head_object(Bucket=bucket, Key=key)["ETag"]
    assert s3.get_object(Bucket=bucket, Key="batch/b.csv")["Body"].read() == b"b\n"


def test_upload_large_file_in_parts(
    moto_s3: MotoServer,  # noqa: F811
    bucket: str,
    tmp_path: Path,
) -> None:
    payload = bytes(range(256)) * ((SINGLE_PUT_LIMIT + 1024 * 1024) // 256)
    (tmp_path / "big.bin").write_bytes(payload)
    result = run(
        tmp_path,
        "s3.upload",
        {**moto_s3.connection(), "bucket": bucket, "key": "big.bin", "from": "big.bin"},
    )
    assert result.state == "SUCCESS", result.error
    s3 = moto_s3.client()
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert result.outputs["eTag"] == head["ETag"]
    assert head["ETag"].strip('"').endswith("-2")  # a multipart upload's ETag
    body = s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(payload).digest()


def test_upload_to_missing_bucket(moto_s3: MotoServer, tmp_path: Path) -> None:  # noqa: F811
    (tmp_path / "x.txt").write_text("x")
    result = run(
        tmp_path,
        "s3.upload",
        {**moto_s3.connection(), "bucket": "no-such-bucket", "key": "x.txt", "from": "x.txt"},
    )
    assert result.state == "FAILED"
    assert result.error == (
        "cannot upload to s3://no-such-bucket/x.txt: NoSuchBucket: The specified bucket does "
        "not exist (HTTP 404)"
    )


def test_upload_with_rejected_credentials(
    moto_s3_auth: MotoServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    (tmp_path / "x.txt").write_text("x")
    result = run(
        tmp_path,
        "s3.upload",
        {**moto_s3_auth.connection(), "bucket": "any-bucket", "key": "x.txt", "from": "x.txt"},
    )
    assert result.state == "FAILED"
    assert result.error == (
        "cannot upload to s3://any-bucket/x.txt: AWS rejected the credentials "
        "(InvalidAccessKeyId: The AWS Access Key Id you provided does not exist in our "
        "records.); check accessKeyId, secretKeyId and sessionToken"
    )


def test_upload_to_unreachable_endpoint(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("x")
    endpoint = f"http://127.0.0.1:{free_port()}"
    result = run(
        tmp_path,
        "s3.upload",
        {
            "accessKeyId": "testing",
            "secretKeyId": "testing",
            "region": "us-east-1",
            "endpointOverride": endpoint,
            "bucket": "b-one",
            "key": "x.txt",
            "from": "x.txt",
        },
    )
    assert result.state == "FAILED"
    assert result.error == (
        f"cannot upload to s3://b-one/x.txt: cannot connect to endpointOverride {endpoint} "
        f'(Could not connect to the endpoint URL: "{endpoint}/b-one/x.txt"); check '
        "endpointOverride and region"
    )


def test_download_round_trip(moto_s3: MotoServer, bucket: str, tmp_path: Path) -> None:  # noqa: F811
    s3 = moto_s3.client()
    s3.put_object(
        Bucket=bucket,
        Key="in/report.json",
        Body=b'{"ok": true}',
        ContentType="application/json",
        Metadata={"source": "moto"},
    )
    result = run(
        tmp_path,
        "io.kestra.plugin.aws.s3.Download",
        {**moto_s3.connection(), "bucket": bucket, "key": "in/report.json"},
    )
    assert result.state == "SUCCESS", result.error
    head = s3.head_object(Bucket=bucket, Key="in/report.json")
    uri = result.outputs.pop("uri")
    assert uri == "kestra:///company/team/demo/executions/exec1/tasks/s3/run1/report.json"
    assert result.outputs == {
        "eTag": head["ETag"],
        "versionId": None,
        "contentLength": 12,
        "contentType": "application/json",
        "metadata": {"source": "moto"},
    }
    with InternalStorage.from_root(str(tmp_path / "storage")).open_read(uri) as stream:
        assert stream.read() == b'{"ok": true}'


def test_download_missing_key(moto_s3: MotoServer, bucket: str, tmp_path: Path) -> None:  # noqa: F811
    result = run(tmp_path, "s3.download", {**moto_s3.connection(), "bucket": bucket, "key": "nope"})
    assert result.state == "FAILED"
    assert result.error == (
        f"cannot download s3://{bucket}/nope: NoSuchKey: The specified key does not exist. "
        "(HTTP 404)"
    )


def test_create_bucket(moto_s3: MotoServer, tmp_path: Path) -> None:  # noqa: F811
    name = f"c-{uuid.uuid4().hex[:12]}"
    result = run(
        tmp_path,
        "io.kestra.plugin.aws.s3.CreateBucket",
        {**moto_s3.connection(), "region": "eu-west-1", "bucket": name},
    )
    assert result.state == "SUCCESS", result.error
    assert result.outputs["bucket"] == name
    assert result.outputs["region"] == "eu-west-1"
    s3 = moto_s3.client()
    assert name in moto_s3.buckets()
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"


def test_create_existing_bucket(moto_s3: MotoServer, bucket: str, tmp_path: Path) -> None:  # noqa: F811
    result = run(
        tmp_path,
        "s3.createbucket",
        {**moto_s3.connection(), "region": "eu-west-1", "bucket": bucket},
    )
    assert result.state == "FAILED"
    assert result.error == (
        f"cannot create bucket '{bucket}': BucketAlreadyOwnedByYou: Your previous request to "
        "create the named bucket succeeded and you already own it. (HTTP 409)"
    )
