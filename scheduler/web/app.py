"""The ASGI app behind `assetline ui` and `assetline server`: the JSON API under `/api/v1`
(described at `/openapi.json`), the pages, the package's static files, the token gate.

`create_app(home, token=..., scheduler=...)` builds it; serving it (uvicorn) is the CLI's job.
The app never schedules anything itself; with `scheduler` (the server's TriggerServer) it reuses
its store. No network listening here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.staticfiles import StaticFiles

from scheduler.web import api_assets, api_executions, api_flows
from scheduler.web.auth import TokenGate, is_api_path, login_page, login_submit
from scheduler.web.context import WebContext
from scheduler.web.errors import WebError
from scheduler.web.pages import STATIC, page_routes
from store.errors import StoreError

__all__ = ["API_PREFIX", "create_app"]

API_PREFIX = "/api/v1"


def _error(status: int, message: str, details: list[Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": message, "status": status}
    if details:
        body["details"] = details
    return JSONResponse(body, status_code=status)


async def _web_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WebError)
    return JSONResponse(exc.to_json(), status_code=exc.status)


async def _store_error(_request: Request, exc: Exception) -> Response:
    return _error(500, f"store error: {exc}")


async def _invalid(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    details = [
        f"{'.'.join(str(part) for part in error.get('loc', ()))}: {error.get('msg', '')}"
        for error in exc.errors()
    ]
    return _error(400, "invalid request: " + "; ".join(details), details)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if is_api_path(request.url.path) or exc.status_code != 404:
        return _error(exc.status_code, str(exc.detail))
    return HTMLResponse(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Not found</title>"
        '<link rel="stylesheet" href="/static/style.css"></head><body><main>'
        '<h1>Not found</h1><p><a href="/">Back to the inventory</a></p></main></body></html>',
        status_code=404,
    )


def create_app(home: Path, *, token: str | None, scheduler: Any | None = None) -> FastAPI:
    """The UI and API over the store in `home`; every request needs `token` when it is set."""
    context = WebContext(Path(home), scheduler=scheduler)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            context.close()

    app = FastAPI(
        title="assetline",
        summary="Assets, lineage, executions, deployed flows and blueprints of one store.",
        version="1",
        docs_url=None,  # Swagger UI would load scripts from a CDN: no internet at run time
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.context = context
    app.include_router(api_assets.router)
    app.include_router(api_executions.router)
    app.include_router(api_flows.router)

    @app.get(f"{API_PREFIX}/status", tags=["server"], summary="What this server does")
    def status() -> dict[str, Any]:
        return {
            "home": str(context.home),
            "scheduling": scheduler is not None,
            "auth": token is not None,
        }

    app.router.routes.extend(page_routes())
    app.router.routes.append(Route("/login", login_page, methods=["GET"]))
    app.router.routes.append(Route("/login", login_submit(token), methods=["POST"]))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(WebError, _web_error)
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(TokenGate, token=token)
    return app
