"""The web UI and JSON API that `assetline ui` and `assetline server` serve.

    app = create_app(home, token=None)        # an ASGI app (FastAPI)
    check_bind("0.0.0.0", token)              # BindRefused: non-loopback needs a token

Modules: `app` (assembly), `api_assets`, `api_executions`, `api_flows` (the JSON API), `pages`
(the static page shells), `auth` (token gate, login form, security headers), `bind` (where it
may listen), `context` (the shared store), `errors`. The pages' scripts, styles and the vendored
layout library live in `static/` (see `static/VENDORED.md`). Nothing here starts a server.
"""

from scheduler.web.app import create_app
from scheduler.web.bind import TOKEN_ENV, check_bind, is_loopback, resolve_token
from scheduler.web.errors import BadRequest, BindRefused, NotAvailable, NotFound, WebError

__all__ = [
    "TOKEN_ENV",
    "BadRequest",
    "BindRefused",
    "NotAvailable",
    "NotFound",
    "WebError",
    "check_bind",
    "create_app",
    "is_loopback",
    "resolve_token",
]
