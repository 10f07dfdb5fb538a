"""`assetline ship`: export lineage from the store to files or to an OpenLineage backend.

Thin: parses options, opens the store, calls `shippers.ship`, shows a rich progress bar on a
terminal (none with `--json`) and prints the report.

Exit status: 0 when everything was shipped; 1 when a backend kept failing, a file could not
be written, or any event was dead-lettered (a refused event needs a person's attention, and
a scheduled `assetline ship` should show it); 2 for bad options, with a message saying which.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import TypeAdapter, ValidationError

__all__ = ["register"]

HOME_ENV = "ASSETLINE_HOME"


class ExporterKind(StrEnum):
    file = "file"
    openlineage = "openlineage"


class FileFormatOption(StrEnum):
    json = "json"
    ndjson = "ndjson"
    ion = "ion"
    ion_binary = "ion-binary"
    parquet = "parquet"
    arrow = "arrow"


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"assetline ship: {message}", err=True)
    return typer.Exit(code)


def _headers(values: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for value in values:
        name, sep, content = value.partition("=")
        if not sep or not name.strip():
            raise _fail(f"--header {value!r}: expected NAME=VALUE")
        found[name.strip()] = content
    return found


def _lookback(value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        return TypeAdapter(timedelta).validate_python(value)
    except ValidationError as exc:
        raise _fail(
            f"--lookback {value!r} is not an ISO-8601 duration such as P1D or PT6H"
        ) from exc


def ship_command(
    *,
    exporter: Annotated[ExporterKind, typer.Option(help="Where to ship: files or OpenLineage.")],
    home: Annotated[
        Path | None,
        typer.Option(help=f"Store folder (default ${HOME_ENV}, else ./.assetline)."),
    ] = None,
    fmt: Annotated[
        FileFormatOption, typer.Option("--format", help="File format (file exporter).")
    ] = FileFormatOption.json,
    path: Annotated[str | None, typer.Option(help="Output file or folder (file exporter).")] = None,
    max_lines_per_file: Annotated[
        int | None, typer.Option(help="Split files after this many rows.")
    ] = None,
    source: Annotated[
        str, typer.Option(help="events (the lineage log) or assets (the inventory).")
    ] = "events",
    url: Annotated[str | None, typer.Option(help="OpenLineage backend base URL.")] = None,
    endpoint: Annotated[
        str | None,
        typer.Option(help="Path under --url (Marquez api/v1/lineage by default)."),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(help="Sent as Authorization: Bearer KEY.", envvar="OPENLINEAGE_API_KEY"),
    ] = None,
    api_key_header: Annotated[
        str | None, typer.Option(help="Send the key raw in this header instead.")
    ] = None,
    header: Annotated[
        list[str] | None, typer.Option(help="Extra header NAME=VALUE (repeatable).")
    ] = None,
    gzip: Annotated[bool, typer.Option(help="Gzip request bodies.")] = False,
    timeout: Annotated[float | None, typer.Option(help="Seconds per request.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Events per request.")] = None,
    batch_endpoint: Annotated[
        str | None, typer.Option(help="auto, always or never use <endpoint>/batch.")
    ] = None,
    max_concurrency: Annotated[int | None, typer.Option(help="Requests in flight.")] = None,
    dead_letter: Annotated[str | None, typer.Option(help="NDJSON file for refused events.")] = None,
    offset_key: Annotated[
        str | None, typer.Option(help="Where the position is kept (default: one per exporter).")
    ] = None,
    lookback: Annotated[
        str | None, typer.Option(help="First run only: start this far back (ISO-8601, P1D).")
    ] = None,
    asset_namespace: Annotated[str | None, typer.Option(help="Only assets under it.")] = None,
    asset_type: Annotated[
        list[str] | None, typer.Option(help="Only assets of this type (repeatable).")
    ] = None,
    flow_namespace: Annotated[str | None, typer.Option(help="Only flows under it.")] = None,
    flow_id: Annotated[str | None, typer.Option(help="Only this flow.")] = None,
    task_id: Annotated[str | None, typer.Option(help="Only this task.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Ship lineage from the store to files or to an OpenLineage backend."""
    from shippers import ShipFilters, ShipperConfigError, ShipperError, ship
    from shippers.ship import parse_exporter_config

    raw: dict[str, Any] = {"source": source.upper()}
    if exporter is ExporterKind.file:
        if url is not None:
            raise _fail("--url belongs to --exporter openlineage")
        if path is None:
            raise _fail("--exporter file needs --path (a file, or a folder ending with /)")
        raw.update(type="file", format=fmt.value.upper().replace("-", "_"), path=path)
        if max_lines_per_file is not None:
            raw["maxLinesPerFile"] = max_lines_per_file
    else:
        if url is None:
            raise _fail("--exporter openlineage needs --url (e.g. http://localhost:5000)")
        if path is not None:
            raise _fail("--path belongs to --exporter file")
        optional = {
            "endpoint": endpoint,
            "apiKey": api_key,
            "apiKeyHeader": api_key_header,
            "timeout": timeout,
            "batchSize": batch_size,
            "batchEndpoint": batch_endpoint,
            "maxConcurrency": max_concurrency,
            "deadLetterPath": dead_letter,
        }
        raw.update(type="openlineage", uri=url, headers=_headers(header or []))
        raw.update({k: v for k, v in optional.items() if v is not None})
        if gzip:
            raw["compression"] = "gzip"
    try:
        config = parse_exporter_config(raw)
        filters = ShipFilters(
            assetNamespace=asset_namespace,
            assetTypes=asset_type or None,
            flowNamespace=flow_namespace,
            flowId=flow_id,
            taskId=task_id,
        )
    except (ShipperConfigError, ValidationError) as exc:
        raise _fail(str(exc)) from exc
    lookback_delta = _lookback(lookback)
    store_home = home or Path(os.environ.get(HOME_ENV) or ".assetline")
    from store.errors import StoreError
    from store.lmdb_store import Store

    try:
        store = Store.open(store_home)
    except StoreError as exc:
        raise _fail(f"cannot open the store at {store_home}: {exc}", 1) from exc
    show_bar = not as_json and sys.stdout.isatty()
    try:
        if show_bar:
            report = _ship_with_bar(
                store,
                config,
                offset_key=offset_key,
                filters=filters,
                lookback=lookback_delta,
                home=store_home,
            )
        else:
            report = ship(
                store,
                config,
                offset_key=offset_key,
                filters=filters,
                lookback=lookback_delta,
                home=store_home,
            )
    except ShipperConfigError as exc:
        raise _fail(str(exc)) from exc
    except ShipperError as exc:
        partial = getattr(exc, "report", None)
        if as_json:
            body = partial.to_json() if partial else {}
            typer.echo(json.dumps({**body, "error": str(exc)}))
        raise _fail(str(exc), 1) from exc
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(report.to_json()))
    else:
        typer.echo(
            f"shipped {report.shipped}, retried {report.retried}, dead-lettered "
            f"{report.dead_lettered}, skipped by filters {report.skipped_by_filter}"
            + (f"; dead letters in {report.dead_letter_file}" if report.dead_lettered else "")
        )
    if report.dead_lettered:
        raise typer.Exit(1)


def _ship_with_bar(
    store: Any, config: Any, *, offset_key: str | None, filters: Any, lookback: Any, home: Path
) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from shippers import ShipProgress, ship

    with Progress(
        TextColumn("shipping"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}")
    ) as bar:
        task = bar.add_task("", total=None)

        def on_progress(p: ShipProgress) -> None:
            bar.update(
                task,
                completed=p.done,
                total=p.total,
                description=f"shipped {p.shipped} retried {p.retried} dead {p.dead_lettered}",
            )

        return ship(
            store,
            config,
            offset_key=offset_key,
            filters=filters,
            progress=on_progress,
            lookback=lookback,
            home=home,
        )


def register(app: typer.Typer) -> None:
    """Add the `ship` command to `app`."""
    app.command("ship")(ship_command)
