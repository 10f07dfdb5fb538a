"""`assetline impact ASSET [--upstream] [--json]`: what depends on an asset, and which flows.

Thin: opens the store read-only, calls `scheduler.impact.impact`, prints text or JSON.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from scheduler.cli_options import HomeOption, JsonOption
from store.errors import StoreError

__all__ = ["register"]


def impact_command(
    asset: Annotated[str, typer.Argument(help="The asset id to start from.")],
    upstream: Annotated[
        bool, typer.Option("--upstream", help="What the asset depends on, instead.")
    ] = False,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every downstream asset of ASSET, and every flow task reading or writing one of them."""
    from scheduler.impact import impact
    from scheduler.runner import default_home
    from store import Store

    path = home if home is not None else default_home()
    if not (path / "store").exists():
        typer.echo(
            f"no assetline store at {path}; run or deploy a flow first or pass --home", err=True
        )
        raise typer.Exit(1)
    try:
        with Store.open(path, readonly=True) as store:
            report = impact(store, asset, upstream=upstream)
    except StoreError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if len(report.assets) == 1 and not report.tasks:
        typer.echo(f"no asset, lineage or deployed flow mentions {asset!r}", err=True)
        raise typer.Exit(1)
    if as_json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(report.to_text() + "\n")


def register(app: typer.Typer) -> None:
    """Add the `impact` command to `app`."""
    app.command("impact")(impact_command)
