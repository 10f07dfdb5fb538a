"""`assetline server`: the long-running scheduler that fires deployed flows' triggers.

Thin: parses options, joins (or starts) Ray once, runs `scheduler.server.TriggerServer` until
SIGINT or SIGTERM, then waits for the executions it started. Progress lines go to stderr.
"""

from __future__ import annotations

import signal
import sys
from typing import Annotated, Any

import typer

from scheduler.cli_options import HomeOption
from store.errors import StoreError

__all__ = ["register"]


def server(
    address: Annotated[
        str | None,
        typer.Option("--address", help="Join this Ray cluster (ray://host:10001 or auto)."),
    ] = None,
    home: HomeOption = None,
    poll_interval: Annotated[
        float, typer.Option("--poll-interval", help="Seconds between looks at the event log.")
    ] = 0.01,
    per_flow: Annotated[
        int, typer.Option("--per-flow", help="Executions of one flow running at once.")
    ] = 1,
    max_running: Annotated[
        int, typer.Option("--max-running", help="Executions running at once in all.")
    ] = 8,
    host: Annotated[
        str, typer.Option("--host", help="Web UI address; non-loopback needs --token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Web UI port (0: any free port).")] = 8080,
    token: Annotated[
        str | None,
        typer.Option("--token", help="Require this token for the UI; or set ASSETLINE_TOKEN."),
    ] = None,
    no_ui: Annotated[bool, typer.Option("--no-ui", help="Schedule only; serve no web UI.")] = False,
) -> None:
    """Follow the store's event log, start the executions triggers ask for, and serve the web
    UI and JSON API (http://127.0.0.1:8080/ by default)."""
    from scheduler.runner import default_home, ray_session
    from scheduler.server import TriggerServer
    from scheduler.web import BindRefused, check_bind, resolve_token

    secret = resolve_token(token)
    if not no_ui:
        try:
            check_bind(host, secret)
        except BindRefused as exc:
            typer.echo(f"server: {exc}", err=True)
            raise typer.Exit(2) from exc
        if not 0 <= port < 65536:
            typer.echo(f"server: --port {port} is not a TCP port (0-65535)", err=True)
            raise typer.Exit(2)

    if poll_interval <= 0 or per_flow < 1 or max_running < 1:
        typer.echo(
            "server: --poll-interval must be above 0, --per-flow and --max-running at least 1",
            err=True,
        )
        raise typer.Exit(2)

    def say(message: str) -> None:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()

    try:
        scheduler = TriggerServer(
            home if home is not None else default_home(),
            poll_interval=poll_interval,
            per_flow=per_flow,
            max_running=max_running,
            report=say,
        )
    except StoreError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc

    web = None if no_ui else _serve_ui(scheduler, host, port, secret, say)

    def stop(_signum: int, _frame: Any) -> None:
        scheduler.stop()

    try:
        with ray_session(address):
            # After Ray's init, which installs handlers of its own.
            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
            scheduler.serve()
    finally:
        if web is not None:
            web.should_exit = True
        scheduler.close()
    say("server stopped")


def _serve_ui(scheduler: Any, host: str, port: int, token: str | None, say: Any) -> Any:
    """Serve the web UI from a thread next to the scheduling loop; returns the uvicorn server."""
    import threading

    import uvicorn

    from scheduler.web import create_app

    app = create_app(scheduler.home, token=token, scheduler=scheduler)
    web = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    )
    # uvicorn leaves signals alone outside the main thread; the scheduler owns SIGINT/SIGTERM.
    threading.Thread(target=web.run, name="assetline-ui", daemon=True).start()
    shown = f"[{host}]" if ":" in host else host
    say(f"web UI on http://{shown}:{port}/" + (" (token required)" if token else ""))
    return web


def register(app: typer.Typer) -> None:
    """Add the `server` command to `app`."""
    app.command("server")(server)
