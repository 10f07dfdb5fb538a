"""The `io.kestra.plugin.ee.assets.AssetShipper` task, run in the driver process.

It needs the store, which Ray workers never open, so the scheduler calls
`run_asset_shipper(store, params, context)` itself. Each exporter in `assetExporters` ships
independently, with its own offset `<offsetKey>.<exporter id>` (default offsetKey:
`assetshipper.<flow namespace>.<flow id>.<task id>`), so one failing backend does not hold
back the others; if any exporter fails, the others still run and then the task fails with
every error. `lookbackPeriod` (default P1D) applies to a first run only.

Outputs (Kestra's): `endFetchedDate` (when the log was last read) and `outputs`, one report
per exporter id (counts, sequences, files written, dead-letter file).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from shippers.config import AssetShipperParams
from shippers.errors import ShipperConfigError, ShipperError
from shippers.registry import FileSink
from shippers.ship import ship
from shippers.store_api import ShipStore

__all__ = ["ShipperTaskContext", "parse_params", "run_asset_shipper"]


@dataclass(frozen=True)
class ShipperTaskContext:
    """What the driver gives the task: who runs it, where files go, how to log."""

    flow_namespace: str
    flow_id: str
    task_id: str
    #: The store home (dead-letter files default under it).
    home: Path | None = None
    #: The internal storage for the file exporter when it has no `path`.
    sink: FileSink | None = None
    log: Callable[[str], None] | None = None


def parse_params(raw: AssetShipperParams | dict[str, Any]) -> AssetShipperParams:
    if isinstance(raw, AssetShipperParams):
        return raw
    try:
        return AssetShipperParams.model_validate(raw)
    except ValidationError as exc:
        issues = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'properties'}: {e['msg']}"
            for e in exc.errors()
        )
        raise ShipperConfigError(f"invalid AssetShipper properties: {issues}") from exc


def run_asset_shipper(
    store: ShipStore, params: AssetShipperParams | dict[str, Any], context: ShipperTaskContext
) -> dict[str, Any]:
    """Run every exporter; return the task's outputs. ShipperError if any exporter failed."""
    parsed = parse_params(params)
    base_key = (
        parsed.offsetKey
        or f"assetshipper.{context.flow_namespace}.{context.flow_id}.{context.task_id}"
    )
    outputs: dict[str, Any] = {}
    failures: list[str] = []
    for exporter in parsed.assetExporters:
        try:
            report = ship(
                store,
                exporter,
                offset_key=f"{base_key}.{exporter.id}",
                filters=parsed.filters(),
                lookback=parsed.lookbackPeriod,
                sink=context.sink,
                home=context.home,
            )
        except ShipperError as exc:
            failures.append(f"exporter {exporter.id!r}: {exc}")
            partial = getattr(exc, "report", None)
            outputs[exporter.id] = {"error": str(exc), **(partial.to_json() if partial else {})}
            continue
        outputs[exporter.id] = report.to_json()
        if context.log is not None:
            context.log(
                f"exporter {exporter.id!r}: shipped {report.shipped}, retried {report.retried}, "
                f"dead-lettered {report.dead_lettered}, skipped {report.skipped_by_filter}"
            )
    if failures:
        raise ShipperError("AssetShipper failed: " + " | ".join(failures))
    return {"endFetchedDate": datetime.now(UTC).isoformat(), "outputs": outputs}
