"""The HTTP Download task against a local http.server on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from store.codec import TaskRunEvent, decode_event
from workers.runner import run_task
from workers.spec import TaskResult, TaskRunSpec, decode_result, encode_spec
from workers.storage import InternalStorage

pytestmark = pytest.mark.integration

CSV = b"id,amount\n1,10\n2,20\n"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/orders.csv":
            self._send(200, CSV, {"Content-Type": "text/csv"})
        elif self.path == "/named":
            self._send(200, b"named", {"Content-Disposition": 'attachment; filename="r.txt"'})
        elif self.path == "/empty":
            self._send(200, b"")
        elif self.path == "/secure":
            auth = self.headers.get("Authorization", "")
            self._send(200 if auth == "Basic dTpwdw==" else 401, b"auth:" + auth.encode())
        elif self.path == "/slow":
            time.sleep(3)
            self._send(200, b"late")
        else:
            self._send(404, b"not here")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self._send(201, b"got:" + self.rfile.read(length))

    def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def run(tmp_path: Path, properties: dict[str, Any], **fields: Any) -> TaskResult:
    spec = TaskRunSpec(
        execution_id="exec1",
        flow_namespace="company.team",
        flow_id="demo",
        task_id="get",
        taskrun_id="run1",
        type="download",
        properties=properties,
        storage=str(tmp_path / "storage"),
        **fields,
    )
    return decode_result(run_task(encode_spec(spec)))


def read(tmp_path: Path, uri: str) -> bytes:
    with InternalStorage.from_root(str(tmp_path / "storage")).open_read(uri) as stream:
        return stream.read()


def test_download_stores_the_file(tmp_path: Path, server: str) -> None:
    result = run(tmp_path, {"uri": f"{server}/orders.csv"})
    assert result.state == "SUCCESS", result.error
    assert result.outputs["code"] == 200
    assert result.outputs["length"] == len(CSV)
    assert result.outputs["headers"]["content-type"] == ["text/csv"]
    assert result.outputs["uri"] == (
        "kestra:///company/team/demo/executions/exec1/tasks/get/run1/orders.csv"
    )
    assert read(tmp_path, result.outputs["uri"]) == CSV


def test_content_disposition_names_the_file(tmp_path: Path, server: str) -> None:
    result = run(tmp_path, {"uri": f"{server}/named"})
    assert result.outputs["uri"].endswith("/run1/r.txt")


def test_http_error_fails_naming_status_and_url(tmp_path: Path, server: str) -> None:
    result = run(tmp_path, {"uri": f"{server}/missing"})
    assert result.state == "FAILED"
    assert result.error == f"HTTP 404 Not Found from GET {server}/missing"


def test_allow_failed_keeps_the_error_body(tmp_path: Path, server: str) -> None:
    result = run(tmp_path, {"uri": f"{server}/missing", "allowFailed": True})
    assert result.state == "SUCCESS"
    assert result.outputs["code"] == 404
    assert read(tmp_path, result.outputs["uri"]) == b"not here"


def test_empty_response(tmp_path: Path, server: str) -> None:
    failed = run(tmp_path, {"uri": f"{server}/empty"})
    assert failed.error == (
        f"empty response from GET {server}/empty (HTTP 200); set failOnEmptyResponse: false "
        "to accept it"
    )
    accepted = run(tmp_path, {"uri": f"{server}/empty", "failOnEmptyResponse": False})
    assert accepted.state == "SUCCESS"
    assert accepted.outputs["length"] == 0
    assert [line.message for line in accepted.logs] == [f"File '{server}/empty' is empty"]


def test_basic_auth_and_masking(tmp_path: Path, server: str) -> None:
    result = run(
        tmp_path,
        {"uri": f"{server}/secure", "options": {"basicAuthUser": "u", "basicAuthPassword": "pw"}},
    )
    assert result.state == "SUCCESS", result.error
    assert read(tmp_path, result.outputs["uri"]) == b"auth:Basic dTpwdw=="
    masked = run(
        tmp_path,
        {"uri": f"{server}/secure", "headers": {"Authorization": "Bearer tok-secret"}},
        secrets=["tok-secret"],
    )
    assert masked.state == "FAILED"
    assert masked.error == f"HTTP 401 Unauthorized from GET {server}/secure"
    event = decode_event(masked.event)
    assert isinstance(event, TaskRunEvent)
    assert event.properties["headers"] == {"Authorization": "Bearer ******"}


def test_post_body(tmp_path: Path, server: str) -> None:
    result = run(tmp_path, {"uri": f"{server}/echo", "method": "POST", "body": "hello"})
    assert result.outputs["code"] == 201
    assert read(tmp_path, result.outputs["uri"]) == b"got:hello"


def test_read_timeout_from_options(tmp_path: Path, server: str) -> None:
    result = run(tmp_path, {"uri": f"{server}/slow", "options": {"readTimeout": "PT0.3S"}})
    assert result.state == "FAILED"
    assert result.error == f"GET {server}/slow failed: ReadTimeout: timed out"


def test_connection_refused(tmp_path: Path) -> None:
    result = run(tmp_path, {"uri": "http://127.0.0.1:9/x"})
    assert result.state == "FAILED"
    assert result.error == (
        "GET http://127.0.0.1:9/x failed: ConnectError: [Errno 111] Connection refused"
    )


def test_bad_method(tmp_path: Path, server: str) -> None:
    result = run(tmp_path, {"uri": f"{server}/orders.csv", "method": "FETCH"})
    assert result.error == (
        "task 'get': property 'method': Input should be 'GET', 'POST', 'PUT', 'PATCH', "
        "'DELETE', 'HEAD' or 'OPTIONS'"
    )
