"""Token protection of every page and API call, the login form, and the security headers.

When the app has a token, a request passes with `Authorization: Bearer <token>` or with the
session cookie the login form sets (an HMAC of the token, not the token itself); both compare
in constant time (`hmac.compare_digest`). Without either, API calls answer 401 JSON and pages
answer 401 with the login form. Every response carries a Content-Security-Policy that allows
only the package's own scripts and styles (no inline script), so text a flow author wrote can
never run even if a page forgot to escape it.

This module decides who may pass; it reads nothing from the store.
"""

from __future__ import annotations

import hashlib
import hmac
import html
from typing import Any
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["COOKIE", "SECURITY_HEADERS", "TokenGate", "login_page", "login_submit", "session_value"]

COOKIE = "assetline_session"
#: Paths anyone may fetch: the login form itself and its style sheet.
OPEN_PATHS = frozenset({"/login", "/static/style.css"})
SECURITY_HEADERS: dict[str, str] = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def session_value(token: str) -> str:
    """What the session cookie holds for `token` (a keyed digest: the cookie never holds it)."""
    return hmac.new(token.encode(), b"assetline-ui-session", hashlib.sha256).hexdigest()


def _bearer(headers: Headers) -> str | None:
    value = headers.get("authorization", "")
    scheme, _, credential = value.partition(" ")
    return credential.strip() if scheme.lower() == "bearer" and credential.strip() else None


def is_api_path(path: str) -> bool:
    return path.startswith("/api/") or path == "/openapi.json"


class TokenGate:
    """ASGI middleware: security headers on every response; the token check when one is set."""

    def __init__(self, app: ASGIApp, *, token: str | None) -> None:
        self.app = app
        self.token = token
        self.session = session_value(token) if token else None

    def allows(self, scope: Scope) -> bool:
        if self.token is None or self.session is None:
            return True
        if scope["path"] in OPEN_PATHS:
            return True
        headers = Headers(scope=scope)
        bearer = _bearer(headers)
        if bearer is not None and hmac.compare_digest(bearer.encode(), self.token.encode()):
            return True
        cookie = Request(scope).cookies.get(COOKIE)
        return cookie is not None and hmac.compare_digest(cookie.encode(), self.session.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                present = {name.lower() for name, _ in raw}
                for name, value in SECURITY_HEADERS.items():
                    if name.encode() not in present:
                        raw.append((name.encode(), value.encode()))
                message["headers"] = raw
            await send(message)

        if self.allows(scope):
            await self.app(scope, receive, send_with_headers)
            return
        response = _refusal(scope)
        await response(scope, receive, send_with_headers)


def _refusal(scope: Scope) -> Response:
    path = scope["path"]
    if is_api_path(path):
        return JSONResponse(
            {"error": "a token is required: send 'Authorization: Bearer <token>'", "status": 401},
            status_code=401,
            headers={"www-authenticate": "Bearer"},
        )
    query = scope.get("query_string", b"").decode("latin-1")
    target = path + (f"?{query}" if query else "")
    return HTMLResponse(_login_html(target, failed=False), status_code=401)


def _safe_next(target: str) -> str:
    """Only a path on this server (never `//host` or a scheme): no open redirect."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_html(target: str, *, failed: bool) -> str:
    message = '<p class="error">That token is not right.</p>' if failed else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<title>assetline: sign in</title>"
        '<link rel="stylesheet" href="/static/style.css"></head><body class="login">'
        "<main><h1>assetline</h1><p>This server needs its token.</p>"
        f"{message}"
        '<form method="post" action="/login">'
        f'<input type="hidden" name="next" value="{html.escape(_safe_next(target))}">'
        '<label>Token <input type="password" name="token" autocomplete="current-password" '
        'autofocus required></label> <button type="submit">Sign in</button></form>'
        "</main></body></html>"
    )


async def login_page(request: Request) -> Response:
    """GET /login: the form (also shown with any 401 page)."""
    return HTMLResponse(_login_html(request.query_params.get("next", "/"), failed=False))


def login_submit(token: str | None) -> Any:
    """POST /login for an app protected by `token`: set the cookie and go on, or say no."""

    async def submit(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        given = form.get("token", [""])[0]
        target = _safe_next(form.get("next", ["/"])[0])
        if token is None:
            return RedirectResponse(target, status_code=303)
        if not hmac.compare_digest(given.encode(), token.encode()):
            return HTMLResponse(_login_html(target, failed=True), status_code=401)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE, session_value(token), httponly=True, samesite="strict", path="/"
        )
        return response

    return submit
