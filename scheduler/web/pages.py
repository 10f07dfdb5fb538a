"""The HTML pages: one static shell, `static/page.html`, that the package's own scripts fill
from the JSON API (text goes in with `textContent`, never parsed as HTML). Each path serves the
shell with its page's name (`body[data-page]`, which `pages.js` dispatches on) and, for the pages
that draw a lineage graph, the graph scripts. No store access here.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

__all__ = ["PAGES", "STATIC", "page_routes", "shell"]

STATIC = Path(str(files("scheduler.web") / "static"))

#: path -> the page it serves (the page reads its parameters from the query string).
PAGES: dict[str, str] = {
    "/": "inventory",
    "/asset": "asset",
    "/impact": "impact",
    "/executions": "executions",
    "/execution": "execution",
    "/flows": "flows",
    "/flow": "flow",
    "/blueprints": "blueprints",
    "/blueprint": "blueprint",
}
#: The pages that draw a lineage graph: they also load dagre and graph.js.
GRAPH_PAGES = frozenset({"asset", "flow"})
_GRAPH_SCRIPTS = (
    '  <script src="/static/dagre.min.js" defer></script>\n'
    '  <script src="/static/graph.js" defer></script>\n'
)


def shell(page: str) -> str:
    """The HTML of `page`: the shared shell with its name and scripts."""
    text = (STATIC / "page.html").read_text(encoding="utf-8")
    scripts = _GRAPH_SCRIPTS if page in GRAPH_PAGES else ""
    return text.replace("<!--graph-->\n", scripts).replace("__PAGE__", page)


def _route(path: str, page: str) -> Route:
    html = shell(page)

    async def serve(_request: Request) -> Response:
        return HTMLResponse(html)

    return Route(path, serve, methods=["GET"])


def page_routes() -> list[Route]:
    return [_route(path, page) for path, page in PAGES.items()]
