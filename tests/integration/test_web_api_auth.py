"""Safe by default: the token gate (bearer header or login cookie, 401 without), where
`assetline ui` may listen, and the command serving the API on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from scheduler.web import BindRefused, check_bind, create_app, is_loopback, resolve_token
from scheduler.web.auth import COOKIE, session_value
from store import Store
from store.codec import AssetDecl, AssetSetEvent

pytestmark = pytest.mark.integration

TOKEN = "s3cret-token-for-tests"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def guarded(home: Path) -> Iterator[TestClient]:
    with Store.open(home) as store:
        store.write(
            [AssetSetEvent(asset=AssetDecl(id="a1", namespace="n", type="Table"), time=1.0)]
        )
    with TestClient(create_app(home, token=TOKEN), follow_redirects=False) as client:
        yield client


def test_api_answers_401_without_the_token(guarded: TestClient) -> None:
    for path in ("/api/v1/assets", "/api/v1/assets/a1", "/openapi.json"):
        response = guarded.get(path)
        assert response.status_code == 401, path
        assert response.json() == {
            "error": "a token is required: send 'Authorization: Bearer <token>'",
            "status": 401,
        }
        assert response.headers["www-authenticate"] == "Bearer"
    wrong = guarded.get("/api/v1/assets", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    basic = guarded.get("/api/v1/assets", headers={"Authorization": f"Basic {TOKEN}"})
    assert basic.status_code == 401


def test_bearer_token_passes(guarded: TestClient) -> None:
    response = guarded.get("/api/v1/assets", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert [item["id"] for item in response.json()["items"]] == ["a1"]


def test_pages_answer_401_with_the_login_form(guarded: TestClient) -> None:
    response = guarded.get("/asset?id=a1")
    assert response.status_code == 401
    assert '<form method="post" action="/login">' in response.text
    assert 'name="next" value="/asset?id=a1"' in response.text
    assert "a1" not in response.text.replace("/asset?id=a1", "")  # no data leaks
    assert guarded.get("/static/pages.js").status_code == 401
    assert guarded.get("/static/style.css").status_code == 200  # the login page's style


def test_login_sets_a_cookie_that_is_not_the_token(guarded: TestClient) -> None:
    wrong = guarded.post("/login", data={"token": "nope", "next": "/executions"})
    assert wrong.status_code == 401
    assert "That token is not right." in wrong.text
    assert COOKIE not in wrong.cookies
    right = guarded.post("/login", data={"token": TOKEN, "next": "/executions"})
    assert right.status_code == 303
    assert right.headers["location"] == "/executions"
    cookie = right.cookies[COOKIE]
    assert cookie == session_value(TOKEN) and TOKEN not in cookie
    assert "httponly" in right.headers["set-cookie"].lower()
    assert "samesite=strict" in right.headers["set-cookie"].lower()
    guarded.cookies.clear()
    guarded.cookies.set(COOKIE, cookie)
    assert guarded.get("/api/v1/assets").status_code == 200
    assert guarded.get("/executions").status_code == 200
    guarded.cookies.clear()
    guarded.cookies.set(COOKIE, session_value("another token"))
    assert guarded.get("/api/v1/assets").status_code == 401


def test_login_never_redirects_off_the_server(guarded: TestClient) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = guarded.post("/login", data={"token": TOKEN, "next": target})
        assert response.headers["location"] == "/", target


def test_login_form_escapes_what_it_echoes(guarded: TestClient) -> None:
    response = guarded.get('/x"><script>alert(1)</script>')
    assert response.status_code == 401
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;" in response.text


def test_without_a_token_everything_is_open(home: Path) -> None:
    with TestClient(create_app(home, token=None)) as client:
        assert client.get("/api/v1/assets").status_code == 200
        assert client.get("/api/v1/status").json()["auth"] is False


def test_bind_rules() -> None:
    for host in ("127.0.0.1", "127.0.1.5", "::1", "[::1]", "localhost"):
        assert is_loopback(host), host
        check_bind(host, None)
    for host in ("0.0.0.0", "192.168.1.10", "::", "example.org"):
        assert not is_loopback(host), host
        check_bind(host, TOKEN)
        with pytest.raises(BindRefused) as refused:
            check_bind(host, None)
        assert str(refused.value) == (
            f"refusing to listen on {host!r} without a token: anyone who can reach that "
            "address could read the store. Pass --token (or set ASSETLINE_TOKEN), or listen "
            "on 127.0.0.1"
        )


def test_token_comes_from_the_option_or_the_environment() -> None:
    assert resolve_token("given", {"ASSETLINE_TOKEN": "env"}) == "given"
    assert resolve_token(None, {"ASSETLINE_TOKEN": "env"}) == "env"
    assert resolve_token(None, {"ASSETLINE_TOKEN": ""}) is None
    assert resolve_token(None, {}) is None


def test_ui_refuses_a_public_host_without_a_token(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scheduler.cli import app

    monkeypatch.delenv("ASSETLINE_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["ui", "--home", str(home), "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "ui: refusing to listen on '0.0.0.0' without a token" in result.output
    bad_port = CliRunner().invoke(app, ["ui", "--home", str(home), "--port", "70000"])
    assert bad_port.exit_code == 2
    assert "ui: --port 70000 is not a TCP port (1-65535)" in bad_port.output


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_ui_command_serves_on_loopback_with_a_token(home: Path) -> None:
    port = _free_port()
    env = dict(os.environ, ASSETLINE_TOKEN=TOKEN, PYTHONPATH=str(ROOT))
    command = [sys.executable, "-c", "from scheduler.cli import main; main()", "ui"]
    proc = subprocess.Popen(
        [*command, "--home", str(home), "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/v1/status"
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(url, timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "assetline ui did not start"
                time.sleep(0.1)
        assert response.status_code == 401
        ok = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        assert ok.json() == {"home": str(home), "scheduling": False, "auth": True}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert f"assetline ui on http://127.0.0.1:{port}/ (token required)" in err.decode()
