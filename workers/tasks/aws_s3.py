"""Kestra's S3 tasks through boto3: `Upload`, `Download` and `CreateBucket`.

`Upload` (alias `s3.upload`) sends `from` to `s3://bucket/key`. `from` is one file, a list of
files, or a string holding a JSON array; each file is a `kestra:///` URI of the internal
storage or a local path (relative ones resolve against the flow's directory, like other tasks;
`file://` URLs too). With several files, `key` is a folder and each file keeps its name under
it. Outputs (Kestra's): `bucket`, `key`, `eTag`, `versionId` for one file; `bucket` and, as an
addition, `files` (key -> {eTag, versionId}) for several.

`Download` (alias `s3.download`) fetches one object (`key`, optional `versionId`) into the
internal storage; outputs `uri`, `eTag`, `versionId`, `contentLength`, `contentType`, `metadata`.
Kestra's multi-file mode (`prefix`, `regexp`...) is not offered: those properties are refused.

`CreateBucket` (alias `s3.createbucket`) creates `bucket` (in `region`, when one is given);
outputs `bucket`, `region` and `location` (what S3 answered).

Connection properties come from `aws_connection`. Nothing here knows about flows or the store.
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Final
from urllib.parse import unquote, urlencode, urlsplit

import pydantic

from workers.context import TaskContext
from workers.errors import ParamsError, StorageError, TaskFailed
from workers.registry import TaskType, register_task
from workers.storage import SCHEME
from workers.tasks.aws_connection import AwsConnection, aws_error, client

#: Files up to this size go in one PutObject call (whose answer carries the ETag); larger ones
#: go through boto3's managed multipart transfer.
SINGLE_PUT_LIMIT: Final = 8 * 1024 * 1024

#: Upload properties -> boto3 ExtraArgs names.
_EXTRA_ARGS: Final = {
    "cacheControl": "CacheControl",
    "contentType": "ContentType",
    "contentEncoding": "ContentEncoding",
    "contentDisposition": "ContentDisposition",
    "contentLanguage": "ContentLanguage",
    "acl": "ACL",
    "storageClass": "StorageClass",
    "serverSideEncryption": "ServerSideEncryption",
    "bucketKeyEnabled": "BucketKeyEnabled",
    "expectedBucketOwner": "ExpectedBucketOwner",
    "requestPayer": "RequestPayer",
}


class S3ObjectParams(AwsConnection):
    """Kestra's AbstractS3Object: a connection plus a bucket."""

    bucket: str = pydantic.Field(min_length=1)
    requestPayer: str | None = None  # noqa: N815 - Kestra's property names


class UploadParams(S3ObjectParams):
    from_: str | list[str] = pydantic.Field(alias="from")
    key: str = pydantic.Field(min_length=1)
    metadata: dict[str, str] | None = None
    cacheControl: str | None = None  # noqa: N815
    contentType: str | None = None  # noqa: N815
    contentEncoding: str | None = None  # noqa: N815
    contentDisposition: str | None = None  # noqa: N815
    contentLanguage: str | None = None  # noqa: N815
    acl: str | None = None
    storageClass: str | None = None  # noqa: N815
    serverSideEncryption: str | None = None  # noqa: N815
    bucketKeyEnabled: bool | None = None  # noqa: N815
    expectedBucketOwner: str | None = None  # noqa: N815
    tagging: dict[str, str] | None = None


class DownloadParams(S3ObjectParams):
    key: str = pydantic.Field(min_length=1)
    versionId: str | None = None  # noqa: N815
    expectedBucketOwner: str | None = None  # noqa: N815


class CreateBucketParams(AwsConnection):
    bucket: str = pydantic.Field(min_length=1)
    acl: str | None = None
    grantFullControl: str | None = None  # noqa: N815
    grantRead: str | None = None  # noqa: N815
    grantReadACP: str | None = None  # noqa: N815
    grantWrite: str | None = None  # noqa: N815
    grantWriteACP: str | None = None  # noqa: N815
    objectLockEnabledForBucket: bool | None = None  # noqa: N815


def source_list(value: str | list[str]) -> list[str]:
    """Kestra's `from`: one file, a list, or a string holding a JSON array of files."""
    if isinstance(value, list):
        items = value
    elif value.strip().startswith("[") and value.strip().endswith("]"):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ParamsError(f"property 'from': not a valid JSON array ({exc.msg})") from exc
        if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
            raise ParamsError("property 'from': the JSON array must hold file URIs or paths")
        items = parsed
    else:
        items = [value]
    items = [item.strip() for item in items if item.strip()]
    if not items:
        raise ParamsError("property 'from': no file to upload (empty list)")
    return items


def local_source(ctx: TaskContext, source: str) -> Path:
    """A local file for a `from` entry: fetched from the internal storage, or a local path."""
    if source.startswith(SCHEME):
        try:
            return ctx.storage.get(source, ctx.working_dir / "from")
        except StorageError as exc:
            raise TaskFailed(f"property 'from': {exc}") from exc
    path = unquote(urlsplit(source).path) if source.startswith("file://") else source
    found = ctx.resolve_path(path)
    if not found.is_file():
        base = ctx.spec.workdir or os.getcwd()
        raise TaskFailed(
            f"property 'from': no file at {str(found)!r} (a relative path resolves against "
            f"{base!r}; use a kestra:/// URI for a file another task produced)"
        )
    return found


def _object_name(source: str) -> str:
    path = source[len(SCHEME) :] if source.startswith(SCHEME) else urlsplit(source).path or source
    return PurePosixPath(unquote(path)).name


def _extra_args(p: UploadParams) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for prop, name in _EXTRA_ARGS.items():
        value = getattr(p, prop)
        if value is not None:
            extra[name] = value
    if p.metadata:
        extra["Metadata"] = dict(p.metadata)
    if p.tagging:
        extra["Tagging"] = urlencode(p.tagging)
    return extra


@register_task
class Upload(TaskType):
    kind: ClassVar[str] = "io.kestra.plugin.aws.s3.Upload"
    aliases: ClassVar[tuple[str, ...]] = ("s3.upload",)
    Params: ClassVar[type[pydantic.BaseModel]] = UploadParams

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        p: UploadParams = params
        sources = source_list(p.from_)
        keys = [
            p.key if len(sources) == 1 else f"{p.key.rstrip('/')}/{_object_name(source)}"
            for source in sources
        ]
        for index, key in enumerate(keys):
            if key in keys[:index]:
                raise ParamsError(
                    f"property 'from': {sources[keys.index(key)]!r} and {sources[index]!r} "
                    f"would both be uploaded to s3://{p.bucket}/{key}; give files distinct names"
                )
        files = [(source, local_source(ctx, source)) for source in sources]
        s3 = client(p, "s3", ctx)
        extra = _extra_args(p)
        results: dict[str, dict[str, Any]] = {}
        for (source, local), key in zip(files, keys, strict=True):
            ctx.check_cancelled()
            try:
                results[key] = _put(s3, local, p.bucket, key, extra)
            except Exception as exc:
                raise aws_error(f"cannot upload to s3://{p.bucket}/{key}", exc, p) from exc
            ctx.logger.info(
                f"Uploaded {source} ({local.stat().st_size} bytes) to s3://{p.bucket}/{key}"
            )
        if len(files) == 1:
            ((key, answer),) = results.items()
            return {"bucket": p.bucket, "key": key, **answer}
        return {"bucket": p.bucket, "files": results}


def _put(s3: Any, local: Path, bucket: str, key: str, extra: dict[str, Any]) -> dict[str, Any]:
    """Upload one file; its eTag and versionId (None when S3 does not say)."""
    if local.stat().st_size <= SINGLE_PUT_LIMIT:
        with local.open("rb") as body:
            answer = s3.put_object(Bucket=bucket, Key=key, Body=body, **extra)
    else:
        s3.upload_file(str(local), bucket, key, ExtraArgs=extra or None)
        head: dict[str, Any] = {"Bucket": bucket, "Key": key}
        for name in ("ExpectedBucketOwner", "RequestPayer"):
            if name in extra:
                head[name] = extra[name]
        answer = s3.head_object(**head)
    return {"eTag": answer.get("ETag"), "versionId": answer.get("VersionId")}


@register_task
class Download(TaskType):
    kind: ClassVar[str] = "io.kestra.plugin.aws.s3.Download"
    aliases: ClassVar[tuple[str, ...]] = ("s3.download",)
    Params: ClassVar[type[pydantic.BaseModel]] = DownloadParams

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        p: DownloadParams = params
        s3 = client(p, "s3", ctx)
        request: dict[str, Any] = {"Bucket": p.bucket, "Key": p.key}
        for prop, name in (
            ("versionId", "VersionId"),
            ("requestPayer", "RequestPayer"),
            ("expectedBucketOwner", "ExpectedBucketOwner"),
        ):
            value = getattr(p, prop)
            if value is not None:
                request[name] = value
        target = ctx.working_dir / "s3-download.part"
        try:
            answer = s3.get_object(**request)
            body = answer["Body"]
            try:
                with target.open("wb") as sink:
                    for chunk in body.iter_chunks(1024 * 1024):
                        sink.write(chunk)
            finally:
                body.close()
        except Exception as exc:
            raise aws_error(f"cannot download s3://{p.bucket}/{p.key}", exc, p) from exc
        name = PurePosixPath(p.key).name or "download"
        uri = ctx.put_file(target, name=name)
        ctx.logger.debug(f"Downloaded s3://{p.bucket}/{p.key} to {uri}")
        return {
            "uri": uri,
            "eTag": answer.get("ETag"),
            "versionId": answer.get("VersionId"),
            "contentLength": answer.get("ContentLength"),
            "contentType": answer.get("ContentType"),
            "metadata": dict(answer.get("Metadata") or {}),
        }


@register_task
class CreateBucket(TaskType):
    kind: ClassVar[str] = "io.kestra.plugin.aws.s3.CreateBucket"
    aliases: ClassVar[tuple[str, ...]] = ("s3.createbucket",)
    Params: ClassVar[type[pydantic.BaseModel]] = CreateBucketParams

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        p: CreateBucketParams = params
        s3 = client(p, "s3", ctx)
        request: dict[str, Any] = {"Bucket": p.bucket}
        for prop, name in (
            ("acl", "ACL"),
            ("grantFullControl", "GrantFullControl"),
            ("grantRead", "GrantRead"),
            ("grantReadACP", "GrantReadACP"),
            ("grantWrite", "GrantWrite"),
            ("grantWriteACP", "GrantWriteACP"),
            ("objectLockEnabledForBucket", "ObjectLockEnabledForBucket"),
        ):
            value = getattr(p, prop)
            if value is not None:
                request[name] = value
        if p.region and p.region != "us-east-1":  # S3 wants the region spelled out elsewhere
            request["CreateBucketConfiguration"] = {"LocationConstraint": p.region}
        try:
            answer = s3.create_bucket(**request)
        except Exception as exc:
            raise aws_error(f"cannot create bucket {p.bucket!r}", exc, p) from exc
        ctx.logger.info(f"Created bucket {p.bucket}")
        return {"bucket": p.bucket, "region": p.region, "location": answer.get("Location")}
