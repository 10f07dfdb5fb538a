"""`assetline ui`: serve the web UI and JSON API over a store, without scheduling anything.

Thin: resolves the token (`--token` or `ASSETLINE_TOKEN`), refuses a non-loopback `--host`
without one, builds `scheduler.web.create_app` and runs it on uvicorn until Ctrl-C.
"""

from __future__ import annotations

from typing import Annotated

import typer

from scheduler.cli_options import HomeOption

__all__ = ["register"]


def ui_command(
    home: HomeOption = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on; non-loopback needs --token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8080,
    token: Annotated[
        str | None,
        typer.Option(
            "--token", help="Require this token (bearer or login form); or set ASSETLINE_TOKEN."
        ),
    ] = None,
) -> None:
    """Serve the asset inventory, lineage, executions and blueprints in a browser."""
    import uvicorn

    from scheduler.runner import default_home
    from scheduler.web import BindRefused, check_bind, create_app, resolve_token

    secret = resolve_token(token)
    try:
        check_bind(host, secret)
    except BindRefused as exc:
        typer.echo(f"ui: {exc}", err=True)
        raise typer.Exit(2) from exc
    if not 0 < port < 65536:
        typer.echo(f"ui: --port {port} is not a TCP port (1-65535)", err=True)
        raise typer.Exit(2)
    app = create_app(home if home is not None else default_home(), token=secret)
    shown = f"[{host}]" if ":" in host else host
    typer.echo(
        f"assetline ui on http://{shown}:{port}/" + (" (token required)" if secret else ""),
        err=True,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def register(app: typer.Typer) -> None:
    """Add the `ui` command to `app`."""
    app.command("ui")(ui_command)
