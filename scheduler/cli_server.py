"""`assetline server`: the long-running scheduler that fires deployed flows' triggers.

Thin: parses options, joins (or starts) Ray once, runs `scheduler.server.TriggerServer` until
SIGINT or SIGTERM, then waits for the executions it started. Progress lines go to stderr.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from store.errors import StoreError

__all__ = ["register"]


def server(
    address: Annotated[
        str | None,
        typer.Option("--address", help="Join this Ray cluster (ray://host:10001 or auto)."),
    ] = None,
    home: Annotated[
        Path | None,
        typer.Option("--home", help="Store directory (default: $ASSETLINE_HOME or ./.assetline)."),
    ] = None,
    poll_interval: Annotated[
        float, typer.Option("--poll-interval", help="Seconds between looks at the event log.")
    ] = 0.01,
    per_flow: Annotated[
        int, typer.Option("--per-flow", help="Executions of one flow running at once.")
    ] = 1,
    max_running: Annotated[
        int, typer.Option("--max-running", help="Executions running at once in all.")
    ] = 8,
) -> None:
    """Follow the store's event log and start the executions triggers ask for."""
    from scheduler.runner import default_home, ray_session
    from scheduler.server import TriggerServer

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

    def stop(_signum: int, _frame: Any) -> None:
        scheduler.stop()

    try:
        with ray_session(address):
            # After Ray's init, which installs handlers of its own.
            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
            scheduler.serve()
    finally:
        scheduler.close()
    say("server stopped")


def register(app: typer.Typer) -> None:
    """Add the `server` command to `app`."""
    app.command("server")(server)
