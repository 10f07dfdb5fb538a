"""The AwsCLI task running the real `aws` command against moto on 127.0.0.1."""

from __future__ import annotations

import json
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

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("aws_sandbox")]


def run(tmp_path: Path, properties: dict[str, Any], **fields: Any) -> TaskResult:
    spec = TaskRunSpec(
        execution_id="exec1",
        flow_namespace="company.team",
        flow_id="demo",
        task_id="cli",
        taskrun_id="run1",
        type="io.kestra.plugin.aws.cli.AwsCLI",
        properties=properties,
        storage=str(tmp_path / "storage"),
        **fields,
    )
    return decode_result(run_task(encode_spec(spec)))


def test_make_bucket_and_list(moto_s3: MotoServer, tmp_path: Path) -> None:  # noqa: F811
    name = f"cli-{uuid.uuid4().hex[:12]}"
    result = run(
        tmp_path,
        {
            **moto_s3.connection(),
            "commands": [
                f"aws s3 mb s3://{name}",
                "aws s3api list-buckets --query 'Buckets[].Name' --output json > buckets.json",
                'echo "::{\\"outputs\\": {\\"buckets\\": $(tr -d \' \\n\' < buckets.json)}}::"',
            ],
            "outputFiles": ["buckets.json"],
        },
    )
    assert result.state == "SUCCESS", result.error
    assert name in moto_s3.buckets()
    assert [line.message for line in result.logs] == [f"make_bucket: {name}"]
    assert name in result.outputs["vars"]["buckets"]
    assert set(result.outputs["outputFiles"]) == {"buckets.json"}


def test_rejected_credentials(moto_s3_auth: MotoServer, tmp_path: Path) -> None:  # noqa: F811
    result = run(tmp_path, {**moto_s3_auth.connection(), "commands": ["aws s3 ls"]})
    assert result.state == "FAILED"
    assert result.error == (
        "Command failed with exit code 255; last stderr lines: An error occurred "
        "(InvalidAccessKeyId) when calling the ListBuckets operation: The AWS Access Key Id you "
        "provided does not exist in our records."
    )


def test_unreachable_endpoint(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    result = run(
        tmp_path,
        {
            "accessKeyId": "testing",
            "secretKeyId": "testing",
            "region": "us-east-1",
            "endpointOverride": endpoint,
            "env": {"AWS_MAX_ATTEMPTS": "1"},
            "commands": ["aws s3 ls"],
        },
    )
    assert result.state == "FAILED"
    assert result.error == (
        "Command failed with exit code 255; last stderr lines: Could not connect to the "
        f'endpoint URL: "{endpoint}/"'
    )


def test_assumed_role_credentials_reach_the_process(
    moto_s3: MotoServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    result = run(
        tmp_path,
        {
            **moto_s3.connection(),
            "stsRoleArn": "arn:aws:iam::123456789012:role/deployer",
            "stsRoleSessionName": "provisioning",
            "stsEndpointOverride": moto_s3.endpoint,
            "commands": [
                "aws sts get-caller-identity > who.json",
                "printenv AWS_ACCESS_KEY_ID | cut -c1-4",
                'test -n "$AWS_SESSION_TOKEN" && echo token-set',
            ],
            "outputFiles": ["who.json"],
        },
    )
    assert result.state == "SUCCESS", result.error
    assert [line.message for line in result.logs] == ["ASIA", "token-set"]
    assert result.outputs["outputFiles"]["who.json"].endswith("/who.json")
    storage = tmp_path / "storage"
    who = json.loads(next(storage.rglob("who.json")).read_text())
    assert who["Arn"].endswith(":assumed-role/deployer/provisioning")
