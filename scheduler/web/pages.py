"""The HTML pages: each is a static shell in `static/` that the package's own scripts fill from
the JSON API (text goes in with `textContent`, never parsed as HTML). Which path serves which
shell is listed in `PAGES`. No store access and no templating here.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

__all__ = ["PAGES", "STATIC", "page_routes"]

STATIC = Path(str(files("scheduler.web") / "static"))

#: path -> the shell it serves (the page reads its parameters from the query string).
PAGES: dict[str, str] = {
    "/": "inventory.html",
    "/asset": "asset.html",
    "/impact": "impact.html",
    "/executions": "executions.html",
    "/execution": "execution.html",
    "/flows": "flows.html",
    "/flow": "flow.html",
    "/blueprints": "blueprints.html",
    "/blueprint": "blueprint.html",
}


def _shell(name: str) -> Route:
    path = STATIC / name

    async def page(_request: Request) -> Response:
        return FileResponse(path, media_type="text/html; charset=utf-8")

    return Route(next(k for k, v in PAGES.items() if v == name), page, methods=["GET"])


def page_routes() -> list[Route]:
    return [_shell(name) for name in PAGES.values()]
