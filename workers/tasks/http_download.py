"""Kestra's HTTP Download task: fetch a URL with httpx into the internal storage.

Outputs: `uri` (the stored file), `code`, `length` (bytes) and `headers` (name -> list of
values). An HTTP error status fails the run naming the status and the URL, unless `allowFailed`;
an empty body fails it when `failOnEmptyResponse` (the default) and is a WARN line otherwise.
The stored file is named from `Content-Disposition` when the server sends one, else from the
URL's last path segment. Timeouts come from `options` (ISO-8601 durations or seconds) and never
outlive the task run's deadline.

Nothing here knows about flows or the store.
"""

from __future__ import annotations

import datetime as dt
import re
from email.message import Message
from pathlib import PurePosixPath
from typing import Any, ClassVar, Literal
from urllib.parse import unquote, urlsplit

import pydantic

from workers.context import TaskContext
from workers.errors import TaskFailed
from workers.registry import TaskType, register_task

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class TimeoutOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    connectTimeout: dt.timedelta | None = None  # noqa: N815 - Kestra's property names
    readIdleTimeout: dt.timedelta | None = None  # noqa: N815


class AuthOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    type: Literal["BASIC", "BEARER"] = "BASIC"
    username: str | None = None
    password: str | None = None
    token: str | None = None


class RequestOptions(pydantic.BaseModel):
    """Kestra's HTTP `options`, old (`RequestOptions`) and new (`HttpConfiguration`) names."""

    model_config = pydantic.ConfigDict(extra="forbid")

    connectTimeout: dt.timedelta | None = None  # noqa: N815 - Kestra's property names
    readTimeout: dt.timedelta | None = None  # noqa: N815
    readIdleTimeout: dt.timedelta | None = None  # noqa: N815
    connectionPoolIdleTimeout: dt.timedelta | None = None  # noqa: N815
    maxContentLength: int | None = None  # noqa: N815
    followRedirects: bool = True  # noqa: N815
    basicAuthUser: str | None = None  # noqa: N815
    basicAuthPassword: str | None = None  # noqa: N815
    defaultCharset: str | None = None  # noqa: N815
    logLevel: str | None = None  # noqa: N815
    allowFailed: bool | None = None  # noqa: N815
    timeout: TimeoutOptions | None = None
    auth: AuthOptions | None = None


class SslOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    insecureTrustAllCertificates: bool | None = None  # noqa: N815


class DownloadParams(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    uri: str
    method: Method = "GET"
    body: str | None = None
    formData: dict[str, Any] | None = None  # noqa: N815
    contentType: str | None = None  # noqa: N815
    headers: dict[str, str] | None = None
    options: RequestOptions | None = None
    sslOptions: SslOptions | None = None  # noqa: N815
    failOnEmptyResponse: bool = True  # noqa: N815
    allowFailed: bool = False  # noqa: N815


def _seconds(*values: dt.timedelta | None) -> float | None:
    for value in values:
        if value is not None:
            return value.total_seconds()
    return None


def _filename(headers: Any, url: str) -> str:
    disposition = headers.get("content-disposition")
    if disposition:
        message = Message()
        message["content-disposition"] = disposition
        name = message.get_filename()
        if name:
            base = PurePosixPath(name.replace("\\", "/")).name
            if base not in {"", ".", ".."}:
                return base
    segment = PurePosixPath(unquote(urlsplit(url).path)).name
    return re.sub(r"[^\w.\-]", "_", segment) or "download"


@register_task
class Download(TaskType):
    kind: ClassVar[str] = "io.kestra.plugin.core.http.Download"
    aliases: ClassVar[tuple[str, ...]] = ("download", "io.kestra.plugin.fs.http.Download")
    Params: ClassVar[type[pydantic.BaseModel]] = DownloadParams

    def run(self, params: Any, ctx: TaskContext) -> dict[str, Any]:
        import httpx

        p: DownloadParams = params
        opts = p.options or RequestOptions()
        allow_failed = p.allowFailed or bool(opts.allowFailed)
        nested = opts.timeout or TimeoutOptions()
        connect = _seconds(opts.connectTimeout, nested.connectTimeout)
        read = _seconds(opts.readTimeout, opts.readIdleTimeout, nested.readIdleTimeout)
        remaining = ctx.remaining()
        if remaining is not None:
            connect = min(connect or remaining, remaining)
            read = min(read or remaining, remaining)
        timeout = httpx.Timeout(connect=connect, read=read, write=read, pool=connect)
        auth: httpx.Auth | None = None
        headers = dict(p.headers or {})
        if opts.basicAuthUser is not None and opts.basicAuthPassword is not None:
            auth = httpx.BasicAuth(opts.basicAuthUser, opts.basicAuthPassword)
        elif opts.auth is not None:
            if opts.auth.type == "BEARER" and opts.auth.token:
                headers["Authorization"] = f"Bearer {opts.auth.token}"
            elif opts.auth.username is not None:
                auth = httpx.BasicAuth(opts.auth.username, opts.auth.password or "")
        if p.contentType and p.body is not None:
            headers.setdefault("Content-Type", p.contentType)
        verify = not (p.sslOptions and p.sslOptions.insecureTrustAllCertificates)

        target = ctx.working_dir / "download.part"
        try:
            with (
                httpx.Client(
                    timeout=timeout,
                    follow_redirects=opts.followRedirects,
                    verify=verify,
                    auth=auth,
                ) as client,
                client.stream(
                    p.method,
                    p.uri,
                    headers=headers,
                    content=p.body,
                    data=p.formData if p.body is None else None,
                ) as response,
            ):
                ctx.on_cancel(response.close)
                if response.status_code >= 400 and not allow_failed:
                    raise TaskFailed(
                        f"HTTP {response.status_code} {response.reason_phrase} from "
                        f"{p.method} {p.uri}"
                    )
                length = 0
                with target.open("wb") as sink:
                    for chunk in response.iter_bytes():
                        sink.write(chunk)
                        length += len(chunk)
                        if opts.maxContentLength is not None and length > opts.maxContentLength:
                            raise TaskFailed(
                                f"response from {p.uri} exceeds maxContentLength "
                                f"({opts.maxContentLength} bytes)"
                            )
                code = response.status_code
                response_headers = {
                    name: response.headers.get_list(name) for name in response.headers
                }
                name = _filename(response.headers, str(response.url))
        except httpx.HTTPError as exc:
            raise TaskFailed(
                f"{p.method} {p.uri} failed: {type(exc).__name__}: {exc or 'no detail'}"
            ) from exc

        if length == 0:
            if p.failOnEmptyResponse and not allow_failed:
                raise TaskFailed(
                    f"empty response from {p.method} {p.uri} (HTTP {code}); set "
                    "failOnEmptyResponse: false to accept it"
                )
            ctx.logger.warn(f"File '{p.uri}' is empty")
        uri = ctx.put_file(target, name=name)
        ctx.logger.debug(f"File '{p.uri}' downloaded to '{uri}'")
        return {"uri": uri, "code": code, "length": length, "headers": response_headers}
