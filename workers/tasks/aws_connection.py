"""Kestra's AWS connection properties, shared by every AWS task type (S3 tasks, AwsCLI).

`AwsConnection` is a pydantic mixin holding Kestra's property names: `accessKeyId`,
`secretKeyId`, `sessionToken`, `region`, `endpointOverride`, `forcePathStyle`,
`compatibilityMode` and the STS ones (`stsRoleArn`, `stsRoleExternalId`, `stsRoleSessionName`,
`stsRoleSessionDuration`, `stsEndpointOverride`). One `pluginDefaults` entry with
`type: io.kestra.plugin.aws` therefore configures all of them. An empty or blank value counts
as not set (a template such as `{{ inputs.endpoint }}` renders an unset input as "").

Two ways to use a connection:
- `client(conn, service, ctx)`: a boto3 client (for the S3 tasks);
- `aws_env(conn, ctx)`: the standard AWS environment variables (for the `aws` command), so
  credentials never appear on a command line.

Without `accessKeyId`/`secretKeyId` the default AWS credential chain of the worker applies
(environment, shared files, instance role). With `stsRoleArn`, the role is assumed first (with
the given or default credentials) and its temporary credentials are used.

`aws_error` turns boto3/botocore exceptions into a `TaskFailed` whose message says what to fix.
Nothing here runs a task or touches the internal storage.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final

import pydantic

from workers.context import TaskContext
from workers.errors import ParamsError, TaskFailed

#: botocore retries (standard mode): a wrong endpoint fails in a few seconds, not minutes.
MAX_ATTEMPTS: Final = 3
CONNECT_TIMEOUT: Final = 10.0
READ_TIMEOUT: Final = 60.0
DEFAULT_SESSION_NAME: Final = "assetline"
#: ClientError codes meaning "these credentials are not accepted".
CREDENTIAL_CODES: Final = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidToken",
        "AuthFailure",
    }
)


class AwsConnection(pydantic.BaseModel):
    """Kestra's AbstractConnection properties (field names = Kestra's property names)."""

    model_config = pydantic.ConfigDict(extra="forbid")

    accessKeyId: str | None = None  # noqa: N815 - Kestra's property names
    secretKeyId: str | None = None  # noqa: N815
    sessionToken: str | None = None  # noqa: N815
    region: str | None = None
    endpointOverride: str | None = None  # noqa: N815
    forcePathStyle: bool = False  # noqa: N815
    compatibilityMode: bool = False  # noqa: N815 - accepted; boto3 has a single client
    stsRoleArn: str | None = None  # noqa: N815
    stsRoleExternalId: str | None = None  # noqa: N815
    stsRoleSessionName: str | None = None  # noqa: N815
    stsRoleSessionDuration: dt.timedelta | None = None  # noqa: N815
    stsEndpointOverride: str | None = None  # noqa: N815

    @pydantic.field_validator(
        "accessKeyId",
        "secretKeyId",
        "sessionToken",
        "region",
        "endpointOverride",
        "stsRoleArn",
        "stsRoleExternalId",
        "stsRoleSessionName",
        "stsEndpointOverride",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value


@dataclass(frozen=True)
class Credentials:
    """Explicit credentials (all None: the worker's default credential chain)."""

    access_key: str | None = None
    secret_key: str | None = None
    token: str | None = None


def static_credentials(conn: AwsConnection) -> Credentials:
    """The credentials written in the properties; ParamsError when only half of a pair is."""
    if (conn.accessKeyId is None) != (conn.secretKeyId is None):
        given, missing = (
            ("accessKeyId", "secretKeyId")
            if conn.accessKeyId is not None
            else ("secretKeyId", "accessKeyId")
        )
        raise ParamsError(
            f"property '{missing}': missing; {given} is set, and AWS credentials need both "
            "accessKeyId and secretKeyId (or neither, to use the worker's default credentials)"
        )
    if conn.sessionToken is not None and conn.accessKeyId is None:
        raise ParamsError(
            "property 'sessionToken': set accessKeyId and secretKeyId too; a session token "
            "belongs to a key pair"
        )
    return Credentials(conn.accessKeyId, conn.secretKeyId, conn.sessionToken)


def _botocore_config(conn: AwsConnection, ctx: TaskContext) -> Any:
    from botocore.config import Config

    connect, read = CONNECT_TIMEOUT, READ_TIMEOUT
    remaining = ctx.remaining()
    if remaining is not None:
        connect, read = min(connect, max(remaining, 1.0)), min(read, max(remaining, 1.0))
    options: dict[str, Any] = {
        "connect_timeout": connect,
        "read_timeout": read,
        "retries": {"mode": "standard", "max_attempts": MAX_ATTEMPTS},
    }
    if conn.forcePathStyle:
        options["s3"] = {"addressing_style": "path"}
    return Config(**options)


def _session(creds: Credentials, region: str | None) -> Any:
    import boto3

    return boto3.session.Session(
        aws_access_key_id=creds.access_key,
        aws_secret_access_key=creds.secret_key,
        aws_session_token=creds.token,
        region_name=region,
    )


def _make_client(session: Any, service: str, endpoint: str | None, config: Any, prop: str) -> Any:
    try:
        return session.client(service, endpoint_url=endpoint, config=config)
    except ValueError as exc:  # botocore: "Invalid endpoint: ..."
        raise ParamsError(f"property '{prop}': {exc}") from exc
    except Exception as exc:
        raise aws_error(f"cannot create the AWS {service} client", exc, conn=None) from exc


def resolve_credentials(conn: AwsConnection, ctx: TaskContext) -> Credentials:
    """The credentials to use: the static ones, or a role's temporary ones with `stsRoleArn`."""
    creds = static_credentials(conn)
    if conn.stsRoleArn is None:
        return creds
    sts = _make_client(
        _session(creds, conn.region),
        "sts",
        conn.stsEndpointOverride,
        _botocore_config(conn, ctx),
        "stsEndpointOverride",
    )
    request: dict[str, Any] = {
        "RoleArn": conn.stsRoleArn,
        "RoleSessionName": conn.stsRoleSessionName or DEFAULT_SESSION_NAME,
    }
    if conn.stsRoleExternalId is not None:
        request["ExternalId"] = conn.stsRoleExternalId
    if conn.stsRoleSessionDuration is not None:
        request["DurationSeconds"] = int(conn.stsRoleSessionDuration.total_seconds())
    try:
        answer = sts.assume_role(**request)
    except Exception as exc:
        raise aws_error(f"cannot assume role {conn.stsRoleArn}", exc, conn) from exc
    temporary = answer["Credentials"]
    ctx.logger.debug(f"assumed role {conn.stsRoleArn}")
    return Credentials(
        temporary["AccessKeyId"], temporary["SecretAccessKey"], temporary["SessionToken"]
    )


def client(conn: AwsConnection, service: str, ctx: TaskContext) -> Any:
    """A boto3 client for `service`, configured from the connection properties."""
    creds = resolve_credentials(conn, ctx)
    return _make_client(
        _session(creds, conn.region),
        service,
        conn.endpointOverride,
        _botocore_config(conn, ctx),
        "endpointOverride",
    )


def aws_env(conn: AwsConnection, ctx: TaskContext) -> dict[str, str]:
    """The AWS environment variables for a process (Kestra's AwsCLI names).

    Explicit credentials also blank an inherited `AWS_SESSION_TOKEN` (botocore ignores an
    empty one), so a worker's own session token is never paired with another key.
    """
    creds = resolve_credentials(conn, ctx)
    env: dict[str, str] = {}
    if creds.access_key is not None and creds.secret_key is not None:
        env["AWS_ACCESS_KEY_ID"] = creds.access_key
        env["AWS_SECRET_ACCESS_KEY"] = creds.secret_key
        env["AWS_SESSION_TOKEN"] = creds.token or ""
    if conn.region is not None:
        env["AWS_DEFAULT_REGION"] = conn.region
        env["AWS_REGION"] = conn.region
    if conn.endpointOverride is not None:
        env["AWS_ENDPOINT_URL"] = conn.endpointOverride
    return env


def aws_error(action: str, exc: BaseException, conn: AwsConnection | None) -> TaskFailed:
    """A TaskFailed for a boto3/botocore failure, saying what to check."""
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ReadTimeoutError,
    )

    endpoint = conn.endpointOverride if conn is not None else None
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return TaskFailed(
            f"{action}: no AWS credentials found; set accessKeyId and secretKeyId (e.g. "
            "\"{{ secret('AWS_ACCESS_KEY_ID') }}\") or give the worker default AWS credentials"
        )
    if isinstance(exc, NoRegionError):
        return TaskFailed(f"{action}: no AWS region; set the 'region' property")
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        where = f"endpointOverride {endpoint}" if endpoint else "the AWS endpoint"
        return TaskFailed(
            f"{action}: cannot connect to {where} ({exc}); check endpointOverride and region"
        )
    if isinstance(exc, ReadTimeoutError):
        return TaskFailed(f"{action}: timed out waiting for AWS ({exc})")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "Unknown")
        message = str(error.get("Message") or exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in CREDENTIAL_CODES:
            return TaskFailed(
                f"{action}: AWS rejected the credentials ({code}: {message}); check "
                "accessKeyId, secretKeyId and sessionToken"
            )
        if code in {"AccessDenied", "Forbidden", "403"}:
            return TaskFailed(
                f"{action}: access denied ({message}); the credentials lack the permission"
            )
        shown = f"{code}: {message}" if message != code else code
        suffix = f" (HTTP {status})" if status else ""
        return TaskFailed(f"{action}: {shown}{suffix}")
    return TaskFailed(f"{action}: {type(exc).__name__}: {exc}")
