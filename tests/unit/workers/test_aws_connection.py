"""The shared AWS connection: property checks, environment variables, error messages.

No network here: clients point at a closed loopback port, or errors are built directly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

from workers.context import LogCollector, TaskContext, TaskLogger
from workers.errors import ParamsError
from workers.masking import Masker
from workers.spec import TaskResult, TaskRunSpec
from workers.tasks.aws_connection import (
    AwsConnection,
    aws_env,
    aws_error,
    client,
    static_credentials,
)

RunFn = Callable[..., TaskResult]


def _ctx() -> TaskContext:
    spec = TaskRunSpec(
        execution_id="e",
        flow_namespace="company.team",
        flow_id="f",
        task_id="t",
        taskrun_id="r",
        type="aws",
        properties={},
    )
    return TaskContext(spec, logger=TaskLogger(LogCollector(Masker([]))))


@pytest.fixture
def no_ambient_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials from this machine: no AWS_* variables, no files, no instance metadata."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ENDPOINT_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_blank_values_count_as_unset() -> None:
    conn = AwsConnection.model_validate(
        {"accessKeyId": " ", "secretKeyId": "", "region": "", "endpointOverride": "  "}
    )
    assert (conn.accessKeyId, conn.secretKeyId, conn.region, conn.endpointOverride) == (
        None,
        None,
        None,
        None,
    )


def test_env_carries_connection() -> None:
    conn = AwsConnection(
        accessKeyId="AKIDEXAMPLE",
        secretKeyId="wJalrXUtnFEMI",
        sessionToken="token-1",
        region="eu-west-3",
        endpointOverride="http://127.0.0.1:9000",
    )
    assert aws_env(conn, _ctx()) == {
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI",
        "AWS_SESSION_TOKEN": "token-1",
        "AWS_DEFAULT_REGION": "eu-west-3",
        "AWS_REGION": "eu-west-3",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
    }


def test_env_blanks_inherited_session_token_for_explicit_keys() -> None:
    env = aws_env(AwsConnection(accessKeyId="AKID", secretKeyId="SECRET"), _ctx())
    assert env == {
        "AWS_ACCESS_KEY_ID": "AKID",
        "AWS_SECRET_ACCESS_KEY": "SECRET",
        "AWS_SESSION_TOKEN": "",
    }


def test_env_without_properties_is_empty() -> None:
    assert aws_env(AwsConnection(), _ctx()) == {}


def test_half_a_key_pair_is_refused() -> None:
    with pytest.raises(ParamsError) as info:
        static_credentials(AwsConnection(accessKeyId="AKID"))
    assert str(info.value) == (
        "property 'secretKeyId': missing; accessKeyId is set, and AWS credentials need both "
        "accessKeyId and secretKeyId (or neither, to use the worker's default credentials)"
    )
    with pytest.raises(ParamsError) as info:
        static_credentials(AwsConnection(secretKeyId="SECRET"))
    assert str(info.value).startswith("property 'accessKeyId': missing; secretKeyId is set")


def test_session_token_needs_keys() -> None:
    with pytest.raises(ParamsError) as info:
        static_credentials(AwsConnection(sessionToken="tok"))
    assert str(info.value) == (
        "property 'sessionToken': set accessKeyId and secretKeyId too; a session token "
        "belongs to a key pair"
    )


def test_half_key_pair_fails_the_task_run(run: RunFn) -> None:
    result = run(
        "s3.createbucket", {"bucket": "b-one", "accessKeyId": "AKID", "region": "us-east-1"}
    )
    assert result.state == "FAILED"
    assert result.error is not None
    assert result.error.startswith(
        "task 'step': property 'secretKeyId': missing; accessKeyId is set"
    )


def test_invalid_endpoint_names_the_property() -> None:
    conn = AwsConnection(accessKeyId="a", secretKeyId="b", endpointOverride="not a url")
    with pytest.raises(ParamsError) as info:
        client(conn, "s3", _ctx())
    assert str(info.value) == "property 'endpointOverride': Invalid endpoint: not a url"


@pytest.mark.usefixtures("no_ambient_aws")
def test_no_credentials_message(run: RunFn) -> None:
    result = run(
        "s3.createbucket",
        {"bucket": "b-one", "region": "us-east-1", "endpointOverride": "http://127.0.0.1:9"},
    )
    assert result.state == "FAILED"
    assert result.error == (
        "cannot create bucket 'b-one': no AWS credentials found; set accessKeyId and "
        "secretKeyId (e.g. \"{{ secret('AWS_ACCESS_KEY_ID') }}\") or give the worker default "
        "AWS credentials"
    )


def _client_error(code: str, message: str, status: int) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "PutObject",
    )


def test_error_messages() -> None:
    conn = AwsConnection(endpointOverride="http://127.0.0.1:1")
    cases = [
        (
            _client_error("InvalidAccessKeyId", "unknown key", 403),
            "put: AWS rejected the credentials (InvalidAccessKeyId: unknown key); check "
            "accessKeyId, secretKeyId and sessionToken",
        ),
        (
            _client_error("SignatureDoesNotMatch", "bad signature", 403),
            "put: AWS rejected the credentials (SignatureDoesNotMatch: bad signature); check "
            "accessKeyId, secretKeyId and sessionToken",
        ),
        (
            _client_error("AccessDenied", "Access Denied", 403),
            "put: access denied (Access Denied); the credentials lack the permission",
        ),
        (
            _client_error("NoSuchBucket", "The specified bucket does not exist", 404),
            "put: NoSuchBucket: The specified bucket does not exist (HTTP 404)",
        ),
        (
            EndpointConnectionError(endpoint_url="http://127.0.0.1:1/b"),
            "put: cannot connect to endpointOverride http://127.0.0.1:1 (Could not connect to "
            'the endpoint URL: "http://127.0.0.1:1/b"); check endpointOverride and region',
        ),
        (NoRegionError(), "put: no AWS region; set the 'region' property"),
        (RuntimeError("boom"), "put: RuntimeError: boom"),
    ]
    for exc, expected in cases:
        assert str(aws_error("put", exc, conn)) == expected
    assert str(aws_error("put", NoCredentialsError(), None)).startswith(
        "put: no AWS credentials found; set accessKeyId and secretKeyId"
    )
