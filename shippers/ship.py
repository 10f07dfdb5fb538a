"""`ship()`: run one exporter over the event log (from its offset) or over the inventory.

Start of an event-log run: the offset stored under `offset_key`; without one, the first
entry at or after `now - lookback` (Kestra's `lookbackPeriod`), or the log's beginning when
no lookback is given. The exporter commits the offset itself, right after each acknowledged
delivery (see its module). Default offset key: `<alias>.<exporter id>`, e.g.
`openlineage.default`, so each exporter has its own position.

Between pages of a read, the store's memory-mapped pages already read are given back
(`shippers.mapped_pages`), so a shipper's resident set stays about one page of records,
whatever the size of the store.

This module opens nothing: the caller passes an open store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from shippers.batches import read_entries
from shippers.config import (
    ExporterConfig,
    FileExporterConfig,
    OpenLineageExporterConfig,
    ShipFilters,
)
from shippers.errors import DeliveryError, ShipperConfigError, ShipperError
from shippers.filters import EntryFilter
from shippers.mapped_pages import MappedPages
from shippers.registry import AssetPage, ExportEnv, FileSink, resolve
from shippers.report import ShipProgress, ShipReport
from shippers.store_api import ShipStore

__all__ = ["default_offset_key", "find_start_seq", "parse_exporter_config", "ship"]

_exporter_adapter: TypeAdapter[FileExporterConfig | OpenLineageExporterConfig] = TypeAdapter(
    ExporterConfig
)


def _describe(error: ValidationError) -> str:
    parts = []
    for issue in error.errors():
        where = ".".join(str(p) for p in issue["loc"]) or "config"
        parts.append(f"{where}: {issue['msg']}")
    return "; ".join(parts)


def parse_exporter_config(raw: BaseModel | dict[str, Any]) -> BaseModel:
    """Validate an exporter config (a model or a dict with a `type`); ShipperConfigError."""
    if isinstance(raw, BaseModel):
        return raw
    if "type" in raw:
        resolve(str(raw["type"]))  # an unknown type lists the known ones
    try:
        return _exporter_adapter.validate_python(raw)
    except ValidationError as exc:
        raise ShipperConfigError(f"invalid exporter configuration: {_describe(exc)}") from exc


def default_offset_key(config: BaseModel) -> str:
    exporter = resolve(str(getattr(config, "type", "")))
    alias = exporter.aliases[0] if exporter.aliases else exporter.kind
    return f"{alias}.{getattr(config, 'id', 'default')}"


def find_start_seq(store: ShipStore, not_before: float, *, page: int = 1000) -> int:
    """The sequence to read after so that the first entry read has time >= `not_before`.

    Scans the log from its beginning (only on a first run); times are append order, so the
    first entry at or after the cutoff ends the scan.
    """
    cursor = 0
    while True:
        entries = store.read_log(after=cursor, limit=page)
        if not entries:
            return cursor
        for entry in entries:
            if entry.time >= not_before:
                return entry.seq - 1 if entry.seq > 0 else 0
        cursor = entries[-1].seq


def ship(
    store: ShipStore,
    exporter_config: BaseModel | dict[str, Any],
    *,
    offset_key: str | None = None,
    filters: ShipFilters | None = None,
    progress: Callable[[ShipProgress], None] | None = None,
    lookback: timedelta | None = None,
    sink: FileSink | None = None,
    home: Path | None = None,
    http_client: httpx.Client | None = None,
) -> ShipReport:
    """Ship what is new since the offset (or the whole inventory) with one exporter.

    Raises `ShipperConfigError` for a bad configuration, `ExportError` when a file cannot be
    written and `DeliveryError` when a backend keeps failing; in those last two cases the
    offset stays at the last delivered entry, and `DeliveryError.report` says what was done.
    """
    config = parse_exporter_config(exporter_config)
    exporter_cls = resolve(str(getattr(config, "type", "")))
    if not isinstance(config, exporter_cls.config_class):
        raise ShipperConfigError(
            f"exporter {exporter_cls.kind} needs a {exporter_cls.config_class.__name__}"
        )
    source = getattr(config, "source", "EVENTS")
    entry_filter = EntryFilter(filters or ShipFilters())
    key = offset_key or default_offset_key(config)
    report = ShipReport(exporter=exporter_cls.kind, offset_key=key if source == "EVENTS" else None)
    env = ExportEnv(
        store=store,
        report=report,
        home=home,
        sink=sink,
        progress=progress,
        http_client=http_client,
    )
    exporter = exporter_cls(config, env)
    store_home = getattr(store, "home", None)
    mapped = MappedPages(store_home if isinstance(store_home, Path) else None)
    if hasattr(exporter, "entry_filter"):
        exporter.entry_filter = entry_filter
    try:
        if source == "ASSETS":
            report.offset_key = None
            env.total = store.count_assets()
            exporter.ship_assets(_asset_pages(store, config, entry_filter, report, mapped))
        else:
            stored = store.get_offset(key)
            if stored is not None:
                after = stored
            elif lookback is not None:
                after = find_start_seq(store, time.time() - lookback.total_seconds())
            else:
                after = 0
            report.committed_seq = stored
            env.total = max(0, store.last_seq() - after)

            def commit(seq: int) -> None:
                if report.committed_seq is None or seq > report.committed_seq:
                    store.set_offset(key, seq)
                    report.committed_seq = seq

            batch = (
                config.readBatchSize
                if isinstance(config, OpenLineageExporterConfig)
                else int(getattr(config, "batchSize", 1000))
            )
            pages = read_entries(store, after=after, batch_size=batch, entry_filter=entry_filter)
            exporter.ship_events(_tracking(pages, report, after, mapped), commit)
    except DeliveryError as exc:
        exc.report = report
        raise
    except ShipperError:
        raise
    return report


def _tracking(
    pages: Iterator[tuple[Any, int, int]], report: ShipReport, after: int, mapped: MappedPages
) -> Iterator[tuple[Any, int, int]]:
    for entries, last_seq, skipped in pages:
        if report.first_seq is None:
            report.first_seq = after + 1
        report.last_seq = last_seq
        report.entries_read += len(entries) + skipped
        yield entries, last_seq, skipped
        mapped.release()  # the exporter is done with this page


def _asset_pages(
    store: ShipStore,
    config: BaseModel,
    entry_filter: EntryFilter,
    report: ShipReport,
    mapped: MappedPages,
) -> Iterator[AssetPage]:
    batch = int(getattr(config, "batchSize", 10_000))
    if isinstance(config, OpenLineageExporterConfig):
        batch = config.readBatchSize
    for page in store.iter_assets(batch_size=batch):
        report.entries_read += len(page)
        if entry_filter.has_asset_filter:
            kept = [a for a in page if entry_filter.asset_record_matches(a)]
            yield kept, len(page) - len(kept)
        else:
            yield page, 0
        mapped.release()  # the exporter is done with this page
