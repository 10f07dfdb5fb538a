"""The internal storage: where files a task produces live, shared by every node of a cluster.

A file is addressed by a Kestra-style URI, `kestra:///<namespace as folders>/<flowId>/executions/
<executionId>/tasks/<taskId>/<taskRunId>/<name>`, which tasks put in their outputs and later
tasks read back (`inputFiles`, `databaseUri`...).

The root is either a local folder (one machine, or a folder every node mounts) or
`s3://bucket/prefix` for clusters. S3 goes through boto3 with the standard AWS environment
variables (`AWS_ACCESS_KEY_ID`, `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`...);
`ASSETLINE_STORAGE_ENDPOINT`, when set, overrides the endpoint (MinIO, moto, Ceph...). A Ray
worker does not see the driver's environment (its raylet started earlier), so the driver copies
these settings (`storage_settings`) into each task run's env, and `from_root(root, env=...)`
reads that env first, then the worker's own.

This module knows nothing of tasks, flows or the store; every failure is a `StorageError`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Final, cast
from urllib.parse import quote, unquote, urlsplit

from workers.errors import StorageError

SCHEME: Final = "kestra://"
ENDPOINT_ENV: Final = "ASSETLINE_STORAGE_ENDPOINT"
#: The variables an S3 storage reads: endpoint, credentials, region.
S3_SETTINGS: Final = (
    ENDPOINT_ENV,
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
)


def storage_settings(root: str, environ: Mapping[str, str]) -> dict[str, str]:
    """What a worker on another node needs to reach `root`, taken from `environ` (the driver's):
    the S3 settings that are set for an `s3://` root, nothing for a local folder."""
    if not root.startswith("s3://"):
        return {}
    return {name: environ[name] for name in S3_SETTINGS if environ.get(name)}


def _segment(value: str, what: str) -> str:
    if not value or value in {".", ".."} or "/" in value or "\\" in value:
        raise StorageError(f"invalid {what} {value!r} for an internal-storage path")
    return value


def _relative_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or not path.parts or ".." in path.parts:
        raise StorageError(
            f"invalid file name {name!r} for the internal storage: use a relative path without '..'"
        )
    return path


def storage_key(
    *, namespace: str, flow_id: str, execution_id: str, task_id: str, taskrun_id: str, name: str
) -> str:
    """The path (relative to the root) of a task run's file; also the URI's path."""
    parts = [_segment(part, "namespace") for part in namespace.split(".")]
    parts += [
        _segment(flow_id, "flow id"),
        "executions",
        _segment(execution_id, "execution id"),
        "tasks",
        _segment(task_id, "task id"),
        _segment(taskrun_id, "task run id"),
    ]
    parts += list(_relative_name(name).parts)
    return "/".join(parts)


def key_of(uri: str) -> str:
    """The storage key a `kestra:///...` URI names; StorageError if it is not one."""
    if not isinstance(uri, str) or not uri.startswith(SCHEME):
        raise StorageError(f"not an internal-storage URI: {uri!r} (expected kestra:///...)")
    path = unquote(urlsplit(uri).path).lstrip("/")
    parts = PurePosixPath(path).parts
    if not parts or ".." in parts:
        raise StorageError(f"invalid internal-storage URI: {uri!r}")
    return "/".join(parts)


def uri_of(key: str) -> str:
    return SCHEME + "/" + quote(key)


class InternalStorage:
    """Put and get task files by `kestra:///` URI, on a local folder or an S3 prefix."""

    def __init__(self, root: str) -> None:
        self.root = root

    @classmethod
    def from_root(cls, root: str, env: Mapping[str, str] | None = None) -> InternalStorage:
        """A local folder path (created on first put), or `s3://bucket/prefix`; an S3 root takes
        its settings (`S3_SETTINGS`) from `env` first, then from this process's environment."""
        if not root:
            raise StorageError(
                "no internal storage configured for this task run (empty storage root)"
            )
        if root.startswith("s3://"):
            return S3Storage(root, env)
        if "://" in root:
            raise StorageError(
                f"unsupported internal-storage root {root!r}: use a local folder or s3://bucket"
            )
        return LocalStorage(root)

    def put(
        self,
        local: Path,
        *,
        namespace: str,
        flow_id: str,
        execution_id: str,
        task_id: str,
        taskrun_id: str,
        name: str | None = None,
    ) -> str:
        """Copy `local` into the storage; return its `kestra:///` URI."""
        key = storage_key(
            namespace=namespace,
            flow_id=flow_id,
            execution_id=execution_id,
            task_id=task_id,
            taskrun_id=taskrun_id,
            name=name if name is not None else local.name,
        )
        if not local.is_file():
            raise StorageError(f"cannot store {str(local)!r}: no such file")
        self._put(local, key)
        return uri_of(key)

    def get(self, uri: str, dest_dir: Path) -> Path:
        """A local copy of the file (for a local root, the stored file itself)."""
        raise NotImplementedError

    def open_read(self, uri: str) -> BinaryIO:
        """A binary stream of the file's content; the caller closes it."""
        raise NotImplementedError

    def _put(self, local: Path, key: str) -> None:
        raise NotImplementedError


class LocalStorage(InternalStorage):
    """Files under a local folder."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.path = Path(root).expanduser().absolute()

    def _file(self, uri: str) -> Path:
        found = self.path / key_of(uri)
        if not found.is_file():
            raise StorageError(f"no file in the internal storage at {uri}")
        return found

    def _put(self, local: Path, key: str) -> None:
        target = self.path / key
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.part{os.getpid()}")
            shutil.copyfile(local, tmp)
            tmp.replace(target)
        except OSError as exc:
            raise StorageError(f"cannot store {local.name!r} under {self.path}: {exc}") from exc

    def get(self, uri: str, dest_dir: Path) -> Path:
        return self._file(uri)

    def open_read(self, uri: str) -> BinaryIO:
        path = self._file(uri)
        try:
            return path.open("rb")
        except OSError as exc:
            raise StorageError(f"cannot read {uri}: {exc}") from exc


def _s3_errors() -> tuple[type[Exception], ...]:
    """The exceptions boto3 raises for S3 calls (imported lazily: boto3 is slow to import)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    return (boto3.exceptions.Boto3Error, BotoCoreError, ClientError)


class S3Storage(InternalStorage):
    """Files under an S3 (or S3-compatible) bucket prefix, through boto3."""

    def __init__(self, root: str, env: Mapping[str, str] | None = None) -> None:
        super().__init__(root)
        self.env = {name: value for name, value in (env or {}).items() if name in S3_SETTINGS}
        parsed = urlsplit(root)
        if not parsed.netloc:
            raise StorageError(f"invalid S3 storage root {root!r}: expected s3://bucket/prefix")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self._client: Any = None

    def _s3(self) -> Any:
        if self._client is None:
            import boto3

            env = self.env
            endpoint = (
                env.get(ENDPOINT_ENV)
                or os.environ.get(ENDPOINT_ENV)
                or env.get("AWS_ENDPOINT_URL_S3")
                or env.get("AWS_ENDPOINT_URL")
                or None
            )
            keys: dict[str, str] = {}
            if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
                keys = {
                    "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
                    "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
                }
                if env.get("AWS_SESSION_TOKEN"):
                    keys["aws_session_token"] = env["AWS_SESSION_TOKEN"]
            region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
            try:
                session = boto3.session.Session(region_name=region, **keys)
                self._client = session.client("s3", endpoint_url=endpoint)
            except _s3_errors() as exc:
                raise StorageError(f"cannot set up S3 access for {self.root}: {exc}") from exc
        return self._client

    def _object_key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _put(self, local: Path, key: str) -> None:

        try:
            self._s3().upload_file(str(local), self.bucket, self._object_key(key))
        except _s3_errors() as exc:
            raise StorageError(f"cannot store {local.name!r} in {self.root}: {exc}") from exc

    def get(self, uri: str, dest_dir: Path) -> Path:

        key = key_of(uri)
        target = dest_dir / PurePosixPath(key).name
        try:
            dest_dir.mkdir(parents=True, exist_ok=True)
            self._s3().download_file(self.bucket, self._object_key(key), str(target))
        except _s3_errors() as exc:
            raise StorageError(f"cannot fetch {uri} from {self.root}: {exc}") from exc
        return target

    def open_read(self, uri: str) -> BinaryIO:

        try:
            answer = self._s3().get_object(Bucket=self.bucket, Key=self._object_key(key_of(uri)))
        except _s3_errors() as exc:
            raise StorageError(f"cannot read {uri} from {self.root}: {exc}") from exc
        return cast(BinaryIO, answer["Body"])
